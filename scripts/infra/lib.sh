# shellcheck shell=bash
# Helpers for the recipes in scripts/infra/<service>/recipe.sh, sourced by
# scripts/infra.sh before any recipe. Processes are supervised by one
# supervisord per infrastructure folder (socket, logs and programs under
# $RUN_DIR/supervisor/); a recipe only says how to prepare its programs, how
# to run them (supervisor.conf.in) and how to tell that they are ready.
#
#   log MSG / warn MSG / die MSG        messages to stderr; die exits 1
#   quiet CMD...                        output shown only when CMD fails
#   apt_install PKG...                  Debian packages, no service started
#   render TEMPLATE OUT NAME=VALUE...   fills @NAME@, fails on any left
#   port_open PORT / http_code PORT PATH
#   require_free_ports SVC PORT...      dies naming the port and its user
#   program_conf SVC NAME=VALUE...      SVC/supervisor.conf.in into supervisord
#   start_program PROGRAM CHECK...      start, then poll CHECK until ready
#   stop_group SVC                      stop SVC's programs, reverse order
#   group_state SVC                     running | starting | stopped | failed

HOST="127.0.0.1"
RECIPES_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd -- "$RECIPES_DIR/../.." && pwd)
INFRA_DIR=$(realpath -m -- "${SURGE_INFRA_DIR:-$REPO_ROOT/.cache}")
RUN_DIR="$INFRA_DIR/run"
BIN_DIR="$INFRA_DIR/bin"
# Seconds a program may take to become ready after supervisord started it.
TIMEOUT=${SURGE_INFRA_TIMEOUT:-90}
# Seconds between the stop signal and SIGKILL (supervisord's stopwaitsecs).
STOP_TIMEOUT=${SURGE_INFRA_STOP_TIMEOUT:-30}
readonly HOST RECIPES_DIR REPO_ROOT INFRA_DIR RUN_DIR BIN_DIR TIMEOUT STOP_TIMEOUT

SUPERVISOR_DIR="$RUN_DIR/supervisor"
SUPERVISOR_CONF="$SUPERVISOR_DIR/supervisord.conf"
# A unix socket address holds at most 107 bytes: a deep checkout gets its
# socket under /tmp, named after the infrastructure folder.
SUPERVISOR_SOCKET="$SUPERVISOR_DIR/supervisor.sock"
if ((${#SUPERVISOR_SOCKET} > 100)); then
  SUPERVISOR_SOCKET="/tmp/surge-supervisor-$(printf '%s' "$INFRA_DIR" | sha256sum | cut -c1-12).sock"
fi
readonly SUPERVISOR_DIR SUPERVISOR_CONF SUPERVISOR_SOCKET

# shellcheck source=scripts/infra/versions.env
source "$RECIPES_DIR/versions.env"

log() { printf '[infra] %s\n' "$*" >&2; }
warn() { printf '[infra] warning: %s\n' "$*" >&2; }
die() {
  printf '[infra] error: %s\n' "$*" >&2
  exit 1
}

is_root() { [[ $EUID -eq 0 ]]; }

CLEANUPS=()
run_cleanups() {
  local c
  for c in "${CLEANUPS[@]}"; do eval "$c" || true; done
}
trap run_cleanups EXIT

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

# Keeps a Debian package's own service stopped and off at boot (the
# policy-rc.d of apt_install only covers the install itself).
disable_package_service() {
  local name=$1
  if [[ -d /run/systemd/system ]]; then
    systemctl disable --now "$name" >/dev/null 2>&1 || true
  elif [[ -x /etc/init.d/$name ]]; then
    /etc/init.d/"$name" stop >/dev/null 2>&1 || true
    command -v update-rc.d >/dev/null 2>&1 && update-rc.d "$name" disable >/dev/null 2>&1
  fi
  return 0
}

# ------------------------------------------------------------ port users --

# The infrastructure folder named in a process's command line (a path
# before /run/<service>/), if any.
infra_dir_of_pid() {
  local cmdline
  cmdline=$(tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null) || return 1
  [[ $cmdline =~ (/[^ =]*)/run/[a-z0-9-]+/ ]] || return 1
  printf '%s' "${BASH_REMATCH[1]}"
}

# The supervisord that PID descends from (its pid), if any.
supervisord_ancestor() {
  local pid=$1 cmdline
  while [[ $pid =~ ^[0-9]+$ ]] && ((pid > 1)); do
    cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
    if [[ $cmdline == *supervisord* && $cmdline == */run/supervisor/supervisord.conf* ]]; then
      printf '%s' "$pid"
      return 0
    fi
    pid=$(awk '{print $4}' "/proc/$pid/stat" 2>/dev/null) || return 1
  done
  return 1
}

# One sentence about who listens on PORT (when `ss` can tell).
describe_port_user() {
  local port=$1 users pid dir sup
  command -v ss >/dev/null 2>&1 || {
    printf 'another process'
    return
  }
  users=$(ss -ltnpH "sport = :$port" 2>/dev/null | sed -n 's/.*users:((\(.*\)))/\1/p' | head -n 1)
  [[ $users =~ pid=([0-9]+) ]] || {
    printf 'another process%s' "${users:+ ($users)}"
    return
  }
  pid=${BASH_REMATCH[1]}
  if dir=$(infra_dir_of_pid "$pid"); then
    if sup=$(supervisord_ancestor "$pid"); then
      printf 'pid %s of another checkout (SURGE_INFRA_DIR=%s, supervisord pid %s); use it as it is or stop it with `SURGE_INFRA_DIR=%s scripts/infra.sh down`' \
        "$pid" "$dir" "$sup" "$dir"
    else
      printf 'pid %s, started for SURGE_INFRA_DIR=%s without supervisord (by an earlier scripts/infra.sh); stop that pid once' \
        "$pid" "$dir"
    fi
    return
  fi
  printf 'another process (%s), not one of scripts/infra.sh' "$users"
}

# Fails when one of the ports is already taken: callers only get here when
# their own programs are not running, so the listener is somebody else's.
require_free_ports() {
  local svc=$1 port
  shift
  for port in "$@"; do
    if port_open "$port"; then
      die "$svc: port $port on $HOST is already in use by $(describe_port_user "$port");" \
        "or choose other ports (see scripts/infra.sh help)"
    fi
  done
}

# ------------------------------------------------------------ supervisord --

supervisor_ctl() {
  supervisorctl -c "$SUPERVISOR_CONF" "$@" 9>&-
}

# `supervisorctl status [NAME...]` output; its exit status (3 when something
# is not running) is not an error here.
supervisor_status() {
  supervisor_ctl status "$@" 2>/dev/null || true
}

# True when our supervisord answers on its socket.
supervisor_answers() {
  # supervisord removes its socket when it stops: no socket, no need to ask.
  [[ -f $SUPERVISOR_CONF && -S $SUPERVISOR_SOCKET ]] || return 1
  local pid
  pid=$(supervisor_ctl pid 2>/dev/null) || return 1
  [[ $pid =~ ^[0-9]+$ ]]
}

# Starts this folder's supervisord unless it already answers. Never the
# system's service or /etc/supervisor: our own configuration, socket and logs.
supervisor_ensure() {
  supervisor_answers && return 0
  if ! command -v supervisord >/dev/null 2>&1; then
    apt_install supervisor
    disable_package_service supervisor
    command -v supervisord >/dev/null 2>&1 || die "supervisord not found after installing the supervisor package"
  fi
  mkdir -p "$SUPERVISOR_DIR/programs"
  render "$RECIPES_DIR/supervisord.conf.in" "$SUPERVISOR_CONF" \
    SUPERVISOR_DIR="$SUPERVISOR_DIR" SOCKET="$SUPERVISOR_SOCKET" \
    IDENTIFIER="surge-$(printf '%s' "$INFRA_DIR" | sha256sum | cut -c1-12)"
  log "supervisord: starting for $INFRA_DIR (log $SUPERVISOR_DIR/supervisord.log)"
  # supervisord forks into the background itself; fd 9 (the up/down lock) is
  # closed so that neither it nor its programs ever hold the lock.
  supervisord -c "$SUPERVISOR_CONF" </dev/null >>"$SUPERVISOR_DIR/supervisord.out" 2>&1 9>&- ||
    die "supervisord did not start; see $SUPERVISOR_DIR/supervisord.out and $SUPERVISOR_DIR/supervisord.log"
  wait_until 30 supervisor_answers ||
    die "supervisord does not answer on $SUPERVISOR_SOCKET; see $SUPERVISOR_DIR/supervisord.log"
}

# Stops supervisord when none of its programs is running any more.
supervisor_shutdown_if_idle() {
  supervisor_answers || return 0
  if supervisor_status | awk '{print $2}' | grep -qE '^(RUNNING|STARTING|BACKOFF|STOPPING)$'; then
    return 0
  fi
  log "supervisord: nothing left to supervise; stopping it"
  quiet supervisor_ctl shutdown || warn "supervisorctl shutdown failed"
  wait_until "$STOP_TIMEOUT" not supervisor_answers || warn "supervisord still answers after shutdown"
}

not() { ! "$@"; }

# Runs CMD... every 0.3 s until it succeeds (0) or SECONDS pass (1).
wait_until() {
  local limit=$1 deadline
  shift
  deadline=$((SECONDS + limit))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || return 1
    sleep 0.3
  done
}

# "NAME STATE" of PROGRAM, NAME being supervisord's full name ("group:program"
# or "program") and STATE RUNNING, STARTING, STOPPED, EXITED, FATAL, ... or
# "- UNKNOWN" when supervisord does not know it (or does not run).
program_status() {
  local want=$1
  supervisor_status | awk -v want="$want" '
    $1 == want || substr($1, length($1) - length(want)) == ":" want { print $1, $2; found = 1; exit }
    END { if (!found) print "- UNKNOWN" }'
}

program_state() {
  local status
  status=$(program_status "$1")
  printf '%s' "${status#* }"
}

program_pid() {
  local pid
  pid=$(supervisor_ctl pid "$1" 2>/dev/null) || return 1
  [[ $pid =~ ^[1-9][0-9]*$ ]] || return 1
  printf '%s' "$pid"
}

# The log file supervisord writes PROGRAM's output to.
program_log() {
  local short=${1#*:}
  awk -v section="[program:$short]" '
    $0 == section { inside = 1; next }
    /^\[/ { inside = 0 }
    inside && /^stdout_logfile *=/ { sub(/^stdout_logfile *= */, ""); print; exit }
  ' "$SUPERVISOR_DIR"/programs/*.conf 2>/dev/null
}

# Programs of group SVC in their start order (the group's `programs=` line,
# or the single [program:SVC]), full supervisord names.
group_programs() {
  local svc=$1 conf="$SUPERVISOR_DIR/programs/$1.conf" list p
  [[ -f $conf ]] || return 0
  list=$(sed -n 's/^programs *= *//p' "$conf" | head -n 1)
  if [[ -n $list ]]; then
    for p in ${list//,/ }; do printf '%s:%s\n' "$svc" "$p"; done
  else
    printf '%s\n' "$svc"
  fi
}

# running (all programs RUNNING), starting, failed (one FATAL/EXITED/BACKOFF
# while others run or it was meant to), or stopped.
group_state() {
  local svc=$1 p state running=0 other=0 failed=0 starting=0 all
  supervisor_answers || {
    printf 'stopped'
    return
  }
  all=$(supervisor_status)
  while read -r p; do
    [[ -n $p ]] || continue
    state=$(awk -v p="$p" '$1 == p { print $2 }' <<<"$all")
    case $state in
      RUNNING) running=$((running + 1)) ;;
      STARTING) starting=$((starting + 1)) ;;
      FATAL | BACKOFF) failed=$((failed + 1)) ;;
      *) other=$((other + 1)) ;;
    esac
  done < <(group_programs "$svc")
  if ((failed)); then
    printf 'failed'
  elif ((running && !other && !starting)); then
    printf 'running'
  elif ((running || starting)); then
    printf 'starting'
  else
    printf 'stopped'
  fi
}

# Renders scripts/infra/SVC/supervisor.conf.in into supervisord's program
# folder and lets supervisord (re)read it. HOST, RUN_DIR, INFRA_DIR, BIN_DIR,
# REPO_ROOT and STOP_TIMEOUT are always available as placeholders. A group
# that is running is left alone: a changed configuration applies after
# `down SVC`.
program_conf() {
  local svc=$1 out="$SUPERVISOR_DIR/programs/$1.conf" kv values=()
  shift
  # supervisord expands %(name)s in its files: a literal % must be doubled.
  for kv in HOST="$HOST" RUN_DIR="$RUN_DIR" INFRA_DIR="$INFRA_DIR" BIN_DIR="$BIN_DIR" \
    REPO_ROOT="$REPO_ROOT" STOP_TIMEOUT="$STOP_TIMEOUT" "$@"; do
    values+=("${kv//%/%%}")
  done
  supervisor_ensure
  mkdir -p "$RUN_DIR/$svc"
  render "$RECIPES_DIR/$svc/supervisor.conf.in" "$out.new" "${values[@]}"
  if [[ -f $out ]] && cmp -s "$out" "$out.new" && [[ -n $(supervisor_ctl avail 2>/dev/null | awk -v g="$svc" '$1 == g || index($1, g ":") == 1') ]]; then
    rm -f "$out.new"
    return 0
  fi
  if [[ -f $out ]] && [[ $(group_state "$svc") != stopped ]]; then
    warn "$svc: its configuration changed while it runs; it applies after \`scripts/infra.sh down $svc\`"
    rm -f "$out.new"
    return 0
  fi
  mv -f "$out.new" "$out"
  quiet supervisor_ctl reread || die "$svc: supervisord rejected $out (output above)"
  quiet supervisor_ctl update "$svc" || die "$svc: supervisorctl update $svc failed (output above)"
}

# Shows the end of PROGRAM's log and dies with MSG.
program_failed() {
  local name=$1 logfile
  shift
  logfile=$(program_log "$name")
  if [[ -n $logfile && -f $logfile ]]; then
    tail -n 30 "$logfile" >&2 || true
  fi
  die "$name: $*; log: ${logfile:-$SUPERVISOR_DIR/supervisord.log}"
}

# Starts PROGRAM (unless it runs already) and waits until CHECK... exits 0,
# polling every 0.3 s, for at most TIMEOUT seconds and only while PROGRAM
# stays RUNNING.
start_program() {
  local want=$1 name state deadline
  shift
  read -r name state <<<"$(program_status "$want")"
  [[ $name != - ]] || die "$want: supervisord has no such program (is it in a supervisor.conf.in passed to program_conf?)"
  if [[ $state != RUNNING ]]; then
    log "$name: starting"
    supervisor_ctl start "$name" >/dev/null 2>&1 || true
    state=$(program_state "$name")
    [[ $state == RUNNING ]] || program_failed "$name" "supervisord could not start it (state $state)"
  fi
  deadline=$((SECONDS + TIMEOUT))
  until "$@" >/dev/null 2>&1; do
    state=$(program_state "$name")
    [[ $state == RUNNING ]] || program_failed "$name" "left RUNNING (state $state) before it was ready"
    ((SECONDS < deadline)) || program_failed "$name" "not ready within ${TIMEOUT}s (check: $*)" \
      "(\`scripts/infra.sh down\` stops it)"
    sleep 0.3
  done
}

# Stops every program of group SVC, last started first; supervisorctl waits
# for each (stop signal, then SIGKILL after stopwaitsecs).
stop_group() {
  local svc=$1 programs=() p i state
  supervisor_answers || return 0
  mapfile -t programs < <(group_programs "$svc")
  for ((i = ${#programs[@]} - 1; i >= 0; i--)); do
    p=${programs[i]}
    state=$(program_state "$p")
    case $state in
      RUNNING | STARTING | BACKOFF | STOPPING)
        log "$p: stopping"
        quiet supervisor_ctl stop "$p" || true
        state=$(program_state "$p")
        [[ $state != RUNNING && $state != STOPPING ]] || die "$p: still $state after supervisorctl stop"
        ;;
    esac
  done
}
