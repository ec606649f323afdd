#!/usr/bin/env bash
# The main job: surge on local real infrastructure.
#
# Starts Kafka and PostgreSQL (scripts/infra.sh), builds the services in release mode,
# starts producer-svc and consumer-svc, seeds stock for a sale, sends an order and follows
# it end to end: 202 from the ingest tier, the record on the topic, the order confirmed in
# PostgreSQL. Everything it started is stopped on exit (Ctrl-C included).
set -Eeuo pipefail

ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
RUN="$ROOT/.cache/run/demo"
mkdir -p "$RUN"

say() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

pids=()
infra_started=()
cleanup() {
  local code=$?
  for pid in "${pids[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  if ((${#infra_started[@]})); then
    say "stopping ${infra_started[*]}"
    scripts/infra.sh down "${infra_started[@]}" || true
  fi
  exit "$code"
}
trap cleanup EXIT INT TERM

wait_http() { # url seconds
  local deadline=$((SECONDS + $2))
  until curl -fsS -o /dev/null "$1" 2>/dev/null; do
    if ((SECONDS > deadline)); then echo "timed out waiting for $1" >&2; return 1; fi
    sleep 0.2
  done
}

say "infrastructure: Kafka and PostgreSQL (first run downloads Kafka and may take minutes)"
for svc in kafka postgres; do
  scripts/infra.sh status "$svc" | grep -q ' running ' || infra_started+=("$svc")
done
scripts/infra.sh up kafka postgres
eval "$(scripts/infra.sh env)"

say "building producer-svc and consumer-svc (release)"
cargo build --release --locked -p producer-svc -p consumer-svc
BIN="$ROOT/target/release"

export SURGE__KAFKA__BOOTSTRAP_SERVERS="$SURGE_KAFKA_BOOTSTRAP"
export SURGE__DATABASE__URL="$SURGE_DATABASE_URL"

say "consumer-svc migrate, then seed 100 units of FLASH-1"
"$BIN/consumer-svc" migrate
"$BIN/consumer-svc" seed-stock --sku FLASH-1 --units 100

say "starting producer-svc on :8080 and consumer-svc on :8081 (logs in $RUN)"
SURGE__HTTP__PORT=8080 "$BIN/producer-svc" >"$RUN/producer-svc.log" 2>&1 &
pids+=($!)
SURGE__HTTP__PORT=8081 "$BIN/consumer-svc" >"$RUN/consumer-svc.log" 2>&1 &
pids+=($!)
wait_http http://127.0.0.1:8080/readyz 30
wait_http http://127.0.0.1:8081/readyz 60

say "POST /v1/orders"
echo '$ curl -i -X POST localhost:8080/v1/orders -H "content-type: application/json" -H "Idempotency-Key: demo-1" -d '"'"'{"sku":"FLASH-1","quantity":1,"customer_id":"c-42"}'"'"
response=$(curl -sS -i -X POST http://127.0.0.1:8080/v1/orders \
  -H 'content-type: application/json' -H "Idempotency-Key: demo-$(date +%s%N)" \
  -d '{"sku":"FLASH-1","quantity":1,"customer_id":"c-42"}')
printf '%s\n' "$response"
body=$(printf '%s' "$response" | tail -n 1)
order_id=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["order_id"])' "$body")
partition=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["partition"])' "$body")
offset=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["offset"])' "$body")

say "the record on topic orders, partition $partition, offset $offset (key, headers, value)"
scripts/infra.sh kafka-tool org.apache.kafka.tools.consumer.ConsoleConsumer \
  --bootstrap-server "$SURGE_KAFKA_BOOTSTRAP" --topic orders --partition "$partition" \
  --offset "$offset" --max-messages 1 --timeout-ms 20000 \
  --property print.key=true --property print.headers=true 2>/dev/null || true

say "GET /v1/orders/$order_id from consumer-svc"
deadline=$((SECONDS + 30))
while :; do
  status=$(curl -sS -o "$RUN/order.json" -w '%{http_code}' "http://127.0.0.1:8081/v1/orders/$order_id" || true)
  if [[ "$status" == 200 ]]; then cat "$RUN/order.json"; echo; break; fi
  if ((SECONDS > deadline)); then echo "order not processed within 30 s (last status $status)" >&2; exit 1; fi
  sleep 0.3
done

say "done: the order was accepted (202 after the broker's ack), published, and processed into PostgreSQL"
