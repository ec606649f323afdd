#!/usr/bin/env bash
# Ingest latency along the load curve: POST→202 p50/p99 at each rate, open loop
# (loadgen), against one producer-svc on a fresh 12-partition topic. One loadgen run
# per rate, each with a profile of one phase written here; a short unreported warm-up
# at 200/s comes first. Prints one table (with the load average before each rate) and a
# last line `bench: what=curve …` with every figure.
#
#   scripts/bench-curve.sh [--short] [--bin-dir DIR] [--rates "10 100 1000"] [--seconds N]
#
#   --short        rates 10, 1000 and 5000/s for 3 s each (the CI run)
#   --bin-dir DIR  producer-svc and loadgen already built there (default: a release build)
#   --rates LIST   requests per second, space-separated (default 10 100 1000 5000 10000 20000)
#   --seconds N    phase length at 1000/s and above (default 10); below 1000/s a phase
#                  lasts long enough for SURGE_CURVE_MIN_SAMPLES requests (default 100),
#                  at least 3 s and at most N s
#
# Environment: SURGE__KAFKA__PROPERTIES__<name> and the other SURGE__ settings reach
# producer-svc, so a librdkafka setting can be compared without a rebuild
# (SURGE__KAFKA__PROPERTIES__LINGER_MS=5 scripts/bench-curve.sh). Asserts nothing on time.
set -Eeuo pipefail
ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
source scripts/bench/lib.sh

RATES="10 100 1000 5000 10000 20000"
PHASE_SECONDS=10
MIN_SAMPLES=${SURGE_CURVE_MIN_SAMPLES:-100}
BIN_DIR=
while (($#)); do
  case $1 in
    --short) RATES="10 1000 5000"; PHASE_SECONDS=3; MIN_SAMPLES=0 ;;
    --bin-dir) BIN_DIR=${2:?--bin-dir needs a directory}; shift ;;
    --rates) RATES=${2:?--rates needs a list}; shift ;;
    --seconds) PHASE_SECONDS=${2:?--seconds needs a number}; shift ;;
    -h | --help) sed -n '2,/^set -E/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench-curve: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
PORT=${SURGE_CURVE_PORT:-18083}
RUN="$ROOT/.cache/run/bench-curve"
rm -rf "$RUN"
mkdir -p "$RUN"

infra_started=()
scripts/infra.sh status kafka | grep -q ' running ' || infra_started+=(kafka)
cleanup() {
  stop_producer
  ((${#infra_started[@]})) && scripts/infra.sh down "${infra_started[@]}"
  true
}
trap cleanup EXIT
scripts/infra.sh up kafka >/dev/null
eval "$(scripts/infra.sh env)"
if [[ -z $BIN_DIR ]]; then
  cargo build --release --locked -p producer-svc -p loadgen
  BIN_DIR=target/release
fi
BIN_DIR=$(cd "$BIN_DIR" && pwd)
for b in producer-svc loadgen; do
  [[ -x $BIN_DIR/$b ]] || { echo "bench-curve: $BIN_DIR/$b is missing (cargo build -p $b, or --bin-dir)" >&2; exit 1; }
done

topic="bench-curve-$(date +%s)"
create_bench_topic "$topic"
start_producer "$BIN_DIR/producer-svc" "$PORT" "$topic" "$RUN/producer-svc.log"

# run_rate NAME RATE SECONDS: one loadgen run of one phase; results in $RUN/NAME.json.
run_rate() {
  cat >"$RUN/$1.yaml" <<EOF
# Written by scripts/bench-curve.sh: $2 orders/s for $3 s, all valid, no retries.
phases:
  - { name: r$2, rate: $2, duration_s: $3 }
mix:
  invalid_share: 0
  retry_share: 0
EOF
  "$BIN_DIR/loadgen" run --profile "$RUN/$1.yaml" --target "http://127.0.0.1:$PORT" \
    --results "$RUN/$1.json" --run-tag "curve-$1-$(date +%s)" >"$RUN/$1.log" 2>&1 || {
    cat "$RUN/$1.log" >&2
    echo "bench-curve: loadgen failed at $2/s" >&2
    exit 1
  }
}
phase_seconds() { # RATE
  awk -v r="$1" -v s="$PHASE_SECONDS" -v m="$MIN_SAMPLES" 'BEGIN {
    if (r >= 1000) { print s; exit }
    d = m / r; if (d != int(d)) d = int(d) + 1; if (d < 3) d = 3; if (d > s) d = s; print d }'
}

run_rate warmup 200 2
summary=()
rows=()
for rate in $RATES; do
  load=$(cut -d' ' -f1-3 /proc/loadavg)
  echo "bench-curve: ${rate}/s for $(phase_seconds "$rate") s, load average $load" >&2
  run_rate "$rate" "$rate" "$(phase_seconds "$rate")"
  row=$(python3 - "$RUN/$rate.json" <<'PY'
import json, sys
p = json.load(open(sys.argv[1]))["phase_stats"][0]
other = sum(v for k, v in p["statuses"].items() if k != "202")
print(p["sent"], p["accepted"], f'{p["p50_ms"]:.2f}', f'{p["p99_ms"]:.2f}', other)
PY
  )
  read -r sent accepted p50 p99 other <<<"$row"
  rows+=("$(printf '%8s | %7s | %7s | %7s | %7s | %s' "$rate" "$sent" "$accepted" "$p50" "$p99" "$load")")
  summary+=("r${rate}_sent=$sent r${rate}_202=$accepted r${rate}_p50_ms=$p50 r${rate}_p99_ms=$p99 r${rate}_other=$other")
done

echo
echo "== POST→202 along the load curve (open loop, loadgen; producer-svc from $BIN_DIR; $(nproc) cores)"
printf '%8s | %7s | %7s | %7s | %7s | %s\n' "rate/s" "sent" "202" "p50 ms" "p99 ms" "load average before"
printf '%8s-+-%7s-+-%7s-+-%7s-+-%7s-+-%s\n' "--------" "-------" "-------" "-------" "-------" "-------------------"
printf '%s\n' "${rows[@]}"
echo "bench: what=curve rates=${RATES// /,} ${summary[*]}"
