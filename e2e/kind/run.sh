#!/usr/bin/env bash
# End-to-end on kind (needs docker, kind, kubectl, helm, curl; cannot run without Docker):
#   1. kind cluster (reused if present)   2. build + load the runtime and operator images
#   3. PostgreSQL + RabbitMQ in scrm-system   4. helm install the operator
#   5. a ScrmTenant whose database the operator creates on the shared server
#   6. wait for Ready, then smoke-test: api /readyz, admin login, an authenticated call,
#      ws /healthz, and the tenant's RabbitMQ vhost and exchange.
# Env: CLUSTER (scrm), KEEP=1 keeps the cluster afterwards.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
CLUSTER="${CLUSTER:-scrm}"
NS=scrm-demo
log() { printf '[kind] %s\n' "$*"; }
for tool in docker kind kubectl helm curl; do
  command -v "$tool" >/dev/null || { echo "missing $tool" >&2; exit 2; }
done

if ! kind get clusters | grep -qx "$CLUSTER"; then
  log "creating cluster $CLUSTER"
  kind create cluster --name "$CLUSTER" --config e2e/kind/kind-config.yaml --wait 120s
fi
cleanup() { [[ ${KEEP:-0} == 1 ]] || kind delete cluster --name "$CLUSTER"; }
trap cleanup EXIT
kubectl config use-context "kind-$CLUSTER" >/dev/null

log "building images"
docker build -f e2e/kind/Dockerfile --target runtime -t scrm:dev .
docker build -f e2e/kind/Dockerfile --target operator -t scrm-operator:dev .
kind load docker-image scrm:dev scrm-operator:dev --name "$CLUSTER"

log "PostgreSQL and RabbitMQ"
kubectl apply -f e2e/kind/services.yaml
kubectl -n scrm-system rollout status deploy/postgres deploy/rabbitmq --timeout=300s

log "operator"
helm upgrade --install scrm-operator charts/scrm-operator -n scrm-system \
  --set image.repository=scrm-operator --set image.tag=dev --set image.pullPolicy=Never \
  --set resyncSeconds=15 --set gcSeconds=30 --wait --timeout 5m

log "tenant"
kubectl create namespace "$NS" --dry-run=client -o yaml | kubectl apply -f -
kubectl -n "$NS" create secret generic pg-admin --from-literal=username=admin \
  --from-literal=password=admin-pw --dry-run=client -o yaml | kubectl apply -f -
kubectl -n "$NS" create secret generic rabbitmq-admin \
  --from-literal=managementUrl=http://admin:admin-pw@rabbitmq.scrm-system.svc:15672 \
  --from-literal=amqpUrl=amqp://rabbitmq.scrm-system.svc:5672/ \
  --dry-run=client -o yaml | kubectl apply -f -
kubectl -n "$NS" create secret generic acme-whatsapp --from-literal=appSecret=kind-secret \
  --from-literal=verifyToken=kind-verify --dry-run=client -o yaml | kubectl apply -f -
kubectl apply -f - <<YAML
apiVersion: scrm.io/v1alpha1
kind: ScrmTenant
metadata: {name: acme, namespace: $NS}
spec:
  displayName: Acme (kind)
  image: {repository: scrm, tag: dev, pullPolicy: Never}
  deliveryMode: routed
  api: {replicas: 1}
  ws: {autoscaling: {minReplicas: 1, maxReplicas: 3}}
  database:
    sharedServer: {host: postgres.scrm-system.svc, adminSecretRef: {name: pg-admin}}
  rabbitmq: {secretRef: {name: rabbitmq-admin}}
  whatsapp:
    appSecretRef: {name: acme-whatsapp, key: appSecret}
    verifyTokenRef: {name: acme-whatsapp, key: verifyToken}
YAML
kubectl -n "$NS" wait scrmtenant/acme --for=condition=Ready --timeout=600s
kubectl -n "$NS" get scrmtenant,deploy,svc,hpa,job

log "smoke test"
password="kind-$(date +%s)"
kubectl -n "$NS" exec deploy/acme-api -- scrm create-admin --email admin@acme.example \
  --password "$password"
kubectl -n "$NS" port-forward svc/acme-api 18000:8000 >/dev/null 2>&1 &
pf_api=$!
kubectl -n "$NS" port-forward svc/acme-ws 18001:8001 >/dev/null 2>&1 &
pf_ws=$!
kubectl -n scrm-system port-forward svc/rabbitmq 18672:15672 >/dev/null 2>&1 &
pf_mq=$!
trap 'kill $pf_api $pf_ws $pf_mq 2>/dev/null; cleanup' EXIT
for _ in $(seq 60); do curl -fsS localhost:18000/readyz >/dev/null 2>&1 && break; sleep 1; done
curl -fsS localhost:18000/readyz
token="$(curl -fsS localhost:18000/api/auth/login -H 'content-type: application/json' \
  -d "{\"email\":\"admin@acme.example\",\"password\":\"$password\",\"tenant\":\"acme\"}" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')"
curl -fsS localhost:18000/api/agents -H "authorization: Bearer $token" >/dev/null
curl -fsS localhost:18001/healthz
curl -fsS -u admin:admin-pw "localhost:18672/api/exchanges/scrm-$NS-acme/scrm.acme.routed" >/dev/null
log "OK: tenant acme is serving"
