#!/usr/bin/env bash
# Local real infrastructure for surge: an Apache Kafka broker (KRaft, one
# node), PostgreSQL, and on request Prometheus, Jaeger and whatever else has a
# recipe in scripts/infra/<service>/. Everything is downloaded, built and run
# under $SURGE_INFRA_DIR (default <repo>/.cache, git-ignored) by one
# supervisord per folder; nothing is installed system-wide except Debian
# packages when they are missing. `scripts/infra.sh help` lists the commands
# and the environment; scripts/infra/lib.sh is what recipes may use.
#
# `up` is idempotent: a service that already runs is left alone (only its
# readiness check and provisioning run again). `down` stops only programs of
# this folder's supervisord, and supervisord itself once nothing is left.

set -Eeuo pipefail
trap 'printf "[infra] error: %s failed (exit %s) at %s line %s\n" "$BASH_COMMAND" "$?" "${BASH_SOURCE[0]}" "$LINENO" >&2' ERR

# shellcheck source=scripts/infra/lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/infra/lib.sh"

# Services known here are the recipe folders; these go first, in this order
# (start order; `down` goes the other way), the others follow alphabetically.
readonly PREFERRED_ORDER=(kafka postgres prometheus jaeger)
readonly DEFAULT_UP=(kafka postgres)

ALL_SERVICES=()
for svc in "${PREFERRED_ORDER[@]}"; do
  [[ -f $RECIPES_DIR/$svc/recipe.sh ]] && ALL_SERVICES+=("$svc")
done
for recipe in "$RECIPES_DIR"/*/recipe.sh; do
  svc=$(basename -- "$(dirname -- "$recipe")")
  [[ " ${PREFERRED_ORDER[*]} " == *" $svc "* ]] || ALL_SERVICES+=("$svc")
done
readonly ALL_SERVICES
for svc in "${ALL_SERVICES[@]}"; do
  # shellcheck source=/dev/null
  source "$RECIPES_DIR/$svc/recipe.sh"
done
unset svc recipe

# Serialises `up` and `down` between concurrent callers (tests started in
# parallel). supervisord is started with fd 9 closed, so it never holds the lock.
take_lock() {
  mkdir -p "$INFRA_DIR"
  exec 9>"$INFRA_DIR/.infra.lock"
  if ! flock -n 9; then
    log "another scripts/infra.sh up/down is running; waiting for it"
    flock -w 900 9 || die "timed out waiting for the lock $INFRA_DIR/.infra.lock"
  fi
}

has_function() { declare -F "$1" >/dev/null; }

check_services() {
  local s
  for s in "$@"; do
    [[ " ${ALL_SERVICES[*]} " == *" $s "* ]] || die "unknown service '$s' (known: ${ALL_SERVICES[*]})"
  done
}

service_up() {
  local svc=$1 t0=$SECONDS state
  state=$(group_state "$svc")
  if [[ $state == running || $state == starting ]]; then
    # Already started (possibly still starting): wait for it, leave it alone.
    "${svc}_start"
    has_function "${svc}_provision" && "${svc}_provision"
    log "$svc: already running"
    return 0
  fi
  "${svc}_prepare"
  "${svc}_start"
  has_function "${svc}_provision" && "${svc}_provision"
  log "$svc: ready in $((SECONDS - t0))s"
}

cmd_up() {
  local services=("$@") s t0=$SECONDS
  ((${#services[@]})) || services=("${DEFAULT_UP[@]}")
  check_services "${services[@]}"
  take_lock
  mkdir -p "$RUN_DIR" "$BIN_DIR"
  for s in "${services[@]}"; do
    service_up "$s"
  done
  log "up: ${services[*]} ready in $((SECONDS - t0))s (\`scripts/infra.sh env\` prints the addresses)"
}

cmd_down() {
  local services=("$@") s i all
  if ((${#services[@]} == 0)); then
    for ((i = ${#ALL_SERVICES[@]} - 1; i >= 0; i--)); do services+=("${ALL_SERVICES[i]}"); done
  fi
  check_services "${services[@]}"
  take_lock
  if ! supervisor_answers; then
    log "down: nothing runs under $INFRA_DIR"
    return 0
  fi
  all=$(supervisor_status)
  for s in "${services[@]}"; do
    if [[ $(group_state "$s" "$all") == stopped ]]; then
      log "$s: not running"
    else
      stop_group "$s"
      log "$s: stopped"
    fi
  done
  supervisor_shutdown_if_idle
}

status_line() {
  printf '%-11s %-9s %-11s %s\n' "$1" "$2" "$3" "$4"
}

# With no argument: every service, exit 0. With services named: exit 3 when
# one of them is not running (handy for `status kafka postgres || up`).
cmd_status() {
  local services=("$@") s rc=0 all="" state pid where
  if ((${#services[@]})); then
    check_services "${services[@]}"
  else
    services=("${ALL_SERVICES[@]}")
  fi
  # One supervisorctl call for every line (each call starts a Python interpreter);
  # no socket, no supervisord: everything is stopped.
  [[ -S $SUPERVISOR_SOCKET ]] && all=$(supervisor_status)
  for s in "${services[@]}"; do
    state=$(group_state "$s" "$all")
    # The pid of the group's first program, as supervisorctl status shows it.
    pid=$(awk -v p="$(group_programs "$s" | sed -n 1p)" '$1 == p && $3 == "pid" { sub(/,$/, "", $4); print "pid " $4 }' <<<"$all")
    where=""
    has_function "${s}_describe" && where=$("${s}_describe")
    status_line "$s" "$state" "${pid:--}" "$where"
    [[ $state == running ]] || rc=3
  done
  # exit, not return: a non-zero return would trip the ERR trap's message.
  (($# == 0)) || exit "$rc"
}

cmd_env() {
  local s line
  printf 'export SURGE_INFRA_DIR=%q\n' "$INFRA_DIR"
  for s in "${ALL_SERVICES[@]}"; do
    has_function "${s}_env" || continue
    while IFS= read -r line; do
      [[ $line == *=* ]] || continue
      printf 'export %s=%q\n' "${line%%=*}" "${line#*=}"
    done < <("${s}_env")
  done
}

# The pid of one program (e.g. kafka3:kafka3-2), for fault scenarios that signal it.
cmd_pid() {
  (($# == 1)) || die "usage: scripts/infra.sh pid PROGRAM  (a name \`supervisorctl status\` shows, e.g. kafka3:kafka3-2)"
  supervisor_answers || die "pid: nothing runs under $INFRA_DIR"
  local pid
  pid=$(supervisor_ctl pid "$1" 2>/dev/null) || true
  [[ $pid =~ ^[1-9][0-9]*$ ]] || die "pid: $1 is not running (supervisorctl says: ${pid:-nothing})"
  echo "$pid"
}

# Stops or starts one supervised program: a fault scenario takes a node down to change
# something under it. `start` returns once supervisord runs it (or is already retrying
# it); readiness is the caller's to check.
cmd_program() {
  local action=${1:-} name=${2:-} state
  [[ $# -eq 2 && ($action == start || $action == stop) ]] ||
    die "usage: scripts/infra.sh program start|stop PROGRAM  (a name \`supervisorctl status\` shows, e.g. kafka3:kafka3-2)"
  supervisor_answers || die "program: nothing runs under $INFRA_DIR"
  read -r name state <<<"$(program_status "$name")"
  [[ $name != - ]] || die "program: supervisord has no program $2"
  # Done when the program is where the action leads (BACKOFF: supervisord is retrying it).
  reached() {
    case $action:$1 in
      start:RUNNING | start:STARTING | start:BACKOFF | stop:STOPPED | stop:EXITED | stop:FATAL) return 0 ;;
      *) return 1 ;;
    esac
  }
  reached "$state" && return 0
  quiet supervisor_ctl "$action" "$name" || die "program: supervisorctl $action $name failed (output above)"
  state=$(program_state "$name")
  reached "$state" || die "program: $name is $state after supervisorctl $action"
}

usage() {
  local s
  cat <<EOF
Local infrastructure for surge (everything under $INFRA_DIR, supervised by
supervisord: scripts/infra.sh status; logs under $RUN_DIR/<service>/).

Usage:
  scripts/infra.sh up [SERVICE...]         start services (default: ${DEFAULT_UP[*]})
  scripts/infra.sh down [SERVICE...]       stop services started by this script (default: all)
  scripts/infra.sh status [SERVICE...]     one line per service; with services named,
                                           exits 3 unless all of them are running
  scripts/infra.sh env                     export lines: eval "\$(scripts/infra.sh env)"
  scripts/infra.sh kafka-tool CLASS ARGS   run a Kafka tool class with the cached jars; a bare
                                           class name means org.apache.kafka.tools.CLASS
  scripts/infra.sh pid PROGRAM             the pid of one supervised program (kafka3:kafka3-2)
  scripts/infra.sh program start|stop PROGRAM   start or stop one supervised program

Services (versions: scripts/infra/versions.env):
EOF
  for s in "${ALL_SERVICES[@]}"; do
    printf '  %-11s %s\n' "$s" "$(has_function "${s}_describe" && "${s}_describe")"
  done
  cat <<EOF

Environment (defaults in brackets):
  SURGE_INFRA_DIR [<repo>/.cache]   downloads, builds and the run folder
  SURGE_INFRA_TIMEOUT [90]          seconds a program may take to become ready
  SURGE_INFRA_STOP_TIMEOUT [30]     seconds between the stop signal and SIGKILL
EOF
  for s in "${ALL_SERVICES[@]}"; do
    has_function "${s}_help" && "${s}_help"
  done
  return 0
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
    pid) cmd_pid "$@" ;;
    program) cmd_program "$@" ;;
    help | -h | --help) usage ;;
    *)
      usage >&2
      die "unknown command '$cmd'"
      ;;
  esac
}

main "$@"
