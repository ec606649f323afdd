#!/usr/bin/env bash
# What scaling the consumers to zero costs, measured on the running single-node Kafka and
# PostgreSQL (docs/faq.md): with no consumer running, ORDERS orders are accepted by
# producer-svc; lag-exporter still reports the group's lag (the number a scaler needs to
# wake the group); then one consumer-svc process starts, and the seconds from its start
# to its /readyz, to its first assignment and to the last order's row are counted.
# A floor: a pod adds scheduling, image pull and container start, and maybe a node.
#
#   SURGE_INFRA_DIR=... scripts/faq/cold-start.sh [--bin-dir DIR] [--orders N]
#   defaults: --bin-dir target/debug --orders 200
#
# Starts nothing it does not stop: its own topics, group and database (removed at the
# end), its own producer-svc, lag-exporter and consumer-svc (stopped by pid). Needs Kafka
# and PostgreSQL running (scripts/infra.sh up); never starts or stops them.
set -Eeuo pipefail

ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
# shellcheck source=scripts/faq/lib.sh
source scripts/faq/lib.sh

BIN_DIR=target/debug ORDERS=200
while (($#)); do
  case $1 in
    --bin-dir) BIN_DIR=${2:?--bin-dir needs a folder}; shift ;;
    --orders) ORDERS=${2:?--orders needs a number}; shift ;;
    -h | --help) print_help; exit 0 ;;
    *) echo "cold-start: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
[[ $ORDERS =~ ^[1-9][0-9]*$ ]] || { echo "cold-start: --orders takes a positive whole number" >&2; exit 2; }


eval "$(scripts/infra.sh env)"
scripts/infra.sh status kafka postgres >/dev/null ||
  fail "needs Kafka and PostgreSQL running (scripts/infra.sh up); this script starts neither"
need_bins producer-svc consumer-svc lag-exporter
BOOTSTRAP=$SURGE_KAFKA_BOOTSTRAP
RUN_ID=$(date +%Y%m%d%H%M%S)-$$
TOPIC=faq-cold-$RUN_ID
GROUP=faq-cold-$RUN_ID
DATABASE=faq_cold_${RUN_ID//-/_}
DATABASE_URL=${SURGE_DATABASE_ADMIN_URL%/*}/$DATABASE
WORK=$(mktemp -d "${TMPDIR:-/tmp}/surge-faq-cold-start.XXXXXX")
is_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
BASE=""
for b in 18380 18480 18580 18680; do
  is_open "$b" || is_open $((b + 1)) || is_open $((b + 2)) || { BASE=$b; break; }
done
[[ -n $BASE ]] || fail "no three free ports"
PRODUCER_PORT=$BASE EXPORTER_PORT=$((BASE + 1)) CONSUMER_PORT=$((BASE + 2))

kafka_tool() { scripts/infra.sh kafka-tool "$@" 2>>"$WORK/kafka-tools.log"; }
psql_admin() { psql -X -q -v ON_ERROR_STOP=1 "$SURGE_DATABASE_ADMIN_URL" "$@"; }
pids=() topics=() created_db=0
cleanup() {
  local pid t
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  for t in "${topics[@]}"; do kafka_tool TopicCommand --bootstrap-server "$BOOTSTRAP" --delete --topic "$t" >/dev/null || true; done
  kafka_tool org.apache.kafka.tools.consumer.group.ConsumerGroupCommand --bootstrap-server "$BOOTSTRAP" \
    --delete --group "$GROUP" >/dev/null || true
  if ((created_db)); then psql_admin -c "drop database if exists $DATABASE with (force)" || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
since() { awk -v s="$1" -v e="$(date +%s.%N)" 'BEGIN { printf "%.2f", e - s }'; }

for t in "$TOPIC:12" "$TOPIC.dlq:1"; do
  kafka_tool TopicCommand --bootstrap-server "$BOOTSTRAP" --create --topic "${t%:*}" \
    --partitions "${t##*:}" --replication-factor 1 >/dev/null
  topics+=("${t%:*}")
done
psql_admin -c "create database $DATABASE"
created_db=1
export SURGE__HTTP__HOST=127.0.0.1 SURGE__KAFKA__BOOTSTRAP_SERVERS=$BOOTSTRAP \
  SURGE__KAFKA__TOPIC=$TOPIC SURGE__KAFKA__DLQ_TOPIC=$TOPIC.dlq SURGE__KAFKA__GROUP_ID=$GROUP
# The schema and the stock first (consumer-svc's own subcommands), as a Job would.
SURGE__DATABASE__URL=$DATABASE_URL "$BIN_DIR/consumer-svc" migrate >/dev/null
SURGE__DATABASE__URL=$DATABASE_URL "$BIN_DIR/consumer-svc" seed-stock --sku FAQ-COLD --units "$ORDERS" >/dev/null

SURGE__HTTP__PORT=$PRODUCER_PORT "$BIN_DIR/producer-svc" >>"$WORK/producer-svc.log" 2>&1 &
pids+=("$!")
SURGE__LAG_EXPORTER__PORT=$EXPORTER_PORT SURGE__LAG_EXPORTER__HOST=127.0.0.1 \
  "$BIN_DIR/lag-exporter" >>"$WORK/lag-exporter.log" 2>&1 &
pids+=("$!")
wait_http "http://127.0.0.1:$PRODUCER_PORT/readyz" 60 0.05
for ((i = 1; i <= ORDERS; i++)); do
  curl -fsS -X POST "http://127.0.0.1:$PRODUCER_PORT/v1/orders" -H 'content-type: application/json' \
    -d "{\"sku\":\"FAQ-COLD\",\"quantity\":1,\"customer_id\":\"c-$i\"}" >"$WORK/last" || fail "POST $i failed"
done
last_order=$(jq -r .order_id "$WORK/last")
lag_of_group() {
  curl -fs "http://127.0.0.1:$EXPORTER_PORT/metrics" |
    awk -v g="$GROUP" -v t="$TOPIC" 'index($0, "kafka_consumergroup_lag{") == 1 && index($0, "consumergroup=\"" g "\"") &&
      index($0, "topic=\"" t "\"") { s += $NF; n++ } END { if (n) print s; else print "none" }'
}
deadline=$((SECONDS + 30))
until [[ $(lag_of_group) == "$ORDERS" ]]; do
  ((SECONDS < deadline)) || fail "lag-exporter did not report a lag of $ORDERS (last: $(lag_of_group))"
  sleep 0.5
done
echo "no consumer running: $ORDERS orders accepted; lag-exporter reports kafka_consumergroup_lag summed = $(lag_of_group)"

start=$(date +%s.%N)
SURGE__HTTP__PORT=$CONSUMER_PORT SURGE__DATABASE__URL=$DATABASE_URL \
  "$BIN_DIR/consumer-svc" >>"$WORK/consumer-svc.log" 2>&1 &
pids+=("$!")
wait_http "http://127.0.0.1:$CONSUMER_PORT/readyz" 60 0.05
ready=$(since "$start")
deadline=$((SECONDS + 60))
until grep -q '"partitions assigned"' "$WORK/consumer-svc.log"; do
  ((SECONDS < deadline)) || fail "no assignment within 60 s"
  sleep 0.05
done
assigned=$(since "$start")
until curl -fs -o /dev/null "http://127.0.0.1:$CONSUMER_PORT/v1/orders/$last_order"; do
  ((SECONDS < deadline)) || fail "the last order was not processed within 60 s"
  sleep 0.05
done
processed=$(since "$start")
rows=$(psql -X -At "$DATABASE_URL" -c "select count(*) from orders")
echo "consumer-svc started: /readyz after ${ready} s, partitions assigned after ${assigned} s, the last of the $ORDERS orders processed after ${processed} s ($rows rows)"
