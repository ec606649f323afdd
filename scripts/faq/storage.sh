#!/usr/bin/env bash
# Bytes an accepted order takes in a broker's log, measured on the running single-node
# Kafka (docs/faq.md, broker storage): producer-svc with its shipped client settings
# (lz4, idempotent, the two producer lanes) takes RATE orders/s from loadgen for SECONDS seconds into
# a topic of its own with 12 partitions; then Kafka's LogDirsCommand gives the bytes on
# disk and GetOffsetShell the records. One replica: multiply by the replication factor.
#
#   SURGE_INFRA_DIR=... scripts/faq/storage.sh [--bin-dir DIR] [--rate N] [--seconds N]
#   defaults: --bin-dir target/debug --rate 2000 --seconds 10
#
# Starts nothing it does not stop: its own topic (deleted at the end) and its own
# producer-svc (stopped by pid). Needs Kafka already running (scripts/infra.sh up).
set -Eeuo pipefail

ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
# shellcheck source=scripts/faq/lib.sh
source scripts/faq/lib.sh

BIN_DIR=target/debug RATE=2000 DURATION=10
while (($#)); do
  case $1 in
    --bin-dir) BIN_DIR=${2:?--bin-dir needs a folder}; shift ;;
    --rate) RATE=${2:?}; shift ;;
    --seconds) DURATION=${2:?}; shift ;;
    -h | --help) print_help; exit 0 ;;
    *) echo "storage: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
for n in "$RATE" "$DURATION"; do
  [[ $n =~ ^[1-9][0-9]*$ ]] || { echo "storage: --rate and --seconds take positive whole numbers" >&2; exit 2; }
done


eval "$(scripts/infra.sh env)"
scripts/infra.sh status kafka >/dev/null || fail "needs Kafka running (scripts/infra.sh up); this script does not start it"
need_bins producer-svc loadgen
BOOTSTRAP=$SURGE_KAFKA_BOOTSTRAP
TOPIC=faq-storage-$(date +%Y%m%d%H%M%S)-$$
WORK=$(mktemp -d "${TMPDIR:-/tmp}/surge-faq-storage.XXXXXX")
PORT=""
for p in 18390 18490 18590 18690; do
  (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { PORT=$p; break; }
done
[[ -n $PORT ]] || fail "no free port for producer-svc"

kafka_tool() { scripts/infra.sh kafka-tool "$@" 2>>"$WORK/kafka-tools.log"; }
producer_pid="" topic_created=0
cleanup() {
  if [[ -n $producer_pid ]]; then kill "$producer_pid" 2>/dev/null || true; wait "$producer_pid" 2>/dev/null || true; fi
  if ((topic_created)); then
    kafka_tool TopicCommand --bootstrap-server "$BOOTSTRAP" --delete --topic "$TOPIC" >/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

kafka_tool TopicCommand --bootstrap-server "$BOOTSTRAP" --create --topic "$TOPIC" \
  --partitions 12 --replication-factor 1 >/dev/null
topic_created=1
SURGE__HTTP__HOST=127.0.0.1 SURGE__HTTP__PORT=$PORT SURGE__KAFKA__BOOTSTRAP_SERVERS=$BOOTSTRAP \
  SURGE__KAFKA__TOPIC=$TOPIC "$BIN_DIR/producer-svc" >>"$WORK/producer-svc.log" 2>&1 &
producer_pid=$!
deadline=$((SECONDS + 60))
until curl -fs -o /dev/null "http://127.0.0.1:$PORT/readyz"; do
  ((SECONDS < deadline)) || fail "producer-svc not ready after 60 s"
  sleep 0.5
done

cat >"$WORK/profile.yaml" <<YAML
phases:
  - { name: steady, rate: $RATE, duration_s: $DURATION }
mix:
  invalid_share: 0
  retry_share: 0
YAML
"$BIN_DIR/loadgen" run --profile "$WORK/profile.yaml" --target "http://127.0.0.1:$PORT" \
  --results "$WORK/results.json" >"$WORK/loadgen.log" 2>&1 || fail "loadgen failed: $(tail -3 "$WORK/loadgen.log")"
kill -TERM "$producer_pid"
wait "$producer_pid" || true
producer_pid=""

records=$(kafka_tool GetOffsetShell --bootstrap-server "$BOOTSTRAP" --topic "$TOPIC" |
  awk -F: '{ s += $NF } END { print s + 0 }')
bytes=$(kafka_tool LogDirsCommand --bootstrap-server "$BOOTSTRAP" --describe --topic-list "$TOPIC" |
  grep '^{' | jq '[.brokers[].logDirs[].partitions[].size] | add')
((records > 0)) || fail "no records on $TOPIC"
awk -v r="$records" -v b="$bytes" -v rate="$RATE" -v s="$DURATION" 'BEGIN {
  printf "offered %d orders/s for %d s; records on the topic: %d; log bytes (one replica): %d\n", rate, s, r, b
  printf "bytes per accepted order in the log: %.0f\n", b / r
}'
