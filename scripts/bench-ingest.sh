#!/usr/bin/env bash
# Ingest throughput and latency, side by side with Kafka's own producer perf tool on the
# same broker in the same run (the anchor). Prints figures and the ratio.
#
#   scripts/bench-ingest.sh [DURATION_SECONDS] [CONNECTIONS]
#
# Needs `wrk` (installed from Debian if missing). Uses a fresh 12-partition topic.
set -Eeuo pipefail
ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
DURATION=${1:-20}
CONNECTIONS=${2:-64}
RUN="$ROOT/.cache/run/bench"
mkdir -p "$RUN"

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
infra_started=()
scripts/infra.sh status kafka | grep -q ' running ' || infra_started+=(kafka)
producer_pid=
cleanup() {
  [[ -n "$producer_pid" ]] && kill -TERM "$producer_pid" 2>/dev/null && wait "$producer_pid" 2>/dev/null
  ((${#infra_started[@]})) && scripts/infra.sh down "${infra_started[@]}"
  true
}
trap cleanup EXIT
scripts/infra.sh up kafka
eval "$(scripts/infra.sh env)"
cargo build --release --locked -p producer-svc

topic="bench-$(date +%s)"
scripts/infra.sh kafka-tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$SURGE_KAFKA_BOOTSTRAP" \
  --create --topic "$topic" --partitions 12 --replication-factor 1 >/dev/null

echo "== anchor: Kafka ProducerPerformance, acks=all, idempotent, 120-byte records, 500000 records"
anchor=$(scripts/infra.sh kafka-tool org.apache.kafka.tools.ProducerPerformance --topic "$topic" \
  --num-records 500000 --record-size 120 --throughput -1 \
  --producer-props bootstrap.servers="$SURGE_KAFKA_BOOTSTRAP" acks=all enable.idempotence=true linger.ms=5 2>/dev/null | tail -n 1)
echo "$anchor"
anchor_rate=$(sed -E 's/.* ([0-9.]+) records\/sec.*/\1/' <<<"$anchor")

start_ns=$(date +%s%N)
SURGE__HTTP__PORT=18080 SURGE__HTTP__HOST=127.0.0.1 SURGE__KAFKA__TOPIC="$topic" \
  SURGE__LOG__LEVEL=warn "$ROOT/target/release/producer-svc" >"$RUN/producer-svc.log" 2>&1 &
producer_pid=$!
for _ in $(seq 1000); do curl -fs -o /dev/null http://127.0.0.1:18080/readyz && break; sleep 0.005; done
ready_ms=$((($(date +%s%N) - start_ns) / 1000000))
rss_idle=$(awk '/VmRSS/ {print $2}' "/proc/$producer_pid/status")

echo "== one POST at a time (100 sequential requests, keep-alive)"
python3 - <<'PY'
import http.client, json, time, statistics
c = http.client.HTTPConnection("127.0.0.1", 18080)
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

echo "== wrk: ${DURATION}s, ${CONNECTIONS} connections, 2 threads (closed loop, max throughput)"
wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" --latency -s scripts/bench/post-orders.lua http://127.0.0.1:18080 | tee "$RUN/wrk.txt"
rate=$(awk '/^Requests\/sec/ {print $2}' "$RUN/wrk.txt")
rss_peak=$(awk '/VmHWM/ {print $2}' "/proc/$producer_pid/status")

echo
echo "== summary"
echo "anchor (ProducerPerformance): ${anchor_rate} records/s"
echo "surge POST /v1/orders:        ${rate} requests/s"
python3 -c "import sys; a=float(sys.argv[1]); r=float(sys.argv[2]); print(f'ratio surge/anchor: {r/a:.3f}')" "$anchor_rate" "$rate"
echo "producer-svc start to ready: ${ready_ms} ms (process start until /readyz answered 200, broker already up)"
echo "producer-svc RSS idle: $((rss_idle / 1024)) MiB, peak: $((rss_peak / 1024)) MiB"
