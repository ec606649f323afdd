#!/usr/bin/env bash
# Partitions versus consumers, measured on the running single-node Kafka (docs/faq.md):
#
#  1. idle members: a topic of P partitions and P+EXTRA consumer-svc replicas of one
#     group. Kafka's own ConsumerGroupCommand lists the members and their partitions;
#     each replica's /readyz and resident memory show what an idle member still is.
#     Then the busiest member is stopped with SIGTERM, and the next one with SIGKILL,
#     and the seconds until every partition has an owner again are counted.
#  2. keys that move: producer-svc publishes one order per customer (key = customer_id)
#     and its 202 names the partition; TopicCommand --alter raises the partitions to
#     P2; the same customers are published again, first by the running producer-svc,
#     then by a freshly started one; ConsoleConsumer (print.key, print.partition) reads
#     every record back from the broker.
#
#   SURGE_INFRA_DIR=... scripts/faq/partitions.sh [--bin-dir DIR] [--partitions P]
#       [--extra N] [--grow-to P2] [--keys K] [--only members|keys] [--keep-logs]
#   defaults: --bin-dir target/debug --partitions 4 --extra 2 --grow-to 6 --keys 24
#
# Starts nothing it does not stop: its own topics, consumer group and database (dropped
# at the end), its own producer-svc and consumer-svc processes (stopped by pid). Needs
# Kafka and PostgreSQL already running (scripts/infra.sh up); it never starts or stops them.
set -Eeuo pipefail

ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
# shellcheck source=scripts/faq/lib.sh
source scripts/faq/lib.sh

BIN_DIR=target/debug PARTITIONS=4 EXTRA=2 GROW_TO=6 KEYS=24 KEEP_LOGS=0 ONLY=""
while (($#)); do
  case $1 in
    --bin-dir) BIN_DIR=${2:?--bin-dir needs a folder}; shift ;;
    --partitions) PARTITIONS=${2:?}; shift ;;
    --extra) EXTRA=${2:?}; shift ;;
    --grow-to) GROW_TO=${2:?}; shift ;;
    --keys) KEYS=${2:?}; shift ;;
    --only) ONLY=${2:?--only needs members or keys}; shift ;;
    --keep-logs) KEEP_LOGS=1 ;;
    -h | --help) print_help; exit 0 ;;
    *) echo "partitions: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
for n in "$PARTITIONS" "$EXTRA" "$GROW_TO" "$KEYS"; do
  [[ $n =~ ^[1-9][0-9]*$ ]] || { echo "partitions: counts must be positive whole numbers" >&2; exit 2; }
done
[[ -z $ONLY || $ONLY == members || $ONLY == keys ]] || { echo "partitions: --only takes members or keys" >&2; exit 2; }
((GROW_TO > PARTITIONS)) || { echo "partitions: --grow-to must exceed --partitions" >&2; exit 2; }


eval "$(scripts/infra.sh env)"
scripts/infra.sh status kafka postgres >/dev/null ||
  fail "needs Kafka and PostgreSQL running (scripts/infra.sh up); this script starts neither"
need_bins consumer-svc producer-svc
BOOTSTRAP=$SURGE_KAFKA_BOOTSTRAP

RUN_ID=$(date +%Y%m%d%H%M%S)-$$
GROUP_TOPIC=faq-members-$RUN_ID
KEY_TOPIC=faq-keys-$RUN_ID
GROUP=faq-members-$RUN_ID
DATABASE=faq_partitions_${RUN_ID//-/_}
LOGS=$(mktemp -d "${TMPDIR:-/tmp}/surge-faq-partitions.XXXXXX")
MEMBERS=$((PARTITIONS + EXTRA))

# Ports nobody listens on: a block of MEMBERS + 1 from a base that is free.
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
BASE_PORT=""
for base in 18300 18400 18500 18600 18700; do
  ok=1
  for ((i = 0; i <= MEMBERS; i++)); do port_free $((base + i)) || { ok=0; break; }; done
  ((ok)) && { BASE_PORT=$base; break; }
done
[[ -n $BASE_PORT ]] || fail "no free block of $((MEMBERS + 1)) ports from 18300 to 18799"
PRODUCER_PORT=$((BASE_PORT + MEMBERS))

kafka_tool() { scripts/infra.sh kafka-tool "$@" 2>>"$LOGS/kafka-tools.log"; }
psql_admin() { psql -X -q -v ON_ERROR_STOP=1 "$SURGE_DATABASE_ADMIN_URL" "$@"; }

pids=() created_topics=() created_db=0
cleanup() {
  local pid t
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  for t in "${created_topics[@]}"; do
    kafka_tool TopicCommand --bootstrap-server "$BOOTSTRAP" --delete --topic "$t" >/dev/null || true
  done
  kafka_tool org.apache.kafka.tools.consumer.group.ConsumerGroupCommand --bootstrap-server "$BOOTSTRAP" --delete --group "$GROUP" >/dev/null || true
  if ((created_db)); then psql_admin -c "drop database if exists $DATABASE with (force)" || true; fi
  if ((KEEP_LOGS)); then echo "logs kept in $LOGS"; else rm -rf "$LOGS"; fi
}
trap cleanup EXIT

create_topic() { # NAME PARTITIONS
  kafka_tool TopicCommand --bootstrap-server "$BOOTSTRAP" --create --topic "$1" \
    --partitions "$2" --replication-factor 1 >/dev/null
  created_topics+=("$1")
}

WAIT_HINT="logs: $LOGS, use --keep-logs"

# ConsumerGroupCommand --describe --members: "CLIENT-ID PARTITIONS" per member, sorted.
members() {
  kafka_tool org.apache.kafka.tools.consumer.group.ConsumerGroupCommand --bootstrap-server "$BOOTSTRAP" \
    --describe --members --group "$GROUP" | tee "$LOGS/describe-members" |
    awk -v g="$GROUP" '$1 == g { for (i = 1; i <= NF; i++) if ($i ~ /^faq-consumer-/) { print $i, $(i + 1); break } }' |
    sort -t- -k3 -n
}
indent() { sed 's/^/  /'; }
assigned_total() { awk '{ s += $2 } END { print s + 0 }'; }

members_experiment() {
say "1. topic $GROUP_TOPIC with $PARTITIONS partitions, $MEMBERS consumer-svc replicas in group $GROUP"
create_topic "$GROUP_TOPIC" "$PARTITIONS"
create_topic "$GROUP_TOPIC.dlq" 1
psql_admin -c "create database $DATABASE"
created_db=1
DATABASE_URL=${SURGE_DATABASE_ADMIN_URL%/*}/$DATABASE

consumer_pid=()
for ((i = 1; i <= MEMBERS; i++)); do
  SURGE__HTTP__HOST=127.0.0.1 SURGE__HTTP__PORT=$((BASE_PORT + i - 1)) \
    SURGE__KAFKA__BOOTSTRAP_SERVERS=$BOOTSTRAP SURGE__KAFKA__TOPIC=$GROUP_TOPIC \
    SURGE__KAFKA__DLQ_TOPIC=$GROUP_TOPIC.dlq SURGE__KAFKA__GROUP_ID=$GROUP \
    SURGE__KAFKA__PROPERTIES__CLIENT_ID=faq-consumer-$i SURGE__DATABASE__URL=$DATABASE_URL \
    "$BIN_DIR/consumer-svc" >>"$LOGS/consumer-$i.log" 2>&1 &
  consumer_pid[i]=$!
  pids+=("$!")
done
for ((i = 1; i <= MEMBERS; i++)); do wait_http "http://127.0.0.1:$((BASE_PORT + i - 1))/healthz" 60; done

# Settled: every replica is a member, every partition has an owner, and two looks in a
# row agree (KIP-848 moves partitions one reconciliation at a time).
deadline=$((SECONDS + 90)) previous="" view=""
until [[ -n $view && $view == "$previous" && $(wc -l <<<"$view") -eq $MEMBERS &&
  $(assigned_total <<<"$view") -eq $PARTITIONS ]]; do
  ((SECONDS < deadline)) || fail "the group did not settle within 90 s: $view"
  previous=$view
  sleep 1
  view=$(members) || view=""
done
echo "ConsumerGroupCommand --describe --members (client id, partitions):"
indent <<<"$view"
idle=$(awk '$2 == 0' <<<"$view" | wc -l)
echo "members: $MEMBERS, partitions: $PARTITIONS, members with no partition: $idle"

# What the HPA and the Service see of every member, idle or not: ready, and its memory.
echo "each replica: /readyz, resident memory"
for ((i = 1; i <= MEMBERS; i++)); do
  port=$((BASE_PORT + i - 1))
  ready=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/readyz")
  rss=$(awk '/^VmRSS:/ { printf "%d MiB", $2 / 1024 }' "/proc/${consumer_pid[i]}/status")
  parts=$(awk -v c="faq-consumer-$i" '$1 == c { print $2 }' <<<"$view")
  echo "  faq-consumer-$i  partitions $parts  readyz $ready  rss $rss"
done

# Stop the member with the most partitions; count until every partition is owned again
# (each look is a ConsumerGroupCommand run, 1-2 s: the figure is that coarse).
stopped=" "
stop_busiest() { # SIGNAL
  local busiest held start took
  busiest=$(sort -k2 -nr <<<"$view" | awk 'NR == 1 { sub(/^faq-consumer-/, "", $1); print $1 }')
  held=$(awk -v c="faq-consumer-$busiest" '$1 == c { print $2 }' <<<"$view")
  say "SIG$1 faq-consumer-$busiest (it holds $held of $PARTITIONS partitions)"
  start=$(date +%s.%N)
  kill "-$1" "${consumer_pid[busiest]}"
  wait "${consumer_pid[busiest]}" 2>/dev/null || true
  stopped+="$busiest "
  local deadline=$((SECONDS + 120))
  until view=$(members) && ! grep -q "^faq-consumer-$busiest " <<<"$view" &&
    [[ $(assigned_total <<<"$view") -eq $PARTITIONS ]]; do
    ((SECONDS < deadline)) || fail "partitions not owned again within 120 s: $view"
    sleep 0.2
  done
  took=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')
  indent <<<"$view"
  echo "every partition owned again ${took} s after the SIG$1; members with no partition: $(awk '$2 == 0' <<<"$view" | wc -l)"
}
# SIGTERM: the replica commits and leaves the group. SIGKILL (a crash, an OOM kill): it
# never says goodbye, and the broker waits out the member's session before moving its
# partitions, idle members or not.
stop_busiest TERM
stop_busiest KILL

for ((i = 1; i <= MEMBERS; i++)); do
  [[ $stopped == *" $i "* ]] && continue
  kill -TERM "${consumer_pid[i]}" 2>/dev/null || true
done
for ((i = 1; i <= MEMBERS; i++)); do wait "${consumer_pid[i]}" 2>/dev/null || true; done
}

keys_experiment() {
say "2. topic $KEY_TOPIC with $PARTITIONS partitions, $KEYS customers, then $GROW_TO partitions"
create_topic "$KEY_TOPIC" "$PARTITIONS"
start_producer() {
  SURGE__HTTP__HOST=127.0.0.1 SURGE__HTTP__PORT=$PRODUCER_PORT \
    SURGE__KAFKA__BOOTSTRAP_SERVERS=$BOOTSTRAP SURGE__KAFKA__TOPIC=$KEY_TOPIC \
    "$BIN_DIR/producer-svc" >>"$LOGS/producer-svc.log" 2>&1 &
  producer_pid=$!
  pids+=("$!")
  wait_http "http://127.0.0.1:$PRODUCER_PORT/readyz" 60
}
stop_producer() { kill -TERM "$producer_pid"; wait "$producer_pid" || true; }
publish_round() { # ROUND -> "customer partition" lines, from the 202s
  local i body
  for ((i = 1; i <= KEYS; i++)); do
    body=$(curl -fsS -X POST "http://127.0.0.1:$PRODUCER_PORT/v1/orders" -H 'content-type: application/json' \
      -d "{\"sku\":\"FAQ-$1\",\"quantity\":1,\"customer_id\":\"c-$i\"}") || fail "POST for c-$i failed"
    echo "c-$i $(jq -r .partition <<<"$body")"
  done
}

start_producer
publish_round before >"$LOGS/before"
kafka_tool TopicCommand --bootstrap-server "$BOOTSTRAP" --alter --topic "$KEY_TOPIC" --partitions "$GROW_TO"
kafka_tool TopicCommand --bootstrap-server "$BOOTSTRAP" --describe --topic "$KEY_TOPIC" |
  grep -c 'Partition:' | xargs printf '  partitions after --alter: %s\n'
publish_round running >"$LOGS/running"
stop_producer
start_producer
publish_round restarted >"$LOGS/restarted"
stop_producer
# The same customers from Kafka's Java ConsoleProducer (its default partitioner, murmur2):
# producer-svc sets librdkafka's murmur2_random, so both map a key alike.
for ((i = 1; i <= KEYS; i++)); do printf 'c-%d|{"sku":"FAQ-java"}\n' "$i"; done |
  kafka_tool ConsoleProducer --bootstrap-server "$BOOTSTRAP" --topic "$KEY_TOPIC" \
    --property parse.key=true --property 'key.separator=|' >/dev/null

# The broker's view: every record, its key and partition (ConsoleConsumer).
kafka_tool org.apache.kafka.tools.consumer.ConsoleConsumer --bootstrap-server "$BOOTSTRAP" --topic "$KEY_TOPIC" \
  --from-beginning --max-messages $((4 * KEYS)) --timeout-ms 20000 \
  --property print.key=true --property print.partition=true --property print.value=true |
  sed -n 's/^Partition:\([0-9]*\)[[:space:]]*\(c-[0-9]*\)[[:space:]]*.*"sku":"FAQ-\([a-z]*\)".*/\3 \2 \1/p' |
  sort >"$LOGS/broker"
[[ $(wc -l <"$LOGS/broker") -eq $((4 * KEYS)) ]] ||
  fail "ConsoleConsumer read $(wc -l <"$LOGS/broker") of $((4 * KEYS)) records"
# The broker must agree with every 202.
for round in before running restarted; do
  while read -r customer partition; do
    grep -qx "$round $customer $partition" "$LOGS/broker" ||
      fail "the 202 for $customer ($round) named partition $partition; the broker has it elsewhere"
  done <"$LOGS/$round"
done
echo "ConsoleConsumer read all $((4 * KEYS)) records back; each of producer-svc's sits in the partition its 202 named"
java_differs=$(join <(sort "$LOGS/restarted") <(awk '$1 == "java" { print $2, $3 }' "$LOGS/broker" | sort) | awk '$2 != $3' | wc -l)
echo "keys the Java ConsoleProducer put on another partition than producer-svc: $java_differs of $KEYS"

printf '\n  %-6s %-8s %-22s %-22s\n' customer before "after, same producer" "after, new producer"
join <(sort "$LOGS/before") <(sort "$LOGS/running") | join - <(sort "$LOGS/restarted") | sort -t- -k2 -n |
  while read -r c b r n; do
    mark=""
    [[ $b != "$n" ]] && mark="  moved"
    printf '  %-8s %-8s %-22s %-22s%s\n' "$c" "$b" "$r" "$n" "$mark"
  done
moved_running=$(join <(sort "$LOGS/before") <(sort "$LOGS/running") | awk '$2 != $3' | wc -l)
moved=$(join <(sort "$LOGS/before") <(sort "$LOGS/restarted") | awk '$2 != $3' | wc -l)
echo "customers whose partition changed: $moved of $KEYS once the producer knows $GROW_TO partitions;"
echo "  $moved_running of $KEYS already from the producer-svc that ran through the --alter"
echo "  (its readiness probe re-reads the topic's metadata every second)"
}

[[ $ONLY == keys ]] || members_experiment
[[ $ONLY == members ]] || keys_experiment
