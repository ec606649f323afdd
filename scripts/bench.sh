#!/usr/bin/env bash
# One benchmark run, one table: each figure of surge beside an anchor measured in the same
# run on the same broker and database.
#
#   scripts/bench.sh [--update-readme]       # release build, full counts (then about 5 minutes)
#   scripts/bench.sh --short [--bin-dir target/debug]
#                                            # binaries already built, small counts (3-4 min)
#
# - ingest: scripts/bench-ingest.sh (wrk closed loop against producer-svc) vs Kafka's
#   ProducerPerformance at acks=all with records of the same size, and one POST at a time;
# - ingest along the load curve: scripts/bench-curve.sh (open loop, POST→202 p50/p99 at
#   10 … 20 000 orders/s; --short: 10, 1 000 and 5 000/s);
# - consumer: the `one_consumer_throughput` benchmark of consumer-svc's tests (one
#   consumer, batches of 500, half confirmed, half sold out) vs Kafka's
#   ConsumerPerformance reading the same topic, and vs a plain batched INSERT of the same
#   rows into the same PostgreSQL (what the database takes when nothing is decided);
# - one hot SKU: `group_throughput_on_one_hot_sku`, groups of 1, 2 and 4 consumers,
#   without and with 1 ms of simulated downstream work per order, vs the group of one;
# - consumer-svc as a process: start to ready, RSS at ready and at its peak while it reads
#   the same topic again with a new group (every record then a duplicate);
# - image sizes: scripts/container-check.sh builds and runs both services' images from
#   the binaries measured here.
# It prints the table in Markdown (also left in .cache/run/bench/table.md) and asserts
# nothing about time; the load average is printed with it, since the machine may be
# shared. --update-readme writes the table into README.md between its
# `<!-- scripts/bench.sh -->` markers. Uses the running Kafka and PostgreSQL
# (scripts/infra.sh up), fresh topics and a fresh database.
set -Eeuo pipefail
ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

SHORT=0
BIN_DIR=
UPDATE_README=0
while (($#)); do
  case $1 in
    --short) SHORT=1 ;;
    --bin-dir) BIN_DIR=${2:?--bin-dir needs a directory}; shift ;;
    --update-readme) UPDATE_README=1 ;;
    -h | --help) sed -n '2,/^set -E/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
  shift
done
# The hot-SKU rates are taken between 10 % and 90 % of the rows, which land a batch (up
# to 500) at a time: with fewer than a few thousand orders one commit decides the figure.
if ((SHORT)); then
  BIN_DIR=${BIN_DIR:-target/debug}
  INGEST_SECONDS=5 INGEST_CONNECTIONS=64 ANCHOR_RECORDS=100000 ORDERS=20000 HOT_ORDERS=10000 SIMULATED_ORDERS=4000
  curve=(--short)
else
  INGEST_SECONDS=20 INGEST_CONNECTIONS=256 ANCHOR_RECORDS=500000 ORDERS=100000 HOT_ORDERS=50000 SIMULATED_ORDERS=20000
  curve=()
fi
RUN="$ROOT/.cache/run/bench"
mkdir -p "$RUN"
eval "$(scripts/infra.sh env)"
export SURGE_TEST_KAFKA_BOOTSTRAP="$SURGE_KAFKA_BOOTSTRAP" SURGE_TEST_DATABASE_ADMIN_URL="$SURGE_DATABASE_ADMIN_URL"
scripts/infra.sh status kafka postgres >/dev/null || {
  echo "Kafka and PostgreSQL must be running: scripts/infra.sh up" >&2
  exit 1
}

if [[ -z $BIN_DIR ]]; then
  cargo build --release --locked -p producer-svc -p consumer-svc -p loadgen
  BIN_DIR=target/release
fi
BIN_DIR=$(cd "$BIN_DIR" && pwd)
# The consumer benchmark lives in consumer-svc's test binary. In --short runs it is
# already built by `cargo test --workspace` and cargo only locates it (asking for the
# whole workspace keeps the features, and so the build, the same).
if [[ $(basename "$BIN_DIR") == release ]]; then
  tests=(--release -p consumer-svc --test api)
else
  tests=(--workspace)
fi
test_bin=$(cargo test "${tests[@]}" --locked --no-run --message-format=json 2>/dev/null |
  python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if (m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == "api"
            and "consumer-svc" in m["package_id"]):
        print(m["executable"])')
[[ -x $test_bin ]] || { echo "consumer-svc's test binary was not found" >&2; exit 1; }

consumer_pid=
database=
cleanup() {
  [[ -n $consumer_pid ]] && kill -TERM "$consumer_pid" 2>/dev/null && wait "$consumer_pid" 2>/dev/null
  [[ -n $database ]] && psql -q "$SURGE_DATABASE_ADMIN_URL" -c "DROP DATABASE IF EXISTS \"${database##*/}\" WITH (FORCE)" >/dev/null 2>&1
  true
}
trap cleanup EXIT
field() { sed -nE "s/.* $1=([^ ]+).*/\1/p" <<<" $2" | head -n 1; }
load_before=$(cut -d' ' -f1-3 /proc/loadavg)

echo "== ingest (scripts/bench-ingest.sh $INGEST_SECONDS $INGEST_CONNECTIONS)"
SURGE_BENCH_BIN_DIR="$BIN_DIR" SURGE_BENCH_ANCHOR_RECORDS=$ANCHOR_RECORDS \
  scripts/bench-ingest.sh "$INGEST_SECONDS" "$INGEST_CONNECTIONS" | tee "$RUN/ingest.txt"
ingest=$(grep '^bench: what=ingest' "$RUN/ingest.txt")

# Before the consumer benchmarks, while PostgreSQL has nothing to write back or vacuum.
echo "== ingest along the load curve (scripts/bench-curve.sh ${curve[*]})"
scripts/bench-curve.sh --bin-dir "$BIN_DIR" "${curve[@]}" | tee "$RUN/curve.txt"
curve_line=$(grep '^bench: what=curve' "$RUN/curve.txt")

echo "== consumer: one_consumer_throughput, $ORDERS orders"
SURGE_BENCH_ORDERS=$ORDERS SURGE_TEST_KEEP_DATABASES=1 RUST_LOG=warn \
  "$test_bin" --ignored --nocapture --exact throughput::one_consumer_throughput 2>&1 | tee "$RUN/consumer.txt"
topic_line=$(grep '^bench: what=topic' "$RUN/consumer.txt")
consumer=$(grep '^bench: what=consumer' "$RUN/consumer.txt")
ceiling=$(grep '^bench: what=db_ceiling' "$RUN/consumer.txt")
topic=$(field topic "$topic_line")
database=$(field database "$topic_line")

echo "== anchor: Kafka ConsumerPerformance on $topic"
scripts/infra.sh kafka-tool org.apache.kafka.tools.ConsumerPerformance --bootstrap-server "$SURGE_KAFKA_BOOTSTRAP" \
  --topic "$topic" --num-records "$ORDERS" --group "bench-perf-$(date +%s)" 2>/dev/null | tee "$RUN/consumer-perf.txt"
# Columns: start.time, end.time, MB, MB.sec, nMsg, nMsg.sec, rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec
perf_rate=$(awk -F', *' 'NF >= 10 && $6 ~ /^[0-9.]+$/ {print $10}' "$RUN/consumer-perf.txt" | tail -n 1)

echo "== consumer-svc process: start to ready, RSS, reading the topic again (duplicates)"
start_ns=$(date +%s%N)
env SURGE_CONFIG_DIR=/nonexistent-surge-config SURGE__HTTP__HOST=127.0.0.1 SURGE__HTTP__PORT=18081 \
  SURGE__KAFKA__BOOTSTRAP_SERVERS="$SURGE_KAFKA_BOOTSTRAP" SURGE__KAFKA__TOPIC="$topic" \
  SURGE__KAFKA__DLQ_TOPIC="$topic.dlq" SURGE__KAFKA__GROUP_ID="bench-replay-$(date +%s)" \
  SURGE__DATABASE__URL="$database" SURGE__LOG__LEVEL=warn \
  "$BIN_DIR/consumer-svc" >"$RUN/consumer-svc.log" 2>&1 &
consumer_pid=$!
ready_ms=
for _ in $(seq 3000); do
  if curl -fs -o /dev/null http://127.0.0.1:18081/readyz; then ready_ms=$((($(date +%s%N) - start_ns) / 1000000)); break; fi
  sleep 0.005
done
[[ -n $ready_ms ]] || { cat "$RUN/consumer-svc.log"; echo "consumer-svc never became ready" >&2; exit 1; }
rss_ready=$(awk '/VmRSS/ {print $2}' "/proc/$consumer_pid/status")
processed=0
for _ in $(seq 1200); do
  processed=$(curl -fs http://127.0.0.1:18081/metrics | awk '/^surge_orders_processed_total/ {s += $NF} END {printf "%d", s}')
  ((processed >= ORDERS)) && break
  sleep 0.1
done
sleep 2
rss_peak=$(awk '/VmHWM/ {print $2}' "/proc/$consumer_pid/status")
rss_after=$(awk '/VmRSS/ {print $2}' "/proc/$consumer_pid/status")
kill -TERM "$consumer_pid"
wait "$consumer_pid" || true
consumer_pid=

hot_sku() { # ORDERS SIMULATED_MS OUT
  SURGE_BENCH_ORDERS=$1 SURGE_BENCH_SIMULATED_MS=$2 SURGE_BENCH_CONSUMERS=1,2,4 RUST_LOG=warn \
    "$test_bin" --ignored --nocapture --exact throughput::group_throughput_on_one_hot_sku 2>&1 | tee "$3"
}
echo "== one hot SKU: groups of 1, 2 and 4 consumers, $HOT_ORDERS orders, no downstream work"
hot_sku "$HOT_ORDERS" 0 "$RUN/hot-sku.txt"
echo "== one hot SKU: the same with 1 ms of simulated downstream work per order, $SIMULATED_ORDERS orders"
hot_sku "$SIMULATED_ORDERS" 1 "$RUN/hot-sku-simulated.txt"

echo "== images: scripts/container-check.sh on the binaries of $BIN_DIR"
scripts/container-check.sh --bin-dir "$BIN_DIR" --service producer-svc --service consumer-svc | tee "$RUN/images.txt"
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

mib() { awk -v k="$1" 'BEGIN {printf "%.0f MiB", k / 1024}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b > 0) printf "%.2f", a / b; else print "n/a"}'; }
hot() { # FILE CONSUMERS FIELD
  field "$3" "$(grep "^bench: what=hot_sku consumers=$2 " "$1")"
}
image_size() { sed -nE "s|.*built localhost/surge/$1:check .*\(([^)]+)\)\$|\1|p" "$RUN/images.txt" | head -n 1; }
whole() { awk -v x="$1" 'BEGIN {printf "%.0f", x}'; }
c_rate=$(whole "$(field orders_per_s "$consumer")")
d_rate=$(whole "$(field rows_per_s "$ceiling")")
i_rate=$(whole "$(field req_per_s "$ingest")")
a_rate=$(whole "$(field anchor_per_s "$ingest")")
perf_rate=$(whole "$perf_rate")
row() { printf '| %s | %s | %s | %s |\n' "$@"; }
{
  if ((SHORT)); then
    echo -n "\`scripts/bench.sh --short\` ($(basename "$BIN_DIR") binaries, small counts)"
  else
    echo -n "\`scripts/bench.sh\` (release build, full counts)"
  fi
  echo " on $(date -u +%Y-%m-%d), $(nproc) cores, load average $load_before before, $load_after after:"
  echo
  row "what" "surge" "anchor (same run)" "surge/anchor"
  row "---" "---" "---" "---:"
  row "ingest closed loop (wrk), $INGEST_CONNECTIONS connections, ${INGEST_SECONDS} s" \
    "$i_rate req/s, p99 $(field p99_ms "$ingest") ms, $(field non_202 "$ingest") not 202" \
    "ProducerPerformance, acks=all, $(field record_bytes "$ingest") B records: $a_rate rec/s, p99 $(field anchor_p99_ms "$ingest") ms" \
    "$(ratio "$i_rate" "$a_rate")"
  row "ingest, one POST after another (100, keep-alive)" \
    "p50 $(field single_p50_ms "$ingest") ms, p99 $(field single_p99_ms "$ingest") ms" "" ""
  lone_anchor=$(field single_anchor_p50_ms "$ingest")
  for rate in $(field rates "$curve_line" | tr , ' '); do
    p50=$(field "r${rate}_p50_ms" "$curve_line")
    anchor="" vs=""
    if [[ $rate == "$(field rates "$curve_line" | cut -d, -f1)" ]]; then
      anchor="ProducerPerformance, one record at a time (10/s, linger 0): p50 $lone_anchor ms (whole ms)"
      vs="$(ratio "$p50" "$lone_anchor") (p50)"
    fi
    row "ingest open loop (loadgen) at $rate orders/s, POST→202" \
      "p50 $p50 ms, p99 $(field "r${rate}_p99_ms" "$curve_line") ms; $(field "r${rate}_202" "$curve_line") of $(field "r${rate}_sent" "$curve_line") answered 202" \
      "$anchor" "$vs"
  done
  row "consumer, 1 replica, $ORDERS orders, batches of 500" "$c_rate orders/s" \
    "ConsumerPerformance (fetch) on the same topic: $perf_rate msg/s" "$(ratio "$c_rate" "$perf_rate")"
  row "" "" "plain batched INSERT of the same rows: $d_rate rows/s" "$(ratio "$c_rate" "$d_rate")"
  for f in hot-sku hot-sku-simulated; do
    label="one hot SKU, groups of 2 / 4 consumers, $(hot "$RUN/$f.txt" 1 orders) orders"
    [[ $f == hot-sku ]] || label="$label, 1 ms of simulated work each"
    row "$label" "$(hot "$RUN/$f.txt" 2 orders_per_s) / $(hot "$RUN/$f.txt" 4 orders_per_s) orders/s" \
      "1 consumer: $(hot "$RUN/$f.txt" 1 orders_per_s) orders/s" "$(hot "$RUN/$f.txt" 2 ratio) / $(hot "$RUN/$f.txt" 4 ratio)"
  done
  row "producer-svc start to ready; RSS idle / peak" \
    "$(field ready_ms "$ingest") ms; $(mib "$(field rss_idle_kib "$ingest")") / $(mib "$(field rss_peak_kib "$ingest")")" "" ""
  row "consumer-svc start to ready; RSS ready / peak" \
    "$ready_ms ms; $(mib "$rss_ready") / $(mib "$rss_peak") ($(mib "$rss_after") after)" "" ""
  row "image size, producer-svc / consumer-svc ($(basename "$BIN_DIR") binaries)" \
    "$(image_size producer-svc) / $(image_size consumer-svc)" "" ""
  if ((processed < ORDERS)); then
    echo
    echo "The consumer-svc process read $processed of $ORDERS records before the bench gave up."
  fi
} >"$RUN/table.md"
echo
cat "$RUN/table.md"

if ((UPDATE_README)); then
  python3 - "$RUN/table.md" README.md <<'PY'
import sys
table, readme = open(sys.argv[1]).read(), open(sys.argv[2]).read()
begin, end = "<!-- scripts/bench.sh: begin -->\n", "<!-- scripts/bench.sh: end -->"
if begin not in readme or end not in readme:
    sys.exit("README.md has no <!-- scripts/bench.sh: begin --> … <!-- scripts/bench.sh: end --> markers")
head, rest = readme.split(begin, 1)
open(sys.argv[2], "w").write(head + begin + table + rest[rest.index(end):])
PY
  echo "README.md: the table between its scripts/bench.sh markers is now this run's"
fi
