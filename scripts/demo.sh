#!/usr/bin/env bash
# The main job: a flash sale on local real infrastructure, with the consumers scaled on lag.
#
#   scripts/demo.sh                  full demo: the flash-sale profile once per autoscaler
#                                    mode (upstream HPA, then partition-aware), about 5 minutes
#   scripts/demo.sh --quick          one-minute version (upstream mode only) that asserts the
#                                    audit passed and the consumers scaled out and back in
#   options: --mode upstream|partition-aware|both   --debug (debug build, as CI uses)
#            --out DIR (default reports/demo-<time>)
#
# Starts Kafka, PostgreSQL, Prometheus and Jaeger (scripts/infra.sh), builds the binaries,
# starts producer-svc, lag-exporter and the local autoscaler (which runs the consumer-svc
# processes the shipped HPA asks for), runs loadgen's flash-sale profile while the scaling
# shows live, waits until the backlog is drained and the consumers are back at the minimum,
# audits PostgreSQL, checks that every dashboard query has data in Prometheus and that one
# order's trace is complete in Jaeger, writes the report, and stops everything it started.
set -Eeuo pipefail

ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

QUICK=0
MODES=""
PROFILE=release
OUT=""
while (($#)); do
  case $1 in
    --quick) QUICK=1 ;;
    --mode)
      MODES=${2:?--mode needs upstream, partition-aware or both}
      shift
      ;;
    --debug) PROFILE=debug ;;
    --out)
      OUT=${2:?--out needs a folder}
      shift
      ;;
    -h | --help)
      sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "demo: unknown argument $1 (see --help)" >&2
      exit 2
      ;;
  esac
  shift
done
case ${MODES:-default} in
  default) if ((QUICK)); then MODES=(upstream); else MODES=(upstream partition-aware); fi ;;
  both) MODES=(upstream partition-aware) ;;
  upstream | partition-aware) MODES=("$MODES") ;;
  *)
    echo "demo: --mode must be upstream, partition-aware or both, not $MODES" >&2
    exit 2
    ;;
esac

# --- the sale ---------------------------------------------------------------------------
# Baseline 50 orders/s, a 20x spike to 1000/s, baseline again. Each consumer is given a
# simulated downstream latency of 4 ms per order (consumer-svc's
# processing.simulated_latency_ms), so one consumer handles about 250 orders/s and the
# minimum of two cannot keep up with the spike: lag builds, the HPA scales out, the
# backlog drains, and after the scale-down stabilization window the HPA scales back in.
# --time-scale 10 runs the HPA's clock ten times faster (15 s sync period -> 1.5 s,
# 300 s scale-down stabilization -> 30 s).
BASE_RATE=50
SPIKE_MULTIPLIER=20
SIMULATED_LATENCY_MS=4
TIME_SCALE=10
HOT_SKU=FLASH-1
if ((QUICK)); then
  WARMUP=5 SPIKE=15 COOLDOWN=10 STOCK=500 SETTLE_TIMEOUT=150
else
  WARMUP=20 SPIKE=60 COOLDOWN=40 STOCK=2000 SETTLE_TIMEOUT=300
fi

PRODUCER_PORT=8080
CONSUMER_BASE_PORT=8081
LAG_EXPORTER_PORT=9308
AUTOSCALER_METRICS=127.0.0.1:9102
LOADGEN_METRICS=127.0.0.1:9103

OUT=${OUT:-reports/demo-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
LOGS="$OUT/logs"
mkdir -p "$LOGS"

say() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
fail() {
  printf '\033[31mdemo: %s\033[0m\n' "$*" >&2
  exit 1
}

pids=()
autoscaler_pid=""
infra_started=()
cleanup() {
  local code=$?
  trap - EXIT INT TERM
  stop_autoscaler
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if ((${#infra_started[@]})); then
    say "stopping ${infra_started[*]} (started by the demo)"
    scripts/infra.sh down "${infra_started[@]}" || true
  fi
  if ((code != 0)); then echo "demo: failed (exit $code); logs in $LOGS" >&2; fi
  exit "$code"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

stop_autoscaler() { # SIGTERM: the autoscaler stops its consumers gracefully, then exits
  [[ -n $autoscaler_pid ]] || return 0
  kill -TERM "$autoscaler_pid" 2>/dev/null || true
  wait "$autoscaler_pid" 2>/dev/null || true
  autoscaler_pid=""
}

wait_http() { # URL SECONDS
  local deadline=$((SECONDS + $2))
  until curl -fsS -o /dev/null "$1" 2>/dev/null; do
    ((SECONDS <= deadline)) || fail "timed out after $2 s waiting for $1"
    sleep 0.3
  done
}

metric() { # URL NAME: value of the first sample of NAME on a /metrics page
  curl -fsS "$1" 2>/dev/null | awk -v name="$2" '$1 == name || index($1, name "{") == 1 { print $2; exit }'
}

write_targets() { # JOB HOST:PORT...: a Prometheus file_sd target file
  local job=$1 list
  shift
  list=$(printf '"%s",' "$@")
  printf '[\n  { "targets": [%s], "labels": { "job": "%s" } }\n]\n' "${list%,}" "$job" \
    >"$SURGE_PROMETHEUS_TARGETS_DIR/.$job.json.tmp"
  mv -f "$SURGE_PROMETHEUS_TARGETS_DIR/.$job.json.tmp" "$SURGE_PROMETHEUS_TARGETS_DIR/$job.json"
}

# --- infrastructure -----------------------------------------------------------------------
say "infrastructure: Kafka, PostgreSQL, Prometheus, Jaeger (a first run downloads and builds them: minutes)"
for svc in kafka postgres prometheus jaeger; do
  scripts/infra.sh status "$svc" | grep -q ' running ' || infra_started+=("$svc")
done
scripts/infra.sh up kafka postgres prometheus jaeger
eval "$(scripts/infra.sh env)"

say "building producer-svc, consumer-svc, lag-exporter, autoscaler, loadgen ($PROFILE)"
build=(cargo build --locked -p producer-svc -p consumer-svc -p lag-exporter -p autoscaler -p loadgen)
[[ $PROFILE == release ]] && build+=(--release)
"${build[@]}"
BIN="$ROOT/target/$PROFILE"

export SURGE__KAFKA__BOOTSTRAP_SERVERS="$SURGE_KAFKA_BOOTSTRAP"
export SURGE__DATABASE__URL="$SURGE_DATABASE_URL"
export SURGE__OTLP__ENDPOINT="$SURGE_OTLP_ENDPOINT"

say "consumer-svc migrate; stock: $HOT_SKU $STOCK units (re-seeded before each run), SKU-A, SKU-B, TRACE-CHECK plenty"
"$BIN/consumer-svc" migrate
for sku in SKU-A SKU-B TRACE-CHECK; do "$BIN/consumer-svc" seed-stock --sku "$sku" --units 100000000; done

say "Prometheus scrape targets (scrape every 2 s): producer-svc, consumer-svc pods, lag-exporter, autoscaler, loadgen"
consumer_targets=()
for i in $(seq 0 11); do consumer_targets+=("127.0.0.1:$((CONSUMER_BASE_PORT + i))"); done
write_targets producer-svc "127.0.0.1:$PRODUCER_PORT"
write_targets consumer-svc "${consumer_targets[@]}"
write_targets lag-exporter "127.0.0.1:$LAG_EXPORTER_PORT"
write_targets autoscaler "$AUTOSCALER_METRICS"
write_targets loadgen "$LOADGEN_METRICS"

say "starting producer-svc on :$PRODUCER_PORT and lag-exporter on :$LAG_EXPORTER_PORT (logs in $LOGS)"
SURGE__HTTP__PORT=$PRODUCER_PORT "$BIN/producer-svc" >"$LOGS/producer-svc.log" 2>&1 &
pids+=($!)
SURGE__LAG_EXPORTER__PORT=$LAG_EXPORTER_PORT "$BIN/lag-exporter" >"$LOGS/lag-exporter.log" 2>&1 &
pids+=($!)
wait_http "http://127.0.0.1:$PRODUCER_PORT/readyz" 60
wait_http "http://127.0.0.1:$LAG_EXPORTER_PORT/metrics" 30

# The audit and the scaling figures assume the group starts without a backlog. Orders
# published to `orders` outside the demo (e.g. loadgen pointed at a local producer-svc
# with no consumer running) would be worked off first, and the sale's numbers with them.
backlog=$(curl -fsS "http://127.0.0.1:$LAG_EXPORTER_PORT/metrics" |
  awk '/^kafka_consumergroup_lag\{/ && /consumergroup="orders-processor"/ && /topic="orders"/ { s += $2 } END { print s + 0 }')
if ((backlog > 1000)); then
  fail "consumer group orders-processor is $backlog records behind on topic orders, from orders
  published outside the demo. Let consumers drain it first (start consumer-svc, see the README), or,
  if those orders do not matter, skip them:
    scripts/infra.sh kafka-tool org.apache.kafka.tools.consumer.group.ConsumerGroupCommand \\
      --bootstrap-server $SURGE_KAFKA_BOOTSTRAP --group orders-processor --topic orders \\
      --reset-offsets --to-latest --execute"
fi

# --- one sale per mode ----------------------------------------------------------------------
run_sale() { # MODE
  local mode=$1 dir="$OUT/$1" current lag deadline
  mkdir -p "$dir"
  say "[$mode] $HOT_SKU back to $STOCK units; autoscaler (mode $mode, time scale $TIME_SCALE) starts the consumers"
  "$BIN/consumer-svc" seed-stock --sku "$HOT_SKU" --units "$STOCK"
  SURGE__PROCESSING__SIMULATED_LATENCY_MS=$SIMULATED_LATENCY_MS \
    "$BIN/autoscaler" --consumer-bin "$BIN/consumer-svc" --hpa k8s/base/consumer-svc/hpa.yaml \
    --mode "$mode" --time-scale "$TIME_SCALE" --base-port "$CONSUMER_BASE_PORT" \
    --metrics-addr "$AUTOSCALER_METRICS" --log-dir "$LOGS/$mode-pods" --grace-period 30 \
    --timeline "$dir/autoscaler.csv" >"$LOGS/$mode-autoscaler.log" 2>&1 &
  autoscaler_pid=$!
  # The autoscaler's view, `kubectl get hpa -w` style, beside loadgen's per-second lines.
  # tail ends with the autoscaler (--pid), sed at tail's end of output.
  tail --pid="$autoscaler_pid" -n +1 -F "$LOGS/$mode-autoscaler.log" 2>/dev/null | sed -u 's/^/  hpa | /' &
  wait_http "http://$AUTOSCALER_METRICS/metrics" 60
  # minReplicas as the autoscaler read it from the manifest (global: the verdict uses it).
  min=$(metric "http://$AUTOSCALER_METRICS/metrics" surge_autoscaler_min_replicas)
  for i in $(seq 0 $((min - 1))); do wait_http "http://127.0.0.1:$((CONSUMER_BASE_PORT + i))/readyz" 90; done

  say "[$mode] flash sale: $BASE_RATE/s for ${WARMUP}s, $((BASE_RATE * SPIKE_MULTIPLIER))/s for ${SPIKE}s, $BASE_RATE/s for ${COOLDOWN}s"
  "$BIN/loadgen" flash-sale --target "http://127.0.0.1:$PRODUCER_PORT" \
    --base-rate "$BASE_RATE" --spike-multiplier "$SPIKE_MULTIPLIER" \
    --warmup "$WARMUP" --spike "$SPIKE" --cooldown "$COOLDOWN" --hot-sku "$HOT_SKU" \
    --autoscaler-metrics "http://$AUTOSCALER_METRICS/metrics" --metrics-addr "$LOADGEN_METRICS" \
    --results "$dir/results.json" | tee "$LOGS/$mode-loadgen.log"

  say "[$mode] waiting for the backlog to drain and the consumers to come back to $min"
  deadline=$((SECONDS + SETTLE_TIMEOUT))
  while :; do
    current=$(metric "http://$AUTOSCALER_METRICS/metrics" surge_autoscaler_current_replicas)
    lag=$(metric "http://$AUTOSCALER_METRICS/metrics" surge_autoscaler_consumergroup_lag)
    [[ $current == "$min" && $lag == 0 ]] && break
    if ((SECONDS > deadline)); then
      echo "demo: [$mode] still $current consumers and lag ${lag:-unknown} after ${SETTLE_TIMEOUT}s" >&2
      break
    fi
    sleep 1
  done

  say "[$mode] audit against PostgreSQL"
  local audit_status=0
  "$BIN/loadgen" audit --results "$dir/results.json" --sku "$HOT_SKU" --stock "$STOCK" \
    --wait 60 --out "$dir/audit.json" || audit_status=$?
  echo "$audit_status" >"$dir/audit.status"
}

for mode in "${MODES[@]}"; do
  run_sale "$mode"
  last_mode=$mode
  # The last mode's consumers keep running for the telemetry checks below.
  [[ $mode == "${MODES[-1]}" ]] || stop_autoscaler
done

# --- telemetry: dashboards and one trace, against the live tools -------------------------
say "every Grafana panel query against Prometheus ($SURGE_PROMETHEUS_URL)"
dashboards_status=0
python3 scripts/observability/dashboards.py live --prometheus "$SURGE_PROMETHEUS_URL" --strict \
  | tee "$OUT/dashboards-live.txt" || dashboards_status=$?

say "one order followed through Jaeger ($SURGE_JAEGER_URL)"
trace_status=0
python3 scripts/observability/trace_check.py --producer "http://127.0.0.1:$PRODUCER_PORT" \
  --jaeger "$SURGE_JAEGER_URL" | tee "$OUT/trace.txt" || trace_status=$?

say "[$last_mode] stopping the autoscaler and its consumers (SIGTERM: drain, commit, leave the group)"
stop_autoscaler

# --- report ---------------------------------------------------------------------------------
say "report"
run_dirs=()
for mode in "${MODES[@]}"; do run_dirs+=("$OUT/$mode"); done
"$BIN/loadgen" report --out "$OUT" "${run_dirs[@]}"

# --- verdict ----------------------------------------------------------------------------------
problems=()
for mode in "${MODES[@]}"; do
  [[ $(cat "$OUT/$mode/audit.status") == 0 ]] || problems+=("[$mode] the audit failed (see above)")
  # autoscaler.csv: unix_ms,lag,current,recommended,desired
  read -r peak last < <(awk -F, 'NR > 1 { if ($3 > peak) peak = $3; last = $3 } END { print peak + 0, last + 0 }' "$OUT/$mode/autoscaler.csv")
  echo "[$mode] consumers: min $min, peak $peak, at the end $last"
  ((peak > min)) || problems+=("[$mode] the consumers never scaled above the minimum ($min)")
  ((last == min)) || problems+=("[$mode] the consumers did not come back to the minimum ($min): $last")
done
((dashboards_status == 0)) || problems+=("a dashboard query returned no data or an error")
((trace_status == 0)) || problems+=("the trace in Jaeger is incomplete")

say "report: $OUT/report.md"
if ((${#problems[@]})); then
  printf 'demo: %s\n' "${problems[@]}" >&2
  exit 1
fi
echo "demo: audit passed, consumers scaled out and back in, every dashboard query has data, trace complete"
