#!/usr/bin/env bash
# What the brokers of the running three-node cluster (scripts/infra.sh up kafka3) show an
# operator (docs/faq.md):
#
#  1. addresses: a client asks one bootstrap address and is then told every broker's
#     advertised address (BrokerApiVersionsCommand); through the CLIENT listener, which
#     advertises the ports of proxies that run only during scripts/chaos.sh unreachable,
#     the bootstrap answers and no broker can be reached: producer-svc's order ends in
#     503 after its delivery timeout. (This is what a mesh that rewrites addresses does.)
#  2. SASL_SSL with client properties only: producer-svc with the right password gets a
#     202, with a wrong one /readyz answers 503.
#  3. placement: every partition of `orders` has a replica on every node (RF 3, 3 nodes).
#  4. a reassignment copies data: a topic of its own with its replicas on nodes 1 and 2
#     only gets MB megabytes (ProducerPerformance, acks=all); then half its replicas move
#     to node 3 (ReassignPartitionsCommand); LogDirsCommand shows the bytes node 3 holds
#     before and after, and the seconds until --verify says complete.
#
#   SURGE_INFRA_DIR=... scripts/faq/brokers.sh [--bin-dir DIR] [--mb N]
#   defaults: --bin-dir target/debug --mb 200
#
# Starts nothing it does not stop: its own topic (deleted at the end) and its own
# producer-svc processes (stopped by pid). Needs kafka3 running; never starts or stops it.
set -Eeuo pipefail

ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
# shellcheck source=scripts/faq/lib.sh
source scripts/faq/lib.sh

BIN_DIR=target/debug MB=200
while (($#)); do
  case $1 in
    --bin-dir) BIN_DIR=${2:?--bin-dir needs a folder}; shift ;;
    --mb) MB=${2:?--mb needs a number}; shift ;;
    -h | --help) print_help; exit 0 ;;
    *) echo "brokers: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
[[ $MB =~ ^[1-9][0-9]*$ ]] || { echo "brokers: --mb takes a positive whole number" >&2; exit 2; }


eval "$(scripts/infra.sh env)"
scripts/infra.sh status kafka3 >/dev/null || fail "needs the three-node cluster (scripts/infra.sh up kafka3); this script does not start it"
need_bins producer-svc
BOOTSTRAP=$SURGE_KAFKA3_BOOTSTRAP
FIRST=${BOOTSTRAP%%,*}
TOPIC=faq-reassign-$(date +%Y%m%d%H%M%S)-$$
WORK=$(mktemp -d "${TMPDIR:-/tmp}/surge-faq-brokers.XXXXXX")
is_open() { (exec 3<>"/dev/tcp/${1%:*}/${1##*:}") 2>/dev/null; }
PORT=""
for p in 18395 18495 18595 18695; do is_open "127.0.0.1:$p" || { PORT=$p; break; }; done
[[ -n $PORT ]] || fail "no free port for producer-svc"

kafka_tool() { scripts/infra.sh kafka-tool "$@" 2>>"$WORK/kafka-tools.log"; }
producer_pid="" topic_created=0
stop_producer() {
  if [[ -n $producer_pid ]]; then kill "$producer_pid" 2>/dev/null || true; wait "$producer_pid" 2>/dev/null || true; fi
  producer_pid=""
}
cleanup() {
  stop_producer
  if ((topic_created)); then
    kafka_tool TopicCommand --bootstrap-server "$BOOTSTRAP" --delete --topic "$TOPIC" >/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

start_producer() { # then any SURGE__... settings as NAME=VALUE
  env SURGE__HTTP__HOST=127.0.0.1 SURGE__HTTP__PORT="$PORT" "$@" \
    "$BIN_DIR/producer-svc" >>"$WORK/producer-svc.log" 2>&1 &
  producer_pid=$!
  local deadline=$((SECONDS + 30))
  until is_open "127.0.0.1:$PORT"; do
    ((SECONDS < deadline)) || fail "producer-svc did not listen within 30 s"
    sleep 0.2
  done
}
wait_ready() { # SECONDS -> prints the /readyz status code once it is 200, or the last one
  local deadline=$((SECONDS + $1)) code
  while :; do
    code=$(curl -s -o "$WORK/readyz" -w '%{http_code}' "http://127.0.0.1:$PORT/readyz")
    [[ $code == 200 ]] || ((SECONDS >= deadline)) && break
    sleep 0.5
  done
  echo "$code"
}
post_order() { # -> "STATUS SECONDS BODY"
  curl -s -o "$WORK/body" -w '%{http_code} %{time_total}' -X POST "http://127.0.0.1:$PORT/v1/orders" \
    -H 'content-type: application/json' -d '{"sku":"FAQ-1","quantity":1,"customer_id":"c-faq"}'
  printf ' %s\n' "$(tr -d '\n' <"$WORK/body" | cut -c1-160)"
}

# --- 1. advertised addresses ---------------------------------------------------------------
say "1. one bootstrap address ($FIRST); the brokers the cluster then names (BrokerApiVersionsCommand)"
kafka_tool BrokerApiVersionsCommand --bootstrap-server "$FIRST" | grep -E '^[0-9.]+:[0-9]+ \(id' |
  sed 's/ -> .*//; s/^/  /'
client_bootstrap=127.0.0.1:${SURGE_KAFKA3_PROXIES%%:*}
client_listener=${SURGE_KAFKA3_PROXIES#*:}
client_listener=127.0.0.1:${client_listener%% *}
if is_open "$client_bootstrap"; then
  echo "  (skipping the CLIENT listener: its proxies run now, scripts/chaos.sh is using them)"
else
  say "the CLIENT listener $client_listener answers; it advertises the proxies' ports, where nobody listens now"
  kafka_tool BrokerApiVersionsCommand --bootstrap-server "$client_listener" | grep -E '^[0-9.]+:[0-9]+ \(id' |
    sed 's/^/  /'
  start_producer SURGE__KAFKA__BOOTSTRAP_SERVERS="$client_listener"
  echo "  producer-svc through $client_listener: /readyz $(wait_ready 5)"
  echo "  POST /v1/orders -> $(post_order)"
  stop_producer
fi

# --- 2. SASL_SSL ----------------------------------------------------------------------------
say "2. SASL_SSL (SCRAM-SHA-512 over TLS) on $SURGE_KAFKA3_SASL_BOOTSTRAP, client properties only"
password=$(cat "$SURGE_KAFKA3_SASL_PASSWORD_FILE")
sasl=(SURGE__KAFKA__BOOTSTRAP_SERVERS="$SURGE_KAFKA3_SASL_BOOTSTRAP"
  SURGE__KAFKA__PROPERTIES__SECURITY_PROTOCOL=SASL_SSL
  SURGE__KAFKA__PROPERTIES__SASL_MECHANISM=SCRAM-SHA-512
  SURGE__KAFKA__PROPERTIES__SASL_USERNAME="$SURGE_KAFKA3_SASL_USERNAME"
  SURGE__KAFKA__PROPERTIES__SSL_CA_LOCATION="$SURGE_KAFKA3_CA_FILE")
start_producer "${sasl[@]}" SURGE__KAFKA__PROPERTIES__SASL_PASSWORD="$password"
echo "  right password: /readyz $(wait_ready 30); POST /v1/orders -> $(post_order)"
stop_producer
start_producer "${sasl[@]}" SURGE__KAFKA__PROPERTIES__SASL_PASSWORD="not-$password"
sleep 5
echo "  wrong password: /readyz $(wait_ready 1) $(tr -d '\n' <"$WORK/readyz" | cut -c1-160)"
stop_producer

# --- 3. placement ---------------------------------------------------------------------------
say "3. where the replicas of $SURGE_KAFKA_TOPIC live (TopicCommand --describe)"
kafka_tool TopicCommand --bootstrap-server "$BOOTSTRAP" --describe --topic "$SURGE_KAFKA_TOPIC" |
  awk '/Partition:/ { for (i = 1; i <= NF; i++) if ($i == "Replicas:") r[$(i + 1)]++ }
       END { for (k in r) printf "  replicas %s: %d partitions\n", k, r[k] }' | sort

# --- 4. a reassignment copies data ------------------------------------------------------------
say "4. topic $TOPIC, 6 partitions, replicas on nodes 1 and 2 only, $MB MB written"
kafka_tool TopicCommand --bootstrap-server "$BOOTSTRAP" --create --topic "$TOPIC" \
  --replica-assignment 1:2,2:1,1:2,2:1,1:2,2:1 >/dev/null
topic_created=1
records=$((MB * 1024 * 1024 / 1024))
kafka_tool ProducerPerformance --topic "$TOPIC" --num-records "$records" --record-size 1024 --throughput -1 \
  --producer-props bootstrap.servers="$BOOTSTRAP" acks=all compression.type=none >"$WORK/perf.log"
node_bytes() { # NODE -> bytes of $TOPIC in its log dirs
  kafka_tool LogDirsCommand --bootstrap-server "$BOOTSTRAP" --describe --broker-list "$1" --topic-list "$TOPIC" |
    grep '^{' | jq '[.brokers[].logDirs[].partitions[].size] | add // 0'
}
mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
echo "  bytes of $TOPIC: node 1 $(mib "$(node_bytes 1)"), node 2 $(mib "$(node_bytes 2)"), node 3 $(mib "$(node_bytes 3)")"

# Half the partitions get node 3 in place of one of their replicas: what a rebalance
# onto a new broker does.
cat >"$WORK/move.json" <<JSON
{"version":1,"partitions":[
 {"topic":"$TOPIC","partition":0,"replicas":[3,2]},
 {"topic":"$TOPIC","partition":2,"replicas":[3,2]},
 {"topic":"$TOPIC","partition":4,"replicas":[1,3]}]}
JSON
say "ReassignPartitionsCommand: partitions 0, 2, 4 get a replica on node 3"
start=$(date +%s.%N)
kafka_tool org.apache.kafka.tools.reassign.ReassignPartitionsCommand --bootstrap-server "$BOOTSTRAP" \
  --reassignment-json-file "$WORK/move.json" --execute >/dev/null
deadline=$((SECONDS + 600))
until kafka_tool org.apache.kafka.tools.reassign.ReassignPartitionsCommand --bootstrap-server "$BOOTSTRAP" \
  --reassignment-json-file "$WORK/move.json" --verify | grep -c 'is completed' | grep -qx 3; do
  ((SECONDS < deadline)) || fail "the reassignment did not complete within 600 s"
  sleep 0.5
done
took=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')
echo "  complete after ${took} s (unthrottled; --verify polled every ~2 s)"
echo "  bytes of $TOPIC: node 1 $(mib "$(node_bytes 1)"), node 2 $(mib "$(node_bytes 2)"), node 3 $(mib "$(node_bytes 3)")"
