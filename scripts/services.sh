#!/usr/bin/env bash
# Bring up the local services the test suite needs, idempotently:
#   - PostgreSQL (Debian cluster, whichever version is installed) on 127.0.0.1:5432
#     with superuser role scrm/scrm and database scrm_test
#   - RabbitMQ with the management plugin (AMQP 5672, HTTP API 15672) and an
#     administrator user scrm/scrm with full permissions on vhost /
#   - Debian chromium (for browser tests)
# Missing Debian packages are installed (apt-get update runs at most once).
# Works without systemd (uses pg_ctlcluster and the SysV init script / -detached).
# Exports nothing; prints the URLs at the end. Needs root.
#
# Env knobs: SCRM_SERVICES_TIMEOUT (seconds per wait, default 180).
set -euo pipefail
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

TIMEOUT="${SCRM_SERVICES_TIMEOUT:-180}"
PG_PORT=5432
PG_USER=scrm
PG_PASS=scrm
PG_DB=scrm_test
MQ_USER=scrm
MQ_PASS=scrm
AMQP_PORT=5672
MQ_API_PORT=15672
START_TS=$SECONDS

log() { printf '[services %3ds] %s\n' "$((SECONDS - START_TS))" "$*"; }
die() {
  printf '[services] ERROR: %s\n' "$*" >&2
  exit 1
}
have() { command -v "$1" >/dev/null 2>&1; }
pkg_installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

# wait_for DESCRIPTION COMMAND... : retry COMMAND until it succeeds or TIMEOUT passes.
wait_for() {
  local what="$1"
  shift
  local deadline=$((SECONDS + TIMEOUT))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      return 1
    fi
    sleep 1
  done
  log "$what: ready"
}

tcp_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

[[ $(id -u) -eq 0 ]] || die "must run as root (needs apt-get, pg_ctlcluster, rabbitmqctl)"

# ---------------------------------------------------------------- packages
missing=()
have pg_lsclusters || missing+=(postgresql)
pkg_installed rabbitmq-server || missing+=(rabbitmq-server)
pkg_installed chromium || missing+=(chromium)
have curl || missing+=(curl)
if ((${#missing[@]})); then
  log "installing missing packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq || die "apt-get update failed"
  apt-get install -y -qq "${missing[@]}" >/dev/null || die "apt-get install ${missing[*]} failed"
  log "installed: ${missing[*]}"
else
  log "packages present: postgresql, rabbitmq-server, chromium, curl"
fi

# ---------------------------------------------------------------- PostgreSQL
PG_URL="postgresql://$PG_USER:$PG_PASS@127.0.0.1:$PG_PORT/$PG_DB"

pg_ok() {
  [[ $(PGPASSWORD=$PG_PASS PGCONNECT_TIMEOUT=3 psql "$PG_URL" -qAtX \
    -c "select rolsuper from pg_roles where rolname = current_user" 2>/dev/null) == t ]]
}

# Pick the cluster on port 5432 (highest version first); create one if none exists.
pg_cluster="$(pg_lsclusters -h 2>/dev/null | awk -v p="$PG_PORT" '$3 == p {print $1, $2}' |
  sort -rn | head -n1)"
if [[ -z $pg_cluster ]]; then
  pg_ver="$(ls /usr/lib/postgresql 2>/dev/null | sort -rn | head -n1)"
  [[ -n $pg_ver ]] || die "no PostgreSQL server found under /usr/lib/postgresql"
  log "postgres: no cluster on port $PG_PORT; creating $pg_ver/main"
  pg_createcluster "$pg_ver" main --port "$PG_PORT" >/dev/null ||
    die "pg_createcluster $pg_ver main failed"
  pg_cluster="$pg_ver main"
fi
read -r pg_ver pg_name <<<"$pg_cluster"

if pg_ctlcluster "$pg_ver" "$pg_name" status >/dev/null 2>&1; then
  log "postgres: cluster $pg_ver/$pg_name already running"
else
  log "postgres: starting cluster $pg_ver/$pg_name"
  pg_ctlcluster "$pg_ver" "$pg_name" start ||
    die "could not start PostgreSQL $pg_ver/$pg_name (see /var/log/postgresql/)"
fi
wait_for "postgres: 127.0.0.1:$PG_PORT" pg_isready -q -h 127.0.0.1 -p "$PG_PORT" -t 2 ||
  die "PostgreSQL did not accept connections on 127.0.0.1:$PG_PORT within ${TIMEOUT}s"

if pg_ok; then
  log "postgres: role $PG_USER and database $PG_DB already set up"
else
  log "postgres: ensuring superuser role $PG_USER and database $PG_DB"
  pg_admin() { runuser -u postgres -- psql -p "$PG_PORT" -qAtX -v ON_ERROR_STOP=1 "$@"; }
  pg_admin -d postgres <<SQL || die "could not create/alter role $PG_USER"
DO \$\$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$PG_USER') THEN
    CREATE ROLE $PG_USER LOGIN SUPERUSER PASSWORD '$PG_PASS';
  ELSE
    ALTER ROLE $PG_USER LOGIN SUPERUSER PASSWORD '$PG_PASS';
  END IF;
END
\$\$;
SQL
  if [[ -z $(pg_admin -d postgres -c "select 1 from pg_database where datname = '$PG_DB'") ]]; then
    pg_admin -d postgres -c "CREATE DATABASE $PG_DB OWNER $PG_USER" ||
      die "could not create database $PG_DB"
  fi
  pg_ok || die "password login failed for $PG_URL (check pg_hba.conf: need scram/md5 for 127.0.0.1)"
  log "postgres: role and database ready"
fi

# ---------------------------------------------------------------- RabbitMQ
MQ_API="http://127.0.0.1:$MQ_API_PORT"

mq_running() { rabbitmqctl -q status >/dev/null 2>&1; }
mq_api() { curl -fsS -m 5 -u "$MQ_USER:$MQ_PASS" "$MQ_API$1"; }
mq_user_ok() {
  local who perms
  who="$(mq_api /api/whoami 2>/dev/null)" || return 1
  perms="$(mq_api "/api/permissions/%2F/$MQ_USER" 2>/dev/null)" || return 1
  [[ $who == *administrator* && $perms == *'"configure":".*"'* ]]
}

if mq_running; then
  log "rabbitmq: node already running"
  if ! tcp_open "$MQ_API_PORT"; then
    log "rabbitmq: enabling rabbitmq_management on the running node"
    rabbitmq-plugins -q enable rabbitmq_management >/dev/null ||
      die "could not enable rabbitmq_management"
  fi
else
  # Enable the plugin before start so the node comes up with it.
  rabbitmq-plugins -q enable --offline rabbitmq_management >/dev/null ||
    die "could not enable rabbitmq_management (offline)"
  log "rabbitmq: starting node"
  if [[ -x /etc/init.d/rabbitmq-server ]] && have service; then
    # SysV script: start-stop-daemon --background as user rabbitmq, then `rabbitmqctl wait`.
    timeout "$TIMEOUT" service rabbitmq-server start >/dev/null 2>&1 ||
      log "rabbitmq: 'service rabbitmq-server start' failed; trying rabbitmq-server -detached"
  fi
  if ! mq_running; then
    # Debian's wrapper drops to user rabbitmq when run as root.
    rabbitmq-server -detached >/dev/null 2>&1 || true
  fi
  wait_for "rabbitmq: node" rabbitmqctl -q await_startup --timeout 10 ||
    die "RabbitMQ did not start within ${TIMEOUT}s (see /var/log/rabbitmq/)"
fi

wait_for "rabbitmq: AMQP 127.0.0.1:$AMQP_PORT" tcp_open "$AMQP_PORT" ||
  die "RabbitMQ AMQP port $AMQP_PORT not open within ${TIMEOUT}s"

if mq_user_ok; then
  log "rabbitmq: user $MQ_USER already set up"
else
  log "rabbitmq: ensuring administrator $MQ_USER with full permissions on /"
  mq_users="$(rabbitmqctl -q list_users 2>/dev/null | awk '{print $1}')"
  if [[ $'\n'$mq_users$'\n' == *$'\n'"$MQ_USER"$'\n'* ]]; then
    rabbitmqctl -q change_password "$MQ_USER" "$MQ_PASS" >/dev/null
  else
    rabbitmqctl -q add_user "$MQ_USER" "$MQ_PASS" >/dev/null
  fi || die "could not create RabbitMQ user $MQ_USER"
  rabbitmqctl -q set_user_tags "$MQ_USER" administrator >/dev/null ||
    die "could not tag $MQ_USER as administrator"
  rabbitmqctl -q set_permissions -p / "$MQ_USER" '.*' '.*' '.*' >/dev/null ||
    die "could not set permissions for $MQ_USER on /"
fi
wait_for "rabbitmq: management API $MQ_API/api/overview" mq_api /api/overview ||
  die "RabbitMQ management API $MQ_API/api/overview did not answer within ${TIMEOUT}s"
mq_user_ok || die "RabbitMQ user $MQ_USER lacks administrator tag or permissions on /"

# ---------------------------------------------------------------- Chromium
CHROMIUM=/usr/bin/chromium
[[ -x $CHROMIUM ]] || die "$CHROMIUM missing after install"
log "chromium: $("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM (version unknown)")"

log "all services ready"
cat <<EOF
  SCRM_TEST_POSTGRES_URL=postgresql+asyncpg://$PG_USER:$PG_PASS@127.0.0.1:$PG_PORT/$PG_DB
  SCRM_TEST_AMQP_URL=amqp://$MQ_USER:$MQ_PASS@127.0.0.1:$AMQP_PORT/
  SCRM_TEST_RABBITMQ_API=http://$MQ_USER:$MQ_PASS@127.0.0.1:$MQ_API_PORT
  CHROMIUM_PATH=$CHROMIUM
EOF
