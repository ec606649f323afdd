#!/usr/bin/env bash
# Ingest throughput and latency, side by side with Kafka's own producer perf tool on the
# same broker in the same run (the anchor). Prints figures and the ratio.
#
#   scripts/bench-ingest.sh [DURATION_SECONDS] [CONNECTIONS]
#
#   SURGE_BENCH_BIN_DIR=target/debug   use the producer-svc already built there (no build)
#   SURGE_BENCH_ANCHOR_RECORDS=500000  records the anchor sends
#   SURGE_BENCH_PORT=18080             producer-svc's port
#
# The anchor (ProducerPerformance: acks=all, idempotent, linger 5 ms like producer-svc's
# batching lane) sends records of the size of the order events producer-svc wrote in this run. The last
# line, `bench: what=ingest …`, carries every figure for scripts/bench.sh.
# Needs `wrk` (installed from Debian if missing). Uses a fresh 12-partition topic.
set -Eeuo pipefail
ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
source scripts/bench/lib.sh
DURATION=${1:-20}
CONNECTIONS=${2:-64}
PORT=${SURGE_BENCH_PORT:-18080}
ANCHOR_RECORDS=${SURGE_BENCH_ANCHOR_RECORDS:-500000}
RUN="$ROOT/.cache/run/bench"
mkdir -p "$RUN"

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
infra_started=()
scripts/infra.sh status kafka | grep -q ' running ' || infra_started+=(kafka)
cleanup() {
  stop_producer
  ((${#infra_started[@]})) && scripts/infra.sh down "${infra_started[@]}"
  true
}
trap cleanup EXIT
scripts/infra.sh up kafka
eval "$(scripts/infra.sh env)"
if [[ -n ${SURGE_BENCH_BIN_DIR:-} ]]; then
  BIN_DIR=$(cd "$SURGE_BENCH_BIN_DIR" && pwd)
else
  cargo build --release --locked -p producer-svc
  BIN_DIR="$ROOT/target/release"
fi

topic="bench-$(date +%s)"
create_bench_topic "$topic"
start_producer "$BIN_DIR/producer-svc" "$PORT" "$topic" "$RUN/producer-svc.log"
ready_ms=$producer_ready_ms
rss_idle=$(awk '/VmRSS/ {print $2}' "/proc/$producer_pid/status")

echo "== one POST at a time (100 sequential requests, keep-alive)"
single=$(PORT=$PORT python3 - <<'PY'
import http.client, json, os, statistics, time
c = http.client.HTTPConnection("127.0.0.1", int(os.environ["PORT"]))
lat = []
for i in range(100):
    body = json.dumps({"sku": "FLASH-1", "quantity": 1, "customer_id": f"single-{i}"})
    t = time.perf_counter()
    c.request("POST", "/v1/orders", body, {"content-type": "application/json"})
    r = c.getresponse(); r.read()
    lat.append((time.perf_counter() - t) * 1000)
    assert r.status == 202, r.status
lat.sort()
print(f"single POST->202: p50 {lat[49]:.2f} ms, p99 {lat[98]:.2f} ms, mean {statistics.mean(lat):.2f} ms")
PY
)
echo "$single"

# One record as producer-svc wrote it: its value's size is the anchor's record size.
record=$(scripts/infra.sh kafka-tool org.apache.kafka.tools.consumer.ConsoleConsumer --bootstrap-server "$SURGE_KAFKA_BOOTSTRAP" \
  --topic "$topic" --from-beginning --max-messages 1 --timeout-ms 20000 2>/dev/null | head -n 1)
record_size=$(printf '%s' "$record" | wc -c)
((record_size > 0)) || { echo "could not read back a record from $topic" >&2; exit 1; }

echo "== anchor: Kafka ProducerPerformance, acks=all, idempotent, linger 5 ms, ${record_size}-byte records (producer-svc's event size), $ANCHOR_RECORDS records"
anchor=$(scripts/infra.sh kafka-tool org.apache.kafka.tools.ProducerPerformance --topic "$topic" \
  --num-records "$ANCHOR_RECORDS" --record-size "$record_size" --throughput -1 \
  --producer-props bootstrap.servers="$SURGE_KAFKA_BOOTSTRAP" acks=all enable.idempotence=true linger.ms=5 2>/dev/null | tail -n 1)
echo "$anchor"
anchor_rate=$(sed -E 's/.* ([0-9.]+) records\/sec.*/\1/' <<<"$anchor")
anchor_p99=$(sed -E 's/.* ([0-9.]+) ms 99th.*/\1/' <<<"$anchor")

# The anchor for an order at rest: Kafka's Java producer sending one record at a time
# (10/s, no linger), its latency from send to acknowledgement, in whole ms (the p50: its
# p99 is the first record's, which waits for the connection).
echo "== anchor: ProducerPerformance at 10 records/s, linger 0 (one record at a time)"
lone_anchor=$(scripts/infra.sh kafka-tool org.apache.kafka.tools.ProducerPerformance --topic "$topic" \
  --num-records 60 --record-size "$record_size" --throughput 10 \
  --producer-props bootstrap.servers="$SURGE_KAFKA_BOOTSTRAP" acks=all enable.idempotence=true linger.ms=0 2>/dev/null | tail -n 1)
echo "$lone_anchor"
lone_anchor_p50=$(sed -E 's/.* ([0-9.]+) ms 50th.*/\1/' <<<"$lone_anchor")

echo "== wrk: ${DURATION}s, ${CONNECTIONS} connections, 2 threads (closed loop, max throughput)"
wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" --latency -s scripts/bench/post-orders.lua http://127.0.0.1:$PORT | tee "$RUN/wrk.txt"
rate=$(awk '/^Requests\/sec/ {print $2}' "$RUN/wrk.txt")
p99=$(sed -nE 's/.*p99 ([0-9.]+) ms.*/\1/p' "$RUN/wrk.txt")
non202=$(awk '/^status / && $2 != "202:" {s += $3} END {print s + 0}' "$RUN/wrk.txt")
rss_peak=$(awk '/VmHWM/ {print $2}' "/proc/$producer_pid/status")

echo
echo "== summary"
echo "anchor (ProducerPerformance): ${anchor_rate} records/s"
echo "surge POST /v1/orders:        ${rate} requests/s"
ratio=$(python3 -c "import sys; print(f'{float(sys.argv[2]) / float(sys.argv[1]):.3f}')" "$anchor_rate" "$rate")
echo "ratio surge/anchor: $ratio"
echo "producer-svc start to ready: ${ready_ms} ms (process start until /readyz answered 200, broker already up)"
echo "producer-svc RSS idle: $((rss_idle / 1024)) MiB, peak: $((rss_peak / 1024)) MiB"
single_p50=$(sed -E 's/.*p50 ([0-9.]+) ms.*/\1/' <<<"$single")
single_p99=$(sed -E 's/.*p99 ([0-9.]+) ms.*/\1/' <<<"$single")
echo "bench: what=ingest connections=$CONNECTIONS duration_s=$DURATION req_per_s=$rate p99_ms=$p99 non_202=$non202" \
  "anchor_per_s=$anchor_rate anchor_p99_ms=$anchor_p99 record_bytes=$record_size ratio=$ratio" \
  "single_p50_ms=$single_p50 single_p99_ms=$single_p99 single_anchor_p50_ms=$lone_anchor_p50 ready_ms=$ready_ms rss_idle_kib=$rss_idle rss_peak_kib=$rss_peak"
