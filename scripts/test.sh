#!/usr/bin/env bash
# Run everything: install the package, start services, lint, type-check, test.
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -k inbox -x`.
# Lint/type failures are reported but pytest still runs; the exit code is pytest's,
# or 1 if pytest passed but a check failed. pytest's "no tests collected" (5) is a failure.
# Env knobs: SCRM_SKIP_INSTALL=1 skips the pip install step (also skipped when
# pyproject.toml is unchanged since the last install here); SCRM_TEST_WORKERS (default 2,
# 0 = serial) sets pytest's worker processes.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() { printf '\n==> %s\n' "$*"; }
failed=()

# Re-install only when pyproject.toml or the interpreter changed (stamp in gitignored .cache/).
stamp=.cache/pip-install.stamp
want="$(sha256sum pyproject.toml | cut -d' ' -f1) $(command -v python) $(python -V 2>&1)"
if [[ ${SCRM_SKIP_INSTALL:-} == 1 ]]; then
  step "pip install skipped (SCRM_SKIP_INSTALL=1)"
elif [[ -f $stamp && $(<"$stamp") == "$want" ]] &&
  python -m pip show scrm 2>/dev/null | grep -x "Editable project location: $PWD" >/dev/null; then
  step "pip install skipped (pyproject.toml unchanged since last install)"
else
  step "pip install -e '.[test,operator]'"
  python -m pip install -q --root-user-action=ignore -e '.[test,operator]'
  mkdir -p .cache && printf '%s' "$want" >"$stamp"
fi

step "scripts/services.sh"
bash scripts/services.sh

step "ruff check ."
python -m ruff check . || failed+=("ruff check")
step "ruff format --check ."
python -m ruff format --check . || failed+=("ruff format")
step "mypy"
python -m mypy || failed+=("mypy")

export SCRM_TEST_POSTGRES_URL="${SCRM_TEST_POSTGRES_URL:-postgresql+asyncpg://scrm:scrm@127.0.0.1:5432/scrm_test}"
export SCRM_TEST_AMQP_URL="${SCRM_TEST_AMQP_URL:-amqp://scrm:scrm@127.0.0.1:5672/}"
export SCRM_TEST_RABBITMQ_API="${SCRM_TEST_RABBITMQ_API:-http://scrm:scrm@127.0.0.1:15672}"
export CHROMIUM_PATH="${CHROMIUM_PATH:-/usr/bin/chromium}"

step "e2e/controlplane/build.sh all (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok, helm; cached)"
bash e2e/controlplane/build.sh all >/dev/null || failed+=("controlplane build")

# Two pytest workers by default (pytest-xdist; whole files per worker, or a file's tests on
# one backend, so a file's fixtures and order hold; units go out longest first by the last
# run's times, see tests/scheduling.py; every session fixture makes its own databases, vhosts
# and control plane). SCRM_TEST_WORKERS=0 runs serially.
workers=${SCRM_TEST_WORKERS:-2}
parallel=()
((workers > 0)) && parallel=(-n "$workers" --dist loadfile)
step "pytest -q --durations=25 ${parallel[*]} $*"
rc=0
python -m pytest -q --durations=25 "${parallel[@]}" "$@" || rc=$?

if ((rc == 5)); then
  echo "test.sh: FAILED: pytest collected no tests (exit 5)" >&2
elif ((rc != 0)); then
  echo "test.sh: FAILED: pytest exited $rc" >&2
fi
if ((${#failed[@]})); then
  echo "test.sh: FAILED checks: ${failed[*]}" >&2
  ((rc != 0)) || rc=1
fi
((rc != 0)) || echo "test.sh: all checks and tests passed"
exit "$rc"
