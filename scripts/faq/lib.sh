# shellcheck shell=bash
# What the FAQ's measurement scripts share; each sources it right after `set -Eeuo pipefail`.
# Messages start with the script's name (partitions, brokers, ...).

FAQ_NAME=$(basename -- "$0" .sh)

say() { printf '\n==> %s\n' "$*"; }
fail() { echo "$FAQ_NAME: $*" >&2; exit 1; }
# The script's header comment, from its second line to `set -E...`, as its --help.
print_help() { sed -n '2,/^set -E/p' "$0" | sed '$d; s/^# \{0,1\}//'; }

# need_bins BIN...: each is an executable in $BIN_DIR, which becomes an absolute path.
need_bins() {
  local b
  for b in "$@"; do
    [[ -x $BIN_DIR/$b ]] || fail "$BIN_DIR/$b is missing (cargo build -p $b, or --bin-dir)"
  done
  BIN_DIR=$(cd "$BIN_DIR" && pwd)
}

# wait_http URL SECONDS [POLL_SECONDS]: until URL answers 2xx; WAIT_HINT, when set, is
# added to the failure (where the logs are).
wait_http() {
  local deadline=$((SECONDS + $2))
  until curl -fs -o /dev/null "$1"; do
    ((SECONDS < deadline)) || fail "$1 not ready after $2 s${WAIT_HINT:+ ($WAIT_HINT)}"
    sleep "${3:-0.5}"
  done
}
