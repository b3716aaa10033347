#!/usr/bin/env bash
# deno task services [up|down|status|tools]
#
# Brings up etcd, Apache Kafka (KRaft), Redis and PostgreSQL on loopback for the tests, the
# benchmarks and the demo. Where a Docker engine answers it uses compose.yaml; otherwise it
# runs the servers natively, installing what is missing (apt-get for etcd, Redis, Postgres
# and Java; Maven for the Kafka broker jars, cached for the next run). `tools` makes sure the
# etcd and Redis binaries that the fault tests run are installed.
#
# Endpoints come from the same environment variables the tests read:
#   GOCHAT_ETCD_ENDPOINTS  default http://127.0.0.1:2379
#   GOCHAT_REDIS_URL       default redis://127.0.0.1:6379
#   GOCHAT_KAFKA_BROKERS   default 127.0.0.1:9092
#   GOCHAT_PG_URL          default postgres://postgres@127.0.0.1:5432/test
# State (data, logs, pid files, the Kafka jars) lives in GOCHAT_SERVICES_DIR,
# default ~/.cache/gochat-infra. Set GOCHAT_SERVICES_NATIVE=1 to skip Docker.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STATE=${GOCHAT_SERVICES_DIR:-$HOME/.cache/gochat-infra}
KAFKA_VERSION=3.9.1
mkdir -p "$STATE"

# host:port of the first entry of a list or URL, without scheme, credentials, path or query;
# the service's standard port where the entry names none. An IPv6 host keeps its brackets.
endpoint() { # value default-port
  local value=${1%%,*}
  value=${value#*://}
  value=${value##*@}
  value=${value%%/*}
  value=${value%%\?*}
  case $value in
    \[*\]:*) ;;
    \[*\]) value="$value:$2" ;;
    *:*:*) value="[$value]:$2" ;;
    *:*) ;;
    *) value="$value:$2" ;;
  esac
  echo "$value"
}
ETCD=$(endpoint "${GOCHAT_ETCD_ENDPOINTS:-http://127.0.0.1:2379}" 2379)
REDIS=$(endpoint "${GOCHAT_REDIS_URL:-redis://127.0.0.1:6379}" 6379)
KAFKA=$(endpoint "${GOCHAT_KAFKA_BROKERS:-127.0.0.1:9092}" 9092)
PG=$(endpoint "${GOCHAT_PG_URL:-postgres://postgres@127.0.0.1:5432/test}" 5432)
# host (brackets removed) and port of a host:port; url_host puts an IPv6 host back in brackets.
host() {
  local h=${1%:*}
  h=${h#[}
  echo "${h%]}"
}
port() { echo "${1##*:}"; }
url_host() { case $1 in *:*) echo "[$1]" ;; *) echo "$1" ;; esac; }
# compose.yaml publishes the same ports.
export GOCHAT_ETCD_PORT GOCHAT_KAFKA_PORT GOCHAT_REDIS_PORT GOCHAT_PG_PORT
GOCHAT_ETCD_PORT=$(port "$ETCD")
GOCHAT_KAFKA_PORT=$(port "$KAFKA")
GOCHAT_REDIS_PORT=$(port "$REDIS")
GOCHAT_PG_PORT=$(port "$PG")
is_loopback() { case "$(host "$1")" in 127.* | localhost | ::1) return 0 ;; *) return 1 ;; esac; }

say() { printf '%s\n' "$*" >&2; }
die() {
  say "services: $*"
  exit 1
}

tcp_open() { (exec 3<>"/dev/tcp/$(host "$1")/$(port "$1")") 2>/dev/null; }

etcd_ready() {
  if command -v curl >/dev/null 2>&1; then
    curl -fsS --max-time 2 "http://$ETCD/health" 2>/dev/null | grep -q '"health":"true"'
  else
    tcp_open "$ETCD"
  fi
}
redis_ready() {
  if command -v redis-cli >/dev/null 2>&1; then
    [ "$(redis-cli -h "$(host "$REDIS")" -p "$(port "$REDIS")" ping 2>/dev/null)" = "PONG" ]
  else
    tcp_open "$REDIS"
  fi
}
pg_ready() {
  if command -v pg_isready >/dev/null 2>&1; then
    pg_isready -q -h "$(host "$PG")" -p "$(port "$PG")"
  else
    tcp_open "$PG"
  fi
}
kafka_ready() {
  tcp_open "$KAFKA" || return 1
  # A broker we started is ready once it logged so; one we did not start answers on its port.
  if pid_alive kafka; then
    grep -q "Kafka Server started" "$STATE/kafka.log" 2>/dev/null
  fi
}

wait_for() { # name check seconds
  local name=$1 check=$2 seconds=$3 i
  for ((i = 0; i < seconds * 4; i++)); do
    if $check; then return 0; fi
    sleep 0.25
  done
  die "$name did not become ready within ${seconds}s (log: $STATE/$name.log)"
}

can_root() { [ "$(id -u)" = 0 ] || { command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; }; }
# Says what it needs before it runs anything, so the message reaches the terminal even when the
# caller sends the command's own output to a log.
as_root() {
  can_root || die "needs root (or passwordless sudo) to run: $* (run it yourself, or start the service and set its GOCHAT_* variable)"
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

APT_UPDATED=""
apt_install() {
  command -v apt-get >/dev/null 2>&1 || die "cannot install $* here: no apt-get. Install it yourself, or use Docker (compose.yaml)."
  can_root || die "$* must be installed, which needs root (or passwordless sudo): run 'apt-get install $*' as root yourself"
  say "services: installing $* with apt-get (log: $STATE/apt.log)"
  if [ -z "$APT_UPDATED" ]; then
    as_root apt-get update >>"$STATE/apt.log" 2>&1 ||
      die "apt-get update failed (log: $STATE/apt.log)"
    APT_UPDATED=1
  fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y "$@" >>"$STATE/apt.log" 2>&1 ||
    die "apt-get could not install $* (log: $STATE/apt.log)"
}

# What each server's command line contains: a pid file is trusted only while its process is
# still that server (after a reboot the number may belong to anything).
declare -A SIGNATURE=([etcd]=etcd [kafka]=kafka.Kafka [redis]=redis-server)
pid_alive() {
  local pid
  [ -f "$STATE/$1.pid" ] || return 1
  pid=$(cat "$STATE/$1.pid")
  kill -0 "$pid" 2>/dev/null && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "${SIGNATURE[$1]}"
}

start_etcd() {
  ensure_etcd_binaries
  stop_pid etcd
  local h p peer
  h=$(url_host "$(host "$ETCD")")
  p=$(port "$ETCD")
  peer=$((p + 1))
  mkdir -p "$STATE/etcd"
  nohup etcd --name gochat --data-dir "$STATE/etcd" \
    --listen-client-urls "http://$h:$p" --advertise-client-urls "http://$h:$p" \
    --listen-peer-urls "http://$h:$peer" --initial-advertise-peer-urls "http://$h:$peer" \
    --initial-cluster "gochat=http://$h:$peer" >"$STATE/etcd.log" 2>&1 </dev/null 9>&- &
  echo $! >"$STATE/etcd.pid"
  wait_for etcd etcd_ready 30
}

start_redis() {
  ensure_redis_binaries
  stop_pid redis
  mkdir -p "$STATE/redis"
  redis-server --daemonize yes --bind "$(host "$REDIS")" --port "$(port "$REDIS")" \
    --save "" --appendonly no --dir "$STATE/redis" --logfile "$STATE/redis.log" \
    --pidfile "$STATE/redis.pid" >/dev/null 9>&-
  wait_for redis redis_ready 15
}

start_postgres() {
  if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
    apt_install postgresql
    # A fresh Debian cluster wants passwords on TCP; the tests connect with trust on loopback.
    local hba
    hba=$(ls /etc/postgresql/*/main/pg_hba.conf | head -n 1)
    as_root sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
  fi
  local version cluster_port
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  cluster_port=$(sed -nE 's/^[[:space:]]*port[[:space:]]*=[[:space:]]*([0-9]+).*/\1/p' \
    "/etc/postgresql/$version/main/postgresql.conf" | tail -n 1)
  [ "${cluster_port:-5432}" = "$(port "$PG")" ] ||
    die "native PostgreSQL is Debian's cluster $version/main on port ${cluster_port:-5432}, but GOCHAT_PG_URL asks for port $(port "$PG"): start a server there yourself, or use port ${cluster_port:-5432}"
  can_root || die "needs root (or passwordless sudo) to start PostgreSQL $version/main: start it yourself"
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start >"$STATE/postgres.log" 2>&1 9>&- || true
  wait_for postgres pg_ready 30
}

# The database the URL names exists, whoever started the server. Like libpq and postgres.js,
# a URL without a database means the user's own; the URL's password is passed on.
ensure_pg_database() {
  local url=${GOCHAT_PG_URL:-postgres://postgres@127.0.0.1:5432/test} rest db user=postgres password=""
  rest=${url#*://}
  rest=${rest%%\?*}
  case $rest in *@*)
    local credentials=${rest%@*}
    user=${credentials%%:*}
    case $credentials in *:*) password=${credentials#*:} ;; esac
    rest=${rest##*@}
    ;;
  esac
  case $rest in */*) db=${rest#*/} ;; *) db="" ;; esac
  [ -n "$db" ] || db=$user
  command -v psql >/dev/null 2>&1 || return 0
  local psql=(env PGPASSWORD="$password" psql -h "$(host "$PG")" -p "$(port "$PG")" -U "$user"
    -v ON_ERROR_STOP=1 -qtA postgres)
  "${psql[@]}" -c "select 1 from pg_database where datname = '$db'" 2>/dev/null | grep -q 1 && return 0
  say "services: creating database $db"
  "${psql[@]}" -c "create database \"$db\"" >/dev/null 2>&1 ||
    die "postgres answers at $PG, but database $db is missing and $user cannot create it"
}

# The broker jars, fetched once into $KAFKA_LIBS. A fetch lands in a temp folder that is moved
# into place only when mvn succeeded, so an interrupted one is never taken for a cache.
KAFKA_LIBS="$STATE/kafka-$KAFKA_VERSION/libs"
fetch_kafka_jars() {
  [ -f "$KAFKA_LIBS/.complete" ] && return 0
  command -v mvn >/dev/null 2>&1 || apt_install maven
  say "services: fetching the Kafka $KAFKA_VERSION broker jars from Maven Central (once)"
  local partial="$KAFKA_LIBS.partial"
  rm -rf "$partial" "$KAFKA_LIBS"
  mkdir -p "$partial"
  mvn -q -B -f "$ROOT/services/kafka/pom.xml" -Dkafka.version="$KAFKA_VERSION" \
    dependency:copy-dependencies -DoutputDirectory="$partial" >"$STATE/kafka-mvn.log" 2>&1 ||
    die "mvn could not fetch the Kafka jars (log: $STATE/kafka-mvn.log)"
  touch "$partial/.complete"
  mv "$partial" "$KAFKA_LIBS"
}

start_kafka() {
  command -v java >/dev/null 2>&1 || apt_install openjdk-17-jre-headless
  # A broker of ours that is alive but not ready (a previous `up` gave up on it) would hold the
  # data folder's lock against a second one, and its jars may be refetched below.
  stop_pid kafka
  fetch_kafka_jars
  local libs=$KAFKA_LIBS h p controller data
  h=$(url_host "$(host "$KAFKA")")
  p=$(port "$KAFKA")
  controller=$((p + 1))
  data="$STATE/kafka"
  mkdir -p "$data"
  sed -e "s#@HOST@#$h#g" -e "s#@PORT@#$p#g" -e "s#@CONTROLLER_PORT@#$controller#g" \
    -e "s#@DATA@#$data/logs#g" "$ROOT/services/kafka/server.properties" >"$data/server.properties"
  if [ ! -f "$data/logs/meta.properties" ]; then
    local id
    id=$(java -cp "$libs/*" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n 1)
    java -Dlog4j.configuration="file:$ROOT/services/kafka/log4j.properties" -cp "$libs/*" \
      kafka.tools.StorageTool format -t "$id" -c "$data/server.properties" >"$STATE/kafka-format.log" 2>&1 ||
      die "could not format the Kafka storage (log: $STATE/kafka-format.log)"
  fi
  : >"$STATE/kafka.log"
  nohup java -Xms256m -Xmx768m -XX:+UseG1GC -Djava.awt.headless=true \
    -Dlog4j.configuration="file:$ROOT/services/kafka/log4j.properties" \
    -cp "$libs/*" kafka.Kafka "$data/server.properties" >"$STATE/kafka.log" 2>&1 </dev/null 9>&- &
  echo $! >"$STATE/kafka.pid"
  wait_for kafka kafka_ready 90
}

have_docker() {
  [ -z "${GOCHAT_SERVICES_NATIVE:-}" ] && command -v docker >/dev/null 2>&1 &&
    docker info >/dev/null 2>&1 && docker compose version >/dev/null 2>&1
}

report() { # name endpoint ready-check
  local name=$1 where=$2 check=$3 how=""
  if pid_alive "$name"; then how=" (native, pid $(cat "$STATE/$name.pid"), log $STATE/$name.log)"; fi
  if $check; then
    printf '%-9s up    %s%s\n' "$name" "$where" "$how"
  else
    printf '%-9s down  %s\n' "$name" "$where"
    return 1
  fi
}

status() {
  local ok=0
  report etcd "http://$ETCD" etcd_ready || ok=1
  report kafka "$KAFKA" kafka_ready || ok=1
  report redis "redis://$REDIS" redis_ready || ok=1
  report postgres "postgres://$PG" pg_ready || ok=1
  return $ok
}

ensure_etcd_binaries() {
  command -v "${GOCHAT_ETCD_BINARY:-etcd}" >/dev/null 2>&1 && command -v etcdctl >/dev/null 2>&1 ||
    apt_install etcd-server etcd-client
}
ensure_redis_binaries() {
  command -v "${GOCHAT_REDIS_SERVER:-redis-server}" >/dev/null 2>&1 &&
    command -v "${GOCHAT_REDIS_CLI:-redis-cli}" >/dev/null 2>&1 || apt_install redis-server
}

up() {
  local missing=()
  etcd_ready || missing+=(etcd)
  kafka_ready || missing+=(kafka)
  redis_ready || missing+=(redis)
  pg_ready || missing+=(postgres)
  if [ ${#missing[@]} -gt 0 ]; then
    for name in "${missing[@]}"; do
      local ep
      case $name in etcd) ep=$ETCD ;; kafka) ep=$KAFKA ;; redis) ep=$REDIS ;; postgres) ep=$PG ;; esac
      is_loopback "$ep" || die "$name at $ep does not answer, and only loopback services are started here"
    done
    if have_docker; then
      say "services: starting ${missing[*]} with docker compose"
      docker compose -f "$ROOT/compose.yaml" up -d --wait "${missing[@]}"
    else
      for name in "${missing[@]}"; do
        say "services: starting $name natively"
        "start_$name"
      done
    fi
  fi
  pg_ready && ensure_pg_database
  status
}

stop_pid() { # name
  local name=$1 pid i
  pid_alive "$name" || {
    rm -f "$STATE/$name.pid"
    return 0
  }
  pid=$(cat "$STATE/$name.pid")
  kill "$pid" 2>/dev/null || true
  for ((i = 0; i < 120; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.25
  done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$STATE/$name.pid"
  say "services: stopped $name"
}

down() {
  if have_docker && docker compose -f "$ROOT/compose.yaml" ps -q 2>/dev/null | grep -q .; then
    docker compose -f "$ROOT/compose.yaml" down
  fi
  # Only what this script started; a system Redis or PostgreSQL is left alone.
  stop_pid kafka
  stop_pid etcd
  stop_pid redis
}

# One `up` or `down` at a time: two at once would start two servers on one data folder. The
# servers it starts must not inherit the lock's descriptor (9), or they would hold it for good.
if [ "${1:-up}" != status ] && command -v flock >/dev/null 2>&1; then
  exec 9>"$STATE/lock"
  flock 9
fi

case "${1:-up}" in
  up) up ;;
  # The fault tests start private etcd and Redis servers (and a Redis Cluster), so their
  # binaries must be here even when the shared services run elsewhere (Docker, a system service).
  tools)
    ensure_etcd_binaries
    ensure_redis_binaries
    ;;
  down) down ;;
  status) status ;;
  *)
    say "usage: deno task services [up|down|status|tools]"
    exit 2
    ;;
esac
