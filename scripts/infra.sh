#!/usr/bin/env bash
# Local real infrastructure for surge: an Apache Kafka broker (KRaft, one
# node), PostgreSQL, and on request Prometheus and Jaeger. Everything is
# downloaded, built and run under $SURGE_INFRA_DIR (default <repo>/.cache,
# git-ignored); nothing is installed system-wide except Debian packages
# (java, maven, postgresql, prometheus) when they are missing.
#
#   scripts/infra.sh up [SERVICE...]       start (default: kafka postgres);
#                                          also: prometheus jaeger
#   scripts/infra.sh down [SERVICE...]     stop what this script started (default: all)
#   scripts/infra.sh status [SERVICE...]   one line per service
#   scripts/infra.sh env                   export lines for `eval "$(scripts/infra.sh env)"`
#   scripts/infra.sh kafka-tool CLASS ARGS...
#                                          run a Kafka Java tool with the cached jars
#
# `up` is idempotent: a service that is already running and answering is left
# alone. `down` only stops processes recorded in this script's pid files and
# only after checking that the pid still belongs to a process started from
# this run folder. See `scripts/infra.sh help` for the environment variables.

set -Eeuo pipefail

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd -- "$SCRIPT_DIR/.." && pwd)
TEMPLATES="$SCRIPT_DIR/infra"
readonly SCRIPT_DIR REPO_ROOT TEMPLATES

INFRA_DIR=$(realpath -m -- "${SURGE_INFRA_DIR:-$REPO_ROOT/.cache}")
RUN_DIR="$INFRA_DIR/run"
BIN_DIR="$INFRA_DIR/bin"
readonly INFRA_DIR RUN_DIR BIN_DIR

# ---------------------------------------------------------------- versions --
# Pinned. Changing one re-downloads / rebuilds on the next `up`.
readonly KAFKA_VERSION="4.3.1"
# log4j-core version that kafka_2.13 $KAFKA_VERSION depends on; the slf4j
# binding (log4j-slf4j-impl) must be the same version. See infra/pom.xml.
readonly LOG4J_VERSION="2.25.4"
# Jaeger v2.13.0. The Go module github.com/jaegertracing/jaeger has no /v2
# suffix, so each v2.x release is also tagged v1.(x+63) for Go.
readonly JAEGER_MODULE="github.com/jaegertracing/jaeger"
readonly JAEGER_VERSION="v1.76.0"
readonly JAEGER_RELEASE="v2.13.0"

# ------------------------------------------------------------------- ports --
readonly HOST="127.0.0.1"
KAFKA_PORT=${SURGE_KAFKA_PORT:-9092}
KAFKA_CONTROLLER_PORT=${SURGE_KAFKA_CONTROLLER_PORT:-9093}
KAFKA_FAULT_PORT=${SURGE_KAFKA_FAULT_PORT:-9094}
KAFKA_FAULT_ADVERTISED_PORT=${SURGE_KAFKA_FAULT_ADVERTISED_PORT:-19094}
POSTGRES_PORT=${SURGE_POSTGRES_PORT:-5432}
PROMETHEUS_PORT=${SURGE_PROMETHEUS_PORT:-9090}
JAEGER_OTLP_GRPC_PORT=${SURGE_JAEGER_OTLP_GRPC_PORT:-4317}
JAEGER_OTLP_HTTP_PORT=${SURGE_JAEGER_OTLP_HTTP_PORT:-4318}
JAEGER_QUERY_PORT=${SURGE_JAEGER_QUERY_PORT:-16686}
JAEGER_QUERY_GRPC_PORT=${SURGE_JAEGER_QUERY_GRPC_PORT:-16685}
JAEGER_HEALTH_PORT=${SURGE_JAEGER_HEALTH_PORT:-13133}
readonly KAFKA_PORT KAFKA_CONTROLLER_PORT KAFKA_FAULT_PORT KAFKA_FAULT_ADVERTISED_PORT \
  POSTGRES_PORT PROMETHEUS_PORT JAEGER_OTLP_GRPC_PORT JAEGER_OTLP_HTTP_PORT \
  JAEGER_QUERY_PORT JAEGER_QUERY_GRPC_PORT JAEGER_HEALTH_PORT

# ------------------------------------------------------------------ others --
# Seconds a service may take to become ready after its process started.
TIMEOUT=${SURGE_INFRA_TIMEOUT:-90}
# Seconds between SIGTERM and SIGKILL when stopping.
STOP_TIMEOUT=${SURGE_INFRA_STOP_TIMEOUT:-30}
# Topics created on every `up kafka` when missing, NAME:PARTITIONS.
KAFKA_TOPICS=${SURGE_KAFKA_TOPICS:-"orders:12 orders.dlq:3"}
KAFKA_HEAP_OPTS=${SURGE_KAFKA_HEAP_OPTS:-"-Xmx768m"}
KAFKA_TOOL_OPTS=${SURGE_KAFKA_TOOL_OPTS:-"-Xmx1g"}
readonly TIMEOUT STOP_TIMEOUT KAFKA_TOPICS KAFKA_HEAP_OPTS KAFKA_TOOL_OPTS

readonly KAFKA_HOME="$INFRA_DIR/kafka-$KAFKA_VERSION"
readonly KAFKA_LIB="$KAFKA_HOME/lib"
readonly KAFKA_RUN="$RUN_DIR/kafka"
# PostgreSQL runs as the `postgres` OS user, which must be able to walk down to its
# folder. A checkout inside a private folder (`mktemp -d` makes 0700 ones) cannot be
# reached, so then the cluster lives in a folder of its own under /var/tmp, named after
# this checkout's infrastructure folder (so `status` and `down` find it again).
pg_run_dir() {
  local p=$RUN_DIR perm
  while [[ $p != / && -n $p ]]; do
    if [[ -e $p ]]; then
      perm=$(stat -c %A -- "$p")
      if [[ ${perm:9:1} != [xt] ]]; then
        printf '/var/tmp/surge-postgres-%s' "$(printf '%s' "$INFRA_DIR" | sha256sum | cut -c1-12)"
        return
      fi
    fi
    p=$(dirname -- "$p")
  done
  printf '%s/postgres' "$RUN_DIR"
}
PG_RUN=$(pg_run_dir)
readonly PG_RUN
readonly PG_DATA="$PG_RUN/data"
readonly PROM_RUN="$RUN_DIR/prometheus"
readonly JAEGER_RUN="$RUN_DIR/jaeger"
readonly JAEGER_BIN="$BIN_DIR/jaeger"
readonly RULES_DIR="$REPO_ROOT/observability/prometheus/rules"

readonly ALL_SERVICES=(kafka postgres prometheus jaeger)
readonly DEFAULT_UP=(kafka postgres)

# ================================================================ helpers ==

log() { printf '[infra] %s\n' "$*" >&2; }
warn() { printf '[infra] warning: %s\n' "$*" >&2; }
die() {
  printf '[infra] error: %s\n' "$*" >&2
  exit 1
}

CLEANUPS=()
run_cleanups() {
  local c
  for c in "${CLEANUPS[@]}"; do eval "$c" || true; done
}
trap run_cleanups EXIT

is_root() { [[ $EUID -eq 0 ]]; }

# Runs a command and shows the last lines of its output only when it fails.
quiet() {
  local out rc=0
  out=$(mktemp)
  "$@" >"$out" 2>&1 || rc=$?
  if ((rc != 0)); then
    tail -n 40 "$out" >&2
  fi
  rm -f "$out"
  return "$rc"
}

# Serialises `up` and `down` between concurrent callers (tests started in
# parallel). Daemons are started with fd 9 closed so they never hold the lock.
take_lock() {
  mkdir -p "$INFRA_DIR"
  exec 9>"$INFRA_DIR/.infra.lock"
  if ! flock -n 9; then
    log "another scripts/infra.sh up/down is running; waiting for it"
    flock -w 900 9 || die "timed out waiting for the lock $INFRA_DIR/.infra.lock"
  fi
}

port_open() {
  # shellcheck disable=SC2016 # expanded by the inner shell
  timeout 2 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$HOST" "$1" 2>/dev/null
}

# Prints the HTTP status code of GET http://127.0.0.1:PORT/PATH (no curl needed).
http_code() {
  # shellcheck disable=SC2016 # expanded by the inner shell
  timeout 5 bash -c '
    exec 3<>"/dev/tcp/$0/$1" || exit 1
    printf "GET %s HTTP/1.0\r\nHost: %s:%s\r\nConnection: close\r\n\r\n" "$2" "$0" "$1" >&3
    IFS=" " read -r _ code _ <&3 || exit 1
    printf "%s" "$code"
  ' "$HOST" "$1" "$2" 2>/dev/null || true
}

# Describes who listens on a port, when `ss` can tell.
port_owner() {
  if command -v ss >/dev/null 2>&1; then
    ss -ltnpH "sport = :$1" 2>/dev/null | sed -n 's/.*users:((\(.*\)))/\1/p' | head -n 1
  fi
}

# "PID INFRA_DIR" of a SERVICE process started by this script for another
# SURGE_INFRA_DIR (another checkout), if one is running.
other_infra_dir() {
  local svc=$1 p cmdline
  for p in /proc/[0-9]*; do
    cmdline=$(tr '\0' ' ' <"$p/cmdline" 2>/dev/null) || continue
    [[ $cmdline == *"/run/$svc/"* && $cmdline != *"$RUN_DIR/$svc/"* ]] || continue
    [[ $cmdline =~ (/[^ =]*)/run/$svc/ ]] || continue
    printf '%s %s' "${p#/proc/}" "${BASH_REMATCH[1]}"
    return 0
  done
  return 1
}

# Fails when one of the ports is already taken (by a process that is not ours:
# callers only get here when their own service is not running).
require_free_ports() {
  local svc=$1 port owner other
  shift
  for port in "$@"; do
    if port_open "$port"; then
      if other=$(other_infra_dir "${svc%% *}"); then
        die "${svc%% *}: port $port on $HOST is in use by the ${svc%% *} (pid ${other%% *}) of another checkout," \
          "SURGE_INFRA_DIR=${other#* }; stop it with" \
          "\`SURGE_INFRA_DIR=${other#* } scripts/infra.sh down ${svc%% *}\` or use it as it is (same addresses)"
      fi
      owner=$(port_owner "$port")
      die "$svc: port $port on $HOST is already in use by another process${owner:+ ($owner)}," \
        "not one started by scripts/infra.sh; stop it or choose another port (see scripts/infra.sh help)"
    fi
  done
}

# True when PID is alive and its command line mentions MARKER (a path inside
# our run folder), i.e. it is a process this script started and not a reused pid.
is_ours() {
  local pid=$1 marker=$2 cmdline
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  [[ -r /proc/$pid/cmdline ]] || return 1
  cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
  [[ $cmdline == *"$marker"* ]]
}

read_pid() {
  local file=$1 pid=""
  [[ -s $file ]] || return 1
  read -r pid <"$file" || true
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  printf '%s' "$pid"
}

# Starts a daemon in its own session with stdout/stderr appended to LOG and
# its pid written to PIDFILE by the process itself (exec keeps the pid).
spawn() {
  local dir=$1 logfile=$2 pidfile=$3
  shift 3
  local what=$1
  rm -f "$pidfile"
  (
    cd "$dir"
    # shellcheck disable=SC2016 # expanded by the inner shell
    exec setsid bash -c 'echo "$$" >"$0.tmp" && mv -f "$0.tmp" "$0" && exec "$@"' "$pidfile" "$@" \
      </dev/null >>"$logfile" 2>&1 9>&-
  ) &
  local i
  for ((i = 0; i < 50; i++)); do
    [[ -s $pidfile ]] && return 0
    sleep 0.1
  done
  die "could not start $what (no pid file $pidfile); see $logfile"
}

# Stops PID (checked to be ours via MARKER): SIGTERM, then SIGKILL after the timeout.
stop_pid() {
  local name=$1 pid=$2 marker=$3 waited=0
  is_ours "$pid" "$marker" || return 0
  log "$name: stopping pid $pid"
  kill -TERM "$pid" 2>/dev/null || true
  while is_ours "$pid" "$marker"; do
    if ((waited >= STOP_TIMEOUT * 10)); then
      warn "$name: pid $pid did not stop within ${STOP_TIMEOUT}s; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      sleep 0.5
      break
    fi
    sleep 0.1
    waited=$((waited + 1))
  done
  if is_ours "$pid" "$marker"; then
    die "$name: pid $pid is still running after SIGKILL"
  fi
}

# Waits until PORT accepts connections while PID stays alive.
wait_port() {
  local name=$1 pid=$2 marker=$3 port=$4 logfile=$5 deadline=$((SECONDS + TIMEOUT))
  until port_open "$port"; do
    if ! is_ours "$pid" "$marker"; then
      tail -n 30 "$logfile" >&2 || true
      die "$name: the process exited during start-up; log: $logfile"
    fi
    if ((SECONDS >= deadline)); then
      tail -n 30 "$logfile" >&2 || true
      die "$name: port $port did not open within ${TIMEOUT}s; log: $logfile" \
        "(\`scripts/infra.sh down $name\` stops pid $pid)"
    fi
    sleep 0.2
  done
}

# Waits until GET PATH on PORT answers 200 while PID stays alive.
wait_http_ok() {
  local name=$1 pid=$2 marker=$3 port=$4 path=$5 logfile=$6 deadline=$((SECONDS + TIMEOUT))
  until [[ $(http_code "$port" "$path") == 200 ]]; do
    if ! is_ours "$pid" "$marker"; then
      tail -n 30 "$logfile" >&2 || true
      die "$name: the process exited during start-up; log: $logfile"
    fi
    if ((SECONDS >= deadline)); then
      tail -n 30 "$logfile" >&2 || true
      die "$name: http://$HOST:$port$path did not answer 200 within ${TIMEOUT}s; log: $logfile" \
        "(\`scripts/infra.sh down $name\` stops pid $pid)"
    fi
    sleep 0.3
  done
}

# Fills @NAME@ placeholders: render TEMPLATE OUT NAME=VALUE...
render() {
  local template=$1 out=$2 kv expr=()
  shift 2
  for kv in "$@"; do
    local key=${kv%%=*} value=${kv#*=}
    value=${value//\\/\\\\}
    value=${value//|/\\|}
    value=${value//&/\\&}
    expr+=(-e "s|@${key}@|${value}|g")
  done
  sed "${expr[@]}" "$template" >"$out.tmp"
  local left
  left=$(grep -v '^[[:space:]]*#' "$out.tmp" | grep -o '@[A-Z_]\+@' | head -n 1 || true)
  [[ -z $left ]] || die "unfilled placeholder $left in $out.tmp (template $template)"
  mv -f "$out.tmp" "$out"
}

# ------------------------------------------------------------ apt helpers --

APT_UPDATED=0
# Installs Debian packages without letting their maintainer scripts start
# services (a policy-rc.d that denies every start, present only during the
# install and only if none existed before).
apt_install() {
  is_root || die "need to install Debian package(s) $*: run as root or install them first"
  command -v apt-get >/dev/null 2>&1 || die "need Debian package(s) $* but apt-get is not available"
  local policy=/usr/sbin/policy-rc.d created=0 rc=0
  if ((APT_UPDATED == 0)); then
    log "apt-get update"
    quiet apt-get update -q || die "apt-get update failed"
    APT_UPDATED=1
  fi
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\n# temporary, scripts/infra.sh: no service starts during install\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    created=1
    CLEANUPS+=("rm -f $policy")
  fi
  log "apt-get install $*"
  DEBIAN_FRONTEND=noninteractive quiet apt-get install -y -q --no-install-recommends "$@" || rc=$?
  if ((created)); then rm -f "$policy"; fi
  ((rc == 0)) || die "apt-get install $* failed"
}

# Pids of running processes whose executable is PATH.
pids_of_exe() {
  local exe=$1 p
  for p in /proc/[0-9]*; do
    [[ $(readlink "$p/exe" 2>/dev/null) == "$exe" ]] && printf '%s\n' "${p#/proc/}"
  done
  return 0
}

# ================================================================== kafka ==

ensure_java() {
  if ! command -v java >/dev/null 2>&1; then
    apt_install openjdk-17-jre-headless
  fi
  local major
  major=$(java -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p')
  major=${major%%.*}
  if ! [[ $major =~ ^[0-9]+$ ]] || ((major < 17)); then
    die "Kafka $KAFKA_VERSION needs Java 17 or newer; \`java\` is version ${major:-unknown}"
  fi
}

kafka_lib_marker() {
  printf 'kafka=%s log4j=%s pom=%s\n' "$KAFKA_VERSION" "$LOG4J_VERSION" \
    "$(sha256sum "$TEMPLATES/pom.xml" | cut -c1-16)"
}

ensure_kafka_lib() {
  ensure_java
  local marker="$KAFKA_LIB/.complete"
  if [[ -f $marker && $(cat "$marker") == "$(kafka_lib_marker)" ]]; then
    return 0
  fi
  command -v mvn >/dev/null 2>&1 || apt_install maven
  log "kafka: downloading Kafka $KAFKA_VERSION jars from Maven Central into $KAFKA_LIB"
  local tmp="$KAFKA_HOME/lib.download"
  rm -rf "$tmp"
  mkdir -p "$KAFKA_HOME"
  quiet mvn -B -q -f "$TEMPLATES/pom.xml" \
    -Dmaven.repo.local="$INFRA_DIR/maven-repo" \
    -Dkafka.version="$KAFKA_VERSION" -Dlog4j.version="$LOG4J_VERSION" \
    dependency:copy-dependencies -DoutputDirectory="$tmp" ||
    die "kafka: could not download the Kafka $KAFKA_VERSION jars (mvn failed, output above)"
  [[ -f $tmp/kafka_2.13-$KAFKA_VERSION.jar && -f $tmp/kafka-tools-$KAFKA_VERSION.jar &&
    -f $tmp/log4j-slf4j-impl-$LOG4J_VERSION.jar && -f $tmp/log4j-core-$LOG4J_VERSION.jar ]] ||
    die "kafka: the download in $tmp is incomplete (is log4j-core still $LOG4J_VERSION for Kafka $KAFKA_VERSION?)"
  rm -rf "$KAFKA_LIB"
  mv "$tmp" "$KAFKA_LIB"
  kafka_lib_marker >"$marker"
  log "kafka: $(find "$KAFKA_LIB" -name '*.jar' | wc -l) jars ready"
}

# Runs a Kafka tool class quickly (small heap, fast JIT start) for admin calls.
kafka_admin() {
  java -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$TEMPLATES/kafka-tools-log4j2.properties" \
    -cp "$KAFKA_LIB/*" "$@" 9>&-
}

kafka_pid() {
  local pid
  pid=$(read_pid "$KAFKA_RUN/kafka.pid") || return 1
  is_ours "$pid" "$KAFKA_RUN/" || return 1
  printf '%s' "$pid"
}

kafka_write_config() {
  mkdir -p "$KAFKA_RUN/data" "$KAFKA_RUN/logs"
  render "$TEMPLATES/server.properties.in" "$KAFKA_RUN/server.properties" \
    PORT="$KAFKA_PORT" CONTROLLER_PORT="$KAFKA_CONTROLLER_PORT" \
    FAULT_PORT="$KAFKA_FAULT_PORT" FAULT_ADVERTISED_PORT="$KAFKA_FAULT_ADVERTISED_PORT" \
    DATA_DIR="$KAFKA_RUN/data"
  cp -f "$TEMPLATES/kafka-log4j2.properties" "$KAFKA_RUN/log4j2.properties"
}

kafka_format() {
  [[ -f $KAFKA_RUN/data/meta.properties ]] && return 0
  local id
  if [[ -s $KAFKA_RUN/cluster.id ]]; then
    id=$(<"$KAFKA_RUN/cluster.id")
  else
    id=$(kafka_admin kafka.tools.StorageTool random-uuid) || die "kafka: StorageTool random-uuid failed"
    [[ $id =~ ^[A-Za-z0-9_-]{22}$ ]] || die "kafka: unexpected cluster id from StorageTool: $id"
    printf '%s\n' "$id" >"$KAFKA_RUN/cluster.id"
  fi
  log "kafka: formatting storage (cluster id $id)"
  quiet kafka_admin kafka.tools.StorageTool format --standalone -t "$id" \
    -c "$KAFKA_RUN/server.properties" || die "kafka: formatting $KAFKA_RUN/data failed"
}

# Waits for a real admin answer from the broker, then creates missing topics.
kafka_ready_and_topics() {
  local pid=$1 deadline=$((SECONDS + TIMEOUT)) topics="" entry name parts
  while true; do
    if topics=$(timeout 60 java -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
      -Dlog4j2.configurationFile="$TEMPLATES/kafka-tools-log4j2.properties" -cp "$KAFKA_LIB/*" \
      org.apache.kafka.tools.TopicCommand --bootstrap-server "$HOST:$KAFKA_PORT" --list \
      2>>"$KAFKA_RUN/admin.log" 9>&-); then
      break
    fi
    is_ours "$pid" "$KAFKA_RUN/" || {
      tail -n 30 "$KAFKA_RUN/logs/server.log" >&2 || true
      die "kafka: the broker exited during start-up; logs: $KAFKA_RUN/logs/server.log, $KAFKA_RUN/kafka.out"
    }
    ((SECONDS < deadline)) ||
      die "kafka: the broker did not answer an admin request within ${TIMEOUT}s; see $KAFKA_RUN/admin.log and $KAFKA_RUN/logs/server.log"
    sleep 1
  done
  for entry in $KAFKA_TOPICS; do
    name=${entry%%:*}
    parts=${entry#*:}
    if grep -qxF -- "$name" <<<"$topics"; then
      continue
    fi
    log "kafka: creating topic $name ($parts partitions)"
    quiet kafka_admin org.apache.kafka.tools.TopicCommand --bootstrap-server "$HOST:$KAFKA_PORT" \
      --create --if-not-exists --topic "$name" --partitions "$parts" --replication-factor 1 ||
      die "kafka: could not create topic $name"
  done
}

kafka_up() {
  local pid t0=$SECONDS
  if pid=$(kafka_pid); then
    # Already started (possibly still starting): wait for it, leave it alone.
    wait_port kafka "$pid" "$KAFKA_RUN/" "$KAFKA_PORT" "$KAFKA_RUN/logs/server.log"
    kafka_ready_and_topics "$pid"
    log "kafka: already running (pid $pid) on $HOST:$KAFKA_PORT"
    return 0
  fi
  require_free_ports kafka "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT" "$KAFKA_FAULT_PORT"
  ensure_kafka_lib
  kafka_write_config
  kafka_format
  log "kafka: starting broker $KAFKA_VERSION on $HOST:$KAFKA_PORT"
  local heap=()
  read -r -a heap <<<"$KAFKA_HEAP_OPTS"
  spawn "$KAFKA_RUN" "$KAFKA_RUN/kafka.out" "$KAFKA_RUN/kafka.pid" \
    java "${heap[@]}" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 \
    -XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$KAFKA_RUN/log4j2.properties" \
    -Dsurge.kafka.log.dir="$KAFKA_RUN/logs" \
    -cp "$KAFKA_LIB/*" kafka.Kafka "$KAFKA_RUN/server.properties"
  pid=$(read_pid "$KAFKA_RUN/kafka.pid")
  wait_port kafka "$pid" "$KAFKA_RUN/" "$KAFKA_PORT" "$KAFKA_RUN/logs/server.log"
  kafka_ready_and_topics "$pid"
  log "kafka: ready (pid $pid) on $HOST:$KAFKA_PORT in $((SECONDS - t0))s"
}

kafka_down() {
  local pid
  if pid=$(kafka_pid); then
    stop_pid kafka "$pid" "$KAFKA_RUN/"
    log "kafka: stopped"
  else
    log "kafka: not running"
  fi
  rm -f "$KAFKA_RUN/kafka.pid"
}

kafka_status() {
  local pid addr="$HOST:$KAFKA_PORT (controller :$KAFKA_CONTROLLER_PORT, fault :$KAFKA_FAULT_PORT advertised as :$KAFKA_FAULT_ADVERTISED_PORT)"
  if pid=$(kafka_pid); then
    if port_open "$KAFKA_PORT"; then
      status_line kafka running "$pid" "$addr"
    else
      status_line kafka "not-ready" "$pid" "$addr"
      return 1
    fi
  else
    status_line kafka stopped - "$addr$(foreign_note kafka "$KAFKA_PORT")"
    return 1
  fi
}

# =============================================================== postgres ==

# The OS user that owns and runs the cluster: `postgres` when we are root.
pg_os_user() {
  if is_root; then printf 'postgres'; else id -un; fi
}

# Runs a command as the cluster's OS user, from a folder that user can enter.
pg_as() {
  (
    cd "$PG_RUN" 2>/dev/null || cd /
    if is_root; then
      exec runuser -u postgres -- "$@" 9>&-
    else
      exec "$@" 9>&-
    fi
  )
}

# bin folder of the PostgreSQL major version to use (the data folder's, if any).
pg_bin() {
  local want="" dir
  if [[ -f $PG_DATA/PG_VERSION ]]; then
    want=$(<"$PG_DATA/PG_VERSION")
    dir="/usr/lib/postgresql/$want/bin"
    [[ -x $dir/initdb ]] || return 1
    printf '%s' "$dir"
    return 0
  fi
  dir=$(find /usr/lib/postgresql -mindepth 3 -maxdepth 3 -path '*/bin/initdb' 2>/dev/null | sort -V | tail -n 1)
  [[ -n $dir ]] || return 1
  printf '%s' "${dir%/initdb}"
}

# Unix socket folder: inside the run folder unless that path is too long for a
# socket address (108 bytes on Linux).
pg_socket_dir() {
  local dir="$PG_RUN/socket"
  if ((${#dir} + 20 > 107)); then
    dir="${TMPDIR:-/tmp}/surge-pg-$(printf '%s' "$PG_RUN" | cksum | cut -d' ' -f1)"
  fi
  printf '%s' "$dir"
}

pg_pid() {
  local pid
  pid=$(read_pid "$PG_DATA/postmaster.pid") || return 1
  is_ours "$pid" "$PG_DATA" || return 1
  printf '%s' "$pid"
}

pg_ensure_installed() {
  pg_bin >/dev/null && return 0
  if [[ -f $PG_DATA/PG_VERSION ]]; then
    die "postgres: $PG_DATA was created by PostgreSQL $(<"$PG_DATA/PG_VERSION"), which is not installed;" \
      "install it or remove $PG_RUN"
  fi
  # The package creates a default cluster (main, port 5432). Whatever of it
  # the installation leaves running was started by this install: stop it and
  # keep it from starting at boot, so it does not hold our port.
  local before=""
  command -v pg_lsclusters >/dev/null 2>&1 && before=$(pg_lsclusters -h 2>/dev/null | awk '$4 == "online" {print $1 "/" $2}')
  apt_install postgresql
  local ver name port status rest
  while read -r ver name port status rest; do
    [[ -n ${ver:-} ]] || continue
    if [[ $status == online* ]] && ! grep -qxF "$ver/$name" <<<"$before"; then
      log "postgres: stopping the package's default cluster $ver/$name (port $port) started by the install"
      pg_ctlcluster "$ver" "$name" stop || warn "could not stop cluster $ver/$name"
    fi
    if ! grep -qxF "$ver/$name" <<<"$before" && [[ -w /etc/postgresql/$ver/$name/start.conf ]]; then
      echo manual >"/etc/postgresql/$ver/$name/start.conf"
    fi
  done < <(pg_lsclusters -h 2>/dev/null || true)
  pg_bin >/dev/null || die "postgres: initdb not found after installing the postgresql package"
}

pg_init() {
  local bin=$1 user
  user=$(pg_os_user)
  mkdir -p "$PG_RUN"
  if is_root; then
    chown postgres:postgres "$PG_RUN"
    runuser -u postgres -- test -x "$PG_RUN" -a -w "$PG_RUN" ||
      die "postgres: the postgres OS user cannot reach $PG_RUN; make its parent folders" \
        "world-searchable (chmod o+x) or set SURGE_INFRA_DIR to a folder it can reach"
  fi
  if [[ ! -f $PG_DATA/PG_VERSION ]]; then
    log "postgres: creating a private cluster in $PG_DATA"
    rm -rf "$PG_DATA"
    quiet pg_as "$bin/initdb" -D "$PG_DATA" --username="$user" --encoding=UTF8 --locale=C.UTF-8 \
      --auth-local=peer --auth-host=scram-sha-256 || die "postgres: initdb failed"
    printf "\n# Local settings written by scripts/infra.sh (regenerated on every start).\ninclude_if_exists = 'surge.conf'\n" |
      pg_as tee -a "$PG_DATA/postgresql.conf" >/dev/null
  fi
  local sock
  sock=$(pg_socket_dir)
  pg_as mkdir -p "$sock"
  # Durability settings stay at PostgreSQL's defaults (fsync, synchronous_commit,
  # full_page_writes on) so that throughput measured against this server is honest.
  pg_as tee "$PG_DATA/surge.conf" >/dev/null <<EOF
listen_addresses = '$HOST'
port = $POSTGRES_PORT
unix_socket_directories = '$sock'
max_connections = 300
password_encryption = 'scram-sha-256'
logging_collector = off
log_line_prefix = '%m [%p] %q%u@%d '
EOF
}

pg_psql_admin() {
  pg_as "$(pg_bin)/psql" -X -q -v ON_ERROR_STOP=1 -h "$(pg_socket_dir)" -p "$POSTGRES_PORT" \
    -U "$(pg_os_user)" -d postgres "$@"
}

pg_provision() {
  quiet pg_psql_admin <<'SQL' || die "postgres: could not create role/database surge"
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'surge') THEN
    CREATE ROLE surge LOGIN CREATEDB SUPERUSER PASSWORD 'surge';
  ELSE
    ALTER ROLE surge LOGIN CREATEDB SUPERUSER PASSWORD 'surge';
  END IF;
END
$$;
SELECT 'CREATE DATABASE surge OWNER surge'
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'surge')\gexec
SQL
  # The check that matters: the app URL works over TCP with a password.
  PGPASSWORD=surge PGCONNECT_TIMEOUT=5 quiet "$(pg_bin)/psql" -X -q -v ON_ERROR_STOP=1 \
    -h "$HOST" -p "$POSTGRES_PORT" -U surge -d surge -c 'SELECT 1' 9>&- ||
    die "postgres: cannot connect as surge to $HOST:$POSTGRES_PORT/surge"
}

pg_wait_ready() {
  local pid=$1 deadline=$((SECONDS + TIMEOUT))
  until "$(pg_bin)/pg_isready" -q -h "$HOST" -p "$POSTGRES_PORT" -t 2; do
    is_ours "$pid" "$PG_DATA" || {
      tail -n 30 "$PG_RUN/postgres.log" >&2 || true
      die "postgres: the server exited during start-up; log: $PG_RUN/postgres.log"
    }
    ((SECONDS < deadline)) || die "postgres: not ready within ${TIMEOUT}s; log: $PG_RUN/postgres.log" \
      "(\`scripts/infra.sh down postgres\` stops pid $pid)"
    sleep 0.3
  done
}

pg_require_free_port() {
  port_open "$POSTGRES_PORT" || return 0
  local hint=""
  if command -v pg_lsclusters >/dev/null 2>&1; then
    hint=" (Debian's clusters, version/name:port=status: $(pg_lsclusters -h 2>/dev/null |
      awk '{printf "%s/%s:%s=%s ", $1, $2, $3, $4}'))"
  fi
  require_free_ports "postgres$hint" "$POSTGRES_PORT"
}

postgres_up() {
  local pid bin t0=$SECONDS
  if pid=$(pg_pid); then
    pg_wait_ready "$pid"
    pg_provision
    log "postgres: already running (pid $pid) on $HOST:$POSTGRES_PORT"
    return 0
  fi
  pg_require_free_port
  pg_ensure_installed
  bin=$(pg_bin) || die "postgres: no PostgreSQL binaries for the data folder $PG_DATA"
  pg_require_free_port
  pg_init "$bin"
  log "postgres: starting PostgreSQL $(<"$PG_DATA/PG_VERSION") on $HOST:$POSTGRES_PORT"
  pg_as touch "$PG_RUN/postgres.log"
  quiet pg_as setsid "$bin/pg_ctl" -D "$PG_DATA" -l "$PG_RUN/postgres.log" -w -t "$TIMEOUT" start || {
    tail -n 30 "$PG_RUN/postgres.log" >&2 || true
    die "postgres: pg_ctl start failed; log: $PG_RUN/postgres.log"
  }
  pid=$(pg_pid) || die "postgres: started, but no server process found for $PG_DATA"
  pg_wait_ready "$pid"
  pg_provision
  log "postgres: ready (pid $pid) on $HOST:$POSTGRES_PORT in $((SECONDS - t0))s"
}

postgres_down() {
  local pid bin
  if pid=$(pg_pid); then
    bin=$(pg_bin)
    log "postgres: stopping pid $pid"
    if ! quiet pg_as "$bin/pg_ctl" -D "$PG_DATA" -m fast -w -t "$STOP_TIMEOUT" stop; then
      warn "postgres: fast shutdown did not finish; using immediate mode"
      quiet pg_as "$bin/pg_ctl" -D "$PG_DATA" -m immediate -w -t "$STOP_TIMEOUT" stop || true
    fi
    stop_pid postgres "$pid" "$PG_DATA"
    log "postgres: stopped"
  else
    log "postgres: not running"
  fi
}

postgres_status() {
  local pid addr="$HOST:$POSTGRES_PORT"
  if pid=$(pg_pid); then
    if "$(pg_bin)/pg_isready" -q -h "$HOST" -p "$POSTGRES_PORT" -t 2; then
      status_line postgres running "$pid" "$addr"
    else
      status_line postgres "not-ready" "$pid" "$addr"
      return 1
    fi
  else
    status_line postgres stopped - "$addr$(foreign_note postgres "$POSTGRES_PORT")"
    return 1
  fi
}

# ============================================================= prometheus ==

prometheus_bin() {
  command -v prometheus 2>/dev/null || { [[ -x /usr/bin/prometheus ]] && printf '/usr/bin/prometheus'; }
}

prometheus_ensure_installed() {
  prometheus_bin >/dev/null && return 0
  apt_install prometheus
  local bin pid
  bin=$(prometheus_bin) || die "prometheus: binary not found after installing the prometheus package"
  # The binary did not exist before, so any prometheus process now running was
  # started by the package's maintainer scripts: stop it and disable the unit.
  for pid in $(pids_of_exe "$(readlink -f "$bin")"); do
    log "prometheus: stopping the package's service (pid $pid) started by the install"
    if [[ -d /run/systemd/system ]]; then
      systemctl disable --now prometheus >/dev/null 2>&1 || true
    elif [[ -x /etc/init.d/prometheus ]]; then
      /etc/init.d/prometheus stop >/dev/null 2>&1 || true
    fi
    kill -TERM "$pid" 2>/dev/null || true
  done
  if [[ -d /run/systemd/system ]]; then
    systemctl disable prometheus >/dev/null 2>&1 || true
  elif command -v update-rc.d >/dev/null 2>&1; then
    update-rc.d prometheus disable >/dev/null 2>&1 || true
  fi
}

prometheus_pid() {
  local pid
  pid=$(read_pid "$PROM_RUN/prometheus.pid") || return 1
  is_ours "$pid" "$PROM_RUN/" || return 1
  printf '%s' "$pid"
}

prometheus_write_config() {
  mkdir -p "$PROM_RUN/data" "$PROM_RUN/targets"
  local job port
  for job in producer-svc:8080 consumer-svc:8081; do
    port=${job#*:}
    job=${job%%:*}
    [[ -e $PROM_RUN/targets/$job.json ]] && continue
    printf '[\n  { "targets": ["%s:%s"], "labels": { "job": "%s" } }\n]\n' "$HOST" "$port" "$job" \
      >"$PROM_RUN/targets/.$job.json.tmp"
    mv -f "$PROM_RUN/targets/.$job.json.tmp" "$PROM_RUN/targets/$job.json"
  done
  render "$TEMPLATES/prometheus.yml.in" "$PROM_RUN/prometheus.yml" \
    PORT="$PROMETHEUS_PORT" TARGETS_DIR="$PROM_RUN/targets" RULES_DIR="$RULES_DIR"
  if command -v promtool >/dev/null 2>&1; then
    quiet promtool check config "$PROM_RUN/prometheus.yml" ||
      die "prometheus: the generated configuration (or a rule file in $RULES_DIR) is invalid, see above"
  fi
}

prometheus_up() {
  local pid bin t0=$SECONDS
  if pid=$(prometheus_pid); then
    wait_http_ok prometheus "$pid" "$PROM_RUN/" "$PROMETHEUS_PORT" /-/ready "$PROM_RUN/prometheus.log"
    log "prometheus: already running (pid $pid) on http://$HOST:$PROMETHEUS_PORT"
    return 0
  fi
  require_free_ports prometheus "$PROMETHEUS_PORT"
  prometheus_ensure_installed
  bin=$(prometheus_bin)
  prometheus_write_config
  log "prometheus: starting $("$bin" --version 2>&1 | head -n 1 | awk '{print $3}') on http://$HOST:$PROMETHEUS_PORT"
  spawn "$PROM_RUN" "$PROM_RUN/prometheus.log" "$PROM_RUN/prometheus.pid" \
    "$bin" --config.file="$PROM_RUN/prometheus.yml" \
    --storage.tsdb.path="$PROM_RUN/data" --storage.tsdb.retention.time=7d \
    --web.listen-address="$HOST:$PROMETHEUS_PORT" --web.enable-lifecycle
  pid=$(read_pid "$PROM_RUN/prometheus.pid")
  wait_http_ok prometheus "$pid" "$PROM_RUN/" "$PROMETHEUS_PORT" /-/ready "$PROM_RUN/prometheus.log"
  log "prometheus: ready (pid $pid) on http://$HOST:$PROMETHEUS_PORT in $((SECONDS - t0))s;" \
    "scrape targets: $PROM_RUN/targets/*.json"
}

prometheus_down() {
  local pid
  if pid=$(prometheus_pid); then
    stop_pid prometheus "$pid" "$PROM_RUN/"
    log "prometheus: stopped"
  else
    log "prometheus: not running"
  fi
  rm -f "$PROM_RUN/prometheus.pid"
}

prometheus_status() {
  local pid addr="http://$HOST:$PROMETHEUS_PORT"
  if pid=$(prometheus_pid); then
    if [[ $(http_code "$PROMETHEUS_PORT" /-/ready) == 200 ]]; then
      status_line prometheus running "$pid" "$addr"
    else
      status_line prometheus "not-ready" "$pid" "$addr"
      return 1
    fi
  else
    status_line prometheus stopped - "$addr$(foreign_note prometheus "$PROMETHEUS_PORT")"
    return 1
  fi
}

# ================================================================= jaeger ==

jaeger_marker() {
  printf '%s %s (%s) %s\n' "$JAEGER_MODULE" "$JAEGER_VERSION" "$JAEGER_RELEASE" "$(go env GOVERSION 2>/dev/null)"
}

ensure_jaeger_bin() {
  command -v go >/dev/null 2>&1 ||
    die "jaeger: building Jaeger needs the Go toolchain (\`go\`, 1.24 or newer) on the PATH"
  if [[ -x $JAEGER_BIN && -f $JAEGER_BIN.version && $(cat "$JAEGER_BIN.version") == "$(jaeger_marker)" ]]; then
    return 0
  fi
  local build="$INFRA_DIR/jaeger-build" t0=$SECONDS gomod
  log "jaeger: building Jaeger $JAEGER_RELEASE ($JAEGER_MODULE@$JAEGER_VERSION) with $(go env GOVERSION);" \
    "the first build takes several minutes"
  mkdir -p "$build" "$BIN_DIR"
  gomod=$(cd "$build" && go mod download -json "$JAEGER_MODULE@$JAEGER_VERSION" |
    sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p') ||
    die "jaeger: could not download $JAEGER_MODULE@$JAEGER_VERSION from the Go module proxy"
  [[ -f $gomod ]] || die "jaeger: go.mod of $JAEGER_MODULE@$JAEGER_VERSION not found"
  # A module that requires Jaeger must repeat Jaeger's own replace directives
  # (they only apply in Jaeger's main module), else the build resolves
  # different versions than upstream tested.
  {
    printf '// Generated by scripts/infra.sh: builds %s@%s.\n' "$JAEGER_MODULE" "$JAEGER_VERSION"
    printf 'module surge.local/jaeger-build\n\n'
    sed -n 's/^go \([0-9.]*\)$/go \1/p' "$gomod" | head -n 1
    printf '\nrequire %s %s\n\n' "$JAEGER_MODULE" "$JAEGER_VERSION"
    awk '
      /^replace[[:space:]]*\($/ { inblock = 1; print; next }
      inblock { print; if ($0 ~ /^\)/) inblock = 0; next }
      /^replace[[:space:]]/ { print }
    ' "$gomod"
  } >"$build/go.mod"
  rm -f "$build/go.sum"
  (
    cd "$build"
    GOFLAGS="-mod=mod -buildvcs=false" quiet go build -trimpath \
      -ldflags "-X $JAEGER_MODULE/internal/version.latestVersion=$JAEGER_RELEASE" \
      -o "$JAEGER_BIN.tmp" "$JAEGER_MODULE/cmd/jaeger"
  ) || die "jaeger: go build of $JAEGER_MODULE/cmd/jaeger@$JAEGER_VERSION failed (output above)"
  mv -f "$JAEGER_BIN.tmp" "$JAEGER_BIN"
  jaeger_marker >"$JAEGER_BIN.version"
  log "jaeger: built $JAEGER_BIN in $((SECONDS - t0))s"
}

jaeger_pid() {
  local pid
  pid=$(read_pid "$JAEGER_RUN/jaeger.pid") || return 1
  is_ours "$pid" "$JAEGER_RUN/" || return 1
  printf '%s' "$pid"
}

jaeger_healthy() {
  [[ $(http_code "$JAEGER_QUERY_PORT" /) == 200 ]] && port_open "$JAEGER_OTLP_GRPC_PORT" &&
    port_open "$JAEGER_OTLP_HTTP_PORT"
}

jaeger_up() {
  local pid t0=$SECONDS
  if pid=$(jaeger_pid); then
    wait_http_ok jaeger "$pid" "$JAEGER_RUN/" "$JAEGER_QUERY_PORT" / "$JAEGER_RUN/jaeger.log"
    wait_port jaeger "$pid" "$JAEGER_RUN/" "$JAEGER_OTLP_GRPC_PORT" "$JAEGER_RUN/jaeger.log"
    log "jaeger: already running (pid $pid) on http://$HOST:$JAEGER_QUERY_PORT"
    return 0
  fi
  require_free_ports jaeger "$JAEGER_OTLP_GRPC_PORT" "$JAEGER_OTLP_HTTP_PORT" "$JAEGER_QUERY_PORT" \
    "$JAEGER_QUERY_GRPC_PORT" "$JAEGER_HEALTH_PORT"
  ensure_jaeger_bin
  mkdir -p "$JAEGER_RUN"
  render "$TEMPLATES/jaeger.yaml.in" "$JAEGER_RUN/jaeger.yaml" \
    OTLP_GRPC_PORT="$JAEGER_OTLP_GRPC_PORT" OTLP_HTTP_PORT="$JAEGER_OTLP_HTTP_PORT" \
    QUERY_PORT="$JAEGER_QUERY_PORT" QUERY_GRPC_PORT="$JAEGER_QUERY_GRPC_PORT" \
    HEALTH_PORT="$JAEGER_HEALTH_PORT"
  log "jaeger: starting Jaeger $JAEGER_RELEASE (in-memory storage)"
  spawn "$JAEGER_RUN" "$JAEGER_RUN/jaeger.log" "$JAEGER_RUN/jaeger.pid" \
    "$JAEGER_BIN" --config "$JAEGER_RUN/jaeger.yaml"
  pid=$(read_pid "$JAEGER_RUN/jaeger.pid")
  wait_http_ok jaeger "$pid" "$JAEGER_RUN/" "$JAEGER_QUERY_PORT" / "$JAEGER_RUN/jaeger.log"
  wait_port jaeger "$pid" "$JAEGER_RUN/" "$JAEGER_OTLP_GRPC_PORT" "$JAEGER_RUN/jaeger.log"
  wait_port jaeger "$pid" "$JAEGER_RUN/" "$JAEGER_OTLP_HTTP_PORT" "$JAEGER_RUN/jaeger.log"
  log "jaeger: ready (pid $pid) in $((SECONDS - t0))s: UI/API http://$HOST:$JAEGER_QUERY_PORT," \
    "OTLP gRPC $HOST:$JAEGER_OTLP_GRPC_PORT, OTLP HTTP $HOST:$JAEGER_OTLP_HTTP_PORT"
}

jaeger_down() {
  local pid
  if pid=$(jaeger_pid); then
    stop_pid jaeger "$pid" "$JAEGER_RUN/"
    log "jaeger: stopped"
  else
    log "jaeger: not running"
  fi
  rm -f "$JAEGER_RUN/jaeger.pid"
}

jaeger_status() {
  local pid addr="http://$HOST:$JAEGER_QUERY_PORT, OTLP gRPC $HOST:$JAEGER_OTLP_GRPC_PORT, OTLP HTTP $HOST:$JAEGER_OTLP_HTTP_PORT"
  if pid=$(jaeger_pid); then
    if jaeger_healthy; then
      status_line jaeger running "$pid" "$addr"
    else
      status_line jaeger "not-ready" "$pid" "$addr"
      return 1
    fi
  else
    status_line jaeger stopped - "$addr$(foreign_note jaeger "$JAEGER_QUERY_PORT")"
    return 1
  fi
}

# =============================================================== commands ==

status_line() {
  local pid=$3
  [[ $pid == - ]] || pid="pid $pid"
  printf '%-11s %-9s %-11s %s\n' "$1" "$2" "$pid" "$4"
}

foreign_note() {
  local other
  if port_open "$2"; then
    if other=$(other_infra_dir "$1"); then
      printf ' (port %s is in use by the %s, pid %s, of SURGE_INFRA_DIR=%s)' "$2" "$1" "${other%% *}" "${other#* }"
    else
      printf ' (port %s is in use by a process not started by this script)' "$2"
    fi
  fi
}

check_services() {
  local s ok known
  for s in "$@"; do
    ok=0
    for known in "${ALL_SERVICES[@]}"; do [[ $s == "$known" ]] && ok=1; done
    ((ok)) || die "unknown service '$s' (known: ${ALL_SERVICES[*]})"
  done
}

cmd_up() {
  local services=("$@") s t0=$SECONDS
  ((${#services[@]})) || services=("${DEFAULT_UP[@]}")
  check_services "${services[@]}"
  take_lock
  mkdir -p "$RUN_DIR" "$BIN_DIR"
  for s in "${services[@]}"; do
    "${s}_up"
  done
  log "up: ${services[*]} ready in $((SECONDS - t0))s (\`scripts/infra.sh env\` prints the addresses)"
}

cmd_down() {
  local services=("$@") s
  ((${#services[@]})) || services=(jaeger prometheus kafka postgres)
  check_services "${services[@]}"
  take_lock
  for s in "${services[@]}"; do
    "${s}_down"
  done
}

# With no argument: every service, exit 0. With services named: exit 3 when
# one of them is not running (handy for `status kafka postgres || up`).
cmd_status() {
  local services=("$@") s rc=0
  if ((${#services[@]})); then
    check_services "${services[@]}"
  else
    services=("${ALL_SERVICES[@]}")
  fi
  for s in "${services[@]}"; do
    "${s}_status" || rc=3
  done
  (($# == 0)) || return "$rc"
}

cmd_env() {
  local kv
  for kv in \
    "SURGE_INFRA_DIR=$INFRA_DIR" \
    "SURGE_KAFKA_BOOTSTRAP=$HOST:$KAFKA_PORT" \
    "SURGE_KAFKA_FAULT_LISTENER=$HOST:$KAFKA_FAULT_PORT" \
    "SURGE_KAFKA_FAULT_BOOTSTRAP=$HOST:$KAFKA_FAULT_ADVERTISED_PORT" \
    "SURGE_KAFKA_TOPIC=orders" \
    "SURGE_KAFKA_DLQ_TOPIC=orders.dlq" \
    "KAFKA_VERSION=$KAFKA_VERSION" \
    "KAFKA_LIB=$KAFKA_LIB" \
    "KAFKA_TOOLS_LOG4J=$TEMPLATES/kafka-tools-log4j2.properties" \
    "SURGE_DATABASE_ADMIN_URL=postgres://surge:surge@$HOST:$POSTGRES_PORT/postgres" \
    "SURGE_DATABASE_URL=postgres://surge:surge@$HOST:$POSTGRES_PORT/surge" \
    "SURGE_PROMETHEUS_URL=http://$HOST:$PROMETHEUS_PORT" \
    "SURGE_PROMETHEUS_TARGETS_DIR=$PROM_RUN/targets" \
    "SURGE_JAEGER_URL=http://$HOST:$JAEGER_QUERY_PORT" \
    "SURGE_OTLP_ENDPOINT=http://$HOST:$JAEGER_OTLP_HTTP_PORT" \
    "SURGE_OTLP_HTTP_ENDPOINT=http://$HOST:$JAEGER_OTLP_HTTP_PORT" \
    "SURGE_OTLP_GRPC_ENDPOINT=http://$HOST:$JAEGER_OTLP_GRPC_PORT"; do
    printf 'export %s=%q\n' "${kv%%=*}" "${kv#*=}"
  done
}

cmd_kafka_tool() {
  (($#)) || die "usage: scripts/infra.sh kafka-tool CLASS [ARGS...]  (e.g. org.apache.kafka.tools.ProducerPerformance)"
  local class=$1 opts=()
  shift
  # A bare name means a class of org.apache.kafka.tools (TopicCommand, ProducerPerformance, ...).
  [[ $class == *.* ]] || class="org.apache.kafka.tools.$class"
  if [[ ! -f $KAFKA_LIB/.complete || $(cat "$KAFKA_LIB/.complete") != "$(kafka_lib_marker)" ]]; then
    take_lock
    ensure_kafka_lib
    exec 9>&-
  fi
  ensure_java
  read -r -a opts <<<"$KAFKA_TOOL_OPTS"
  exec java "${opts[@]}" -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$TEMPLATES/kafka-tools-log4j2.properties" \
    -cp "$KAFKA_LIB/*" "$class" "$@"
}

usage() {
  cat <<EOF
Local infrastructure for surge (everything under $INFRA_DIR).

Usage:
  scripts/infra.sh up [SERVICE...]         start services (default: ${DEFAULT_UP[*]})
  scripts/infra.sh down [SERVICE...]       stop services started by this script (default: all)
  scripts/infra.sh status [SERVICE...]     one line per service; with services named,
                                           exits 3 unless all of them are running
  scripts/infra.sh env                     export lines: eval "\$(scripts/infra.sh env)"
  scripts/infra.sh kafka-tool CLASS ARGS   run a Kafka tool class with the cached jars; a bare
                                           class name means org.apache.kafka.tools.CLASS

Services: ${ALL_SERVICES[*]}
  kafka       Apache Kafka $KAFKA_VERSION, KRaft single node; $HOST:$KAFKA_PORT (PLAINTEXT),
              $HOST:$KAFKA_CONTROLLER_PORT (CONTROLLER), $HOST:$KAFKA_FAULT_PORT (FAULT, advertised as
              $HOST:$KAFKA_FAULT_ADVERTISED_PORT for a test's own TCP proxy); topics: $KAFKA_TOPICS
  postgres    PostgreSQL (Debian package), private cluster on $HOST:$POSTGRES_PORT,
              role/password surge/surge, database surge
  prometheus  Prometheus (Debian package) on http://$HOST:$PROMETHEUS_PORT, scrape targets
              from $PROM_RUN/targets/*.json
  jaeger      Jaeger $JAEGER_RELEASE built from Go module $JAEGER_MODULE@$JAEGER_VERSION,
              in-memory; UI/API :$JAEGER_QUERY_PORT, OTLP gRPC :$JAEGER_OTLP_GRPC_PORT, OTLP HTTP :$JAEGER_OTLP_HTTP_PORT

Environment (defaults in brackets):
  SURGE_INFRA_DIR [<repo>/.cache]   downloads, builds and the run folder
  SURGE_INFRA_TIMEOUT [90]          seconds a service may take to become ready
  SURGE_INFRA_STOP_TIMEOUT [30]     seconds between SIGTERM and SIGKILL
  SURGE_KAFKA_PORT [9092] SURGE_KAFKA_CONTROLLER_PORT [9093]
  SURGE_KAFKA_FAULT_PORT [9094] SURGE_KAFKA_FAULT_ADVERTISED_PORT [19094]
  SURGE_KAFKA_TOPICS ["orders:12 orders.dlq:3"]   NAME:PARTITIONS created when missing
  SURGE_KAFKA_HEAP_OPTS [-Xmx768m]  broker heap; SURGE_KAFKA_TOOL_OPTS [-Xmx1g] kafka-tool JVM options
  SURGE_POSTGRES_PORT [5432] SURGE_PROMETHEUS_PORT [9090]
  SURGE_JAEGER_OTLP_GRPC_PORT [4317] SURGE_JAEGER_OTLP_HTTP_PORT [4318]
  SURGE_JAEGER_QUERY_PORT [16686] SURGE_JAEGER_QUERY_GRPC_PORT [16685] SURGE_JAEGER_HEALTH_PORT [13133]
EOF
}

main() {
  local cmd=${1:-help}
  (($#)) && shift
  case $cmd in
    up) cmd_up "$@" ;;
    down) cmd_down "$@" ;;
    status) cmd_status "$@" ;;
    env) cmd_env ;;
    kafka-tool) cmd_kafka_tool "$@" ;;
    help | -h | --help) usage ;;
    *)
      usage >&2
      die "unknown command '$cmd'"
      ;;
  esac
}

main "$@"
