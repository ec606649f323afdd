# shellcheck shell=bash
# Shared by the ingest benchmarks (scripts/bench-ingest.sh, scripts/bench-curve.sh):
# a fresh topic, one producer-svc on it, stopped again on exit. Sourced, not run; the
# caller has already evaluated `scripts/infra.sh env`.

# create_bench_topic NAME: 12 partitions, like the shipped `orders` topic.
create_bench_topic() {
  scripts/infra.sh kafka-tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$SURGE_KAFKA_BOOTSTRAP" \
    --create --topic "$1" --partitions 12 --replication-factor 1 >/dev/null
}

# start_producer BIN PORT TOPIC LOG: starts producer-svc on 127.0.0.1:PORT publishing
# to TOPIC, logs to LOG; sets producer_pid and producer_ready_ms (process start until
# /readyz answered 200). Fails with the log when it is not ready within 10 s.
# SURGE__… settings in the environment reach it (a librdkafka property, the linger).
producer_pid=
producer_ready_ms=
# shellcheck disable=SC2034 # producer_ready_ms is read by the scripts that source this file
start_producer() {
  local bin=$1 port=$2 topic=$3 log=$4 start_ns
  start_ns=$(date +%s%N)
  SURGE__HTTP__PORT=$port SURGE__HTTP__HOST=127.0.0.1 SURGE__KAFKA__TOPIC="$topic" \
    SURGE__LOG__LEVEL=warn "$bin" >"$log" 2>&1 &
  producer_pid=$!
  for _ in $(seq 2000); do
    if curl -fs -o /dev/null "http://127.0.0.1:$port/readyz"; then
      producer_ready_ms=$((($(date +%s%N) - start_ns) / 1000000))
      return 0
    fi
    kill -0 "$producer_pid" 2>/dev/null || break
    sleep 0.005
  done
  cat "$log" >&2
  echo "producer-svc on :$port never became ready (log above)" >&2
  return 1
}

# stop_producer: SIGTERM, then wait for its graceful shutdown.
stop_producer() {
  [[ -n $producer_pid ]] || return 0
  kill -TERM "$producer_pid" 2>/dev/null && wait "$producer_pid" 2>/dev/null
  producer_pid=
  true
}
