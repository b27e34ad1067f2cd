{{- define "scrm-operator.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "scrm-operator.labels" -}}
app.kubernetes.io/name: scrm-operator
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "scrm-operator.selectorLabels" -}}
app.kubernetes.io/name: scrm-operator
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "scrm-operator.serviceAccountName" -}}
{{- default (include "scrm-operator.fullname" .) .Values.serviceAccount.name -}}
{{- end -}}

{{- define "scrm-operator.subjects" -}}
- kind: ServiceAccount
  name: {{ include "scrm-operator.serviceAccountName" . }}
  namespace: {{ .Release.Namespace }}
{{- end -}}
