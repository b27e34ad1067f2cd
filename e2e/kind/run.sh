#!/usr/bin/env bash
# The cluster e2e module (tests/cluster/test_onboarding.py) on kind. Needs docker, kind,
# kubectl, helm and this repository's Python environment (pip install -e '.[dev,operator]');
# it cannot run without Docker.
#   1. kind cluster (reused if present)
#   2. build the runtime and operator images; tag the runtime again as <tag>-next (the
#      module's rolling update changes the tenant's image tag); load all three into kind
#   3. pytest with SCRM_E2E_KUBECONFIG: the module applies e2e/kind/services.yaml
#      (PostgreSQL, RabbitMQ), installs the chart with the operator image, runs the Graph API
#      simulator as a pod and reaches Services through kubectl port-forward
#      (tests/cluster/cluster.py, ExistingCluster; docs/cluster-e2e.md).
# Env: CLUSTER (scrm), KEEP=1 keeps the cluster afterwards, PYTEST_ARGS (extra arguments).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
CLUSTER="${CLUSTER:-scrm}"
IMAGE=scrm:dev
NEXT_TAG=dev-next
OPERATOR_IMAGE=scrm-operator:dev
log() { printf '[kind] %s\n' "$*"; }
for tool in docker kind kubectl helm python; do
  command -v "$tool" >/dev/null || { echo "missing $tool" >&2; exit 2; }
done
python -c 'import pytest, kubernetes, kopf, runtime' 2>/dev/null ||
  { echo "the Python environment lacks the project (pip install -e '.[dev,operator]')" >&2; exit 2; }

if ! kind get clusters | grep -qx "$CLUSTER"; then
  log "creating cluster $CLUSTER"
  kind create cluster --name "$CLUSTER" --config e2e/kind/kind-config.yaml --wait 120s
fi
workdir="$(mktemp -d)"
cleanup() {
  rm -rf "$workdir"
  [[ ${KEEP:-0} == 1 ]] || kind delete cluster --name "$CLUSTER"
}
trap cleanup EXIT
kind get kubeconfig --name "$CLUSTER" >"$workdir/kubeconfig"

log "building images"
docker build -f e2e/kind/Dockerfile --target runtime -t "$IMAGE" .
docker tag "$IMAGE" "${IMAGE%:*}:$NEXT_TAG"
docker build -f e2e/kind/Dockerfile --target operator -t "$OPERATOR_IMAGE" .
kind load docker-image "$IMAGE" "${IMAGE%:*}:$NEXT_TAG" "$OPERATOR_IMAGE" --name "$CLUSTER"

log "tests/cluster/test_onboarding.py on kind-$CLUSTER"
# shellcheck disable=SC2086  # PYTEST_ARGS is a list of arguments
SCRM_E2E_KUBECONFIG="$workdir/kubeconfig" SCRM_E2E_IMAGE="$IMAGE" SCRM_E2E_NEXT_TAG="$NEXT_TAG" \
  SCRM_E2E_OPERATOR_IMAGE="$OPERATOR_IMAGE" \
  python -m pytest -q -x tests/cluster/test_onboarding.py ${PYTEST_ARGS:-}
log "OK: the onboarding module passed on kind"
