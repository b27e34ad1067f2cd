#!/usr/bin/env bash
# Build (or reuse) the binaries the operator e2e tests need: etcd, kube-apiserver and helm,
# and for the cluster e2e also kube-controller-manager, kube-scheduler and kwok, compiled
# from the Go module proxy through the wrapper modules next to this script.
#
#   e2e/controlplane/build.sh [controlplane|cluster|helm|all]   (default: all)
#
# Prints the directory holding etcd + kube-apiserver on the last line for `controlplane`,
# the directory that also holds kube-controller-manager, kube-scheduler and kwok for
# `cluster`, and the helm binary's path for `helm` (`all` = cluster, then helm).
#
# Outputs live outside git and are reused when present:
#   $SCRM_CONTROLPLANE_CACHE/<kube>-etcd<etcd>/{etcd,kube-apiserver,kube-controller-manager,
#     kube-scheduler}, .../kwok-<kwok>/{kwok,stages.yaml} (linked into the first)
#   $SCRM_HELM_CACHE/<helm>/helm
# defaults ~/.cache/scrm/controlplane and ~/.cache/scrm/helm.
# KUBEBUILDER_ASSETS (envtest's convention, e.g. from setup-envtest) wins when it holds both
# etcd and kube-apiserver: nothing is built then.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
source "$here/versions.env"
export GOTOOLCHAIN=local GOFLAGS=-mod=readonly CGO_ENABLED=0

target="${1:-all}"
cp_dir="${SCRM_CONTROLPLANE_CACHE:-$HOME/.cache/scrm/controlplane}/$KUBE_VERSION-etcd$ETCD_VERSION"
helm_dir="${SCRM_HELM_CACHE:-$HOME/.cache/scrm/helm}/$HELM_VERSION"

log() { printf '[controlplane] %s\n' "$*" >&2; }

# go_build MODULE_DIR OUTPUT PACKAGE [LDFLAGS]: build into a temp name, then rename, so an
# interrupted build never leaves a truncated binary that looks reusable.
go_build() {
  local dir="$1" out="$2" pkg="$3" ldflags="${4:-}" start=$SECONDS
  mkdir -p "$(dirname "$out")"
  log "building $pkg -> $out"
  (cd "$dir" && go build -trimpath -ldflags "-s -w $ldflags" -o "$out.tmp" "$pkg")
  mv "$out.tmp" "$out"
  log "built $(basename "$out") in $((SECONDS - start))s"
}

build_controlplane() {
  if [[ -n ${KUBEBUILDER_ASSETS:-} && -x $KUBEBUILDER_ASSETS/etcd && -x $KUBEBUILDER_ASSETS/kube-apiserver ]]; then
    log "using KUBEBUILDER_ASSETS=$KUBEBUILDER_ASSETS"
    echo "$KUBEBUILDER_ASSETS"
    return
  fi
  build_etcd_and_apiserver
  log "control plane ready in $cp_dir"
  echo "$cp_dir"
}

build_etcd_and_apiserver() {
  if [[ ! -x $cp_dir/etcd ]]; then
    go_build "$here/etcd" "$cp_dir/etcd" go.etcd.io/etcd/server/v3
  fi
  build_kube kube-apiserver
}

# build_kube COMMAND: one k8s.io/kubernetes/cmd/COMMAND binary, stamped with KUBE_VERSION.
build_kube() {
  [[ -x $cp_dir/$1 ]] && return
  local minor="${KUBE_VERSION#v1.}"
  minor="${minor%%.*}"
  local v=k8s.io/component-base/version
  go_build "$here/kube" "$cp_dir/$1" "k8s.io/kubernetes/cmd/$1" \
    "-X $v.gitVersion=$KUBE_VERSION -X $v.gitMajor=1 -X $v.gitMinor=$minor -X $v.gitTreeState=clean"
}

# The cluster e2e's binaries: the control plane plus controllers, scheduler and kwok, all in
# one directory (kwok's own build is keyed by its version and linked in). KUBEBUILDER_ASSETS
# is not consulted: envtest's assets have no controllers.
build_cluster() {
  build_etcd_and_apiserver
  build_kube kube-controller-manager
  build_kube kube-scheduler
  local kwok="$cp_dir/../kwok-$KWOK_VERSION/kwok"
  if [[ ! -x $kwok ]]; then
    go_build "$here/kwok" "$kwok" sigs.k8s.io/kwok/cmd/kwok \
      "-X sigs.k8s.io/kwok/pkg/consts.Version=$KWOK_VERSION"
  fi
  # kwok alone (unlike kwokctl) has no built-in stages: ship kwokctl's default set, the
  # fast node and pod lifecycle plus lease heartbeats, from the same module version.
  local stages="${kwok%/kwok}/stages.yaml"
  if [[ ! -s $stages ]]; then
    local src
    src="$(cd "$here/kwok" && go list -m -f '{{.Dir}}' sigs.k8s.io/kwok)/kustomize/stage"
    for f in "$src"/node/fast/*.yaml "$src"/node/heartbeat-with-lease/*.yaml "$src"/pod/fast/*.yaml; do
      [[ $(basename "$f") == kustomization.yaml ]] && continue
      printf -- '---\n'
      cat "$f"
    done >"$stages.tmp"
    mv "$stages.tmp" "$stages"
  fi
  ln -sf "../kwok-$KWOK_VERSION/kwok" "$cp_dir/kwok"
  ln -sf "../kwok-$KWOK_VERSION/stages.yaml" "$cp_dir/kwok-stages.yaml"
  log "cluster binaries ready in $cp_dir"
  echo "$cp_dir"
}

build_helm() {
  if [[ ! -x $helm_dir/helm ]]; then
    go_build "$here/helm" "$helm_dir/helm" helm.sh/helm/v3/cmd/helm \
      "-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
  fi
  echo "$helm_dir/helm"
}

command -v go >/dev/null || { log "go is not installed; cannot build"; exit 2; }
case "$target" in
  controlplane) build_controlplane ;;
  cluster) build_cluster ;;
  helm) build_helm ;;
  all) build_cluster && build_helm ;;
  *) log "unknown target $target (controlplane|cluster|helm|all)"; exit 2 ;;
esac
