#!/usr/bin/env bash
# Fault scenarios on the three-node Kafka cluster (scripts/infra.sh up kafka3): steady
# open-loop load through producer-svc into two consumer-svc processes, one fault in the
# middle, recovery, then the independent audit (every 202 exactly one row, nothing
# else, stock never negative, a retried key one order). One table at the end.
#
#   scripts/chaos.sh                       every scenario, short (about a minute each)
#   scripts/chaos.sh --long                every scenario, several minutes of load each
#   scripts/chaos.sh leader-kill zombie    only these
#   options: --bin-dir DIR (default target/release, built when missing; CI: target/debug)
#            --out DIR (default reports/chaos-<time>)   --rate N (orders/s, default 300)
#
# Scenarios:
#   leader-kill      SIGKILL the node leading most of the topic's partitions (its
#                    supervisor starts it again at once; the JVM takes seconds to rejoin)
#   controller-kill  SIGKILL the active KRaft controller
#   zombie           SIGSTOP a partition leader for 15 s (past the 6 s broker session),
#                    then SIGCONT
#   unreachable      the services reach the nodes through proxies (scripts/chaos/proxy.py);
#                    the busiest leader's proxy black-holes for 15 s: alive and in the
#                    cluster, unreachable to the clients
#   producer-kill    SIGKILL producer-svc under load, start it again 3 s later
#   consumer-kill    start a third consumer (a rebalance begins) and SIGKILL another one
#                    at the same moment; start it again 3 s later
#   postgres-restart PostgreSQL's fast shutdown (SIGINT), start; 3 s later its immediate
#                    shutdown (SIGQUIT: crash recovery at the next start), start
#   postgres-slow    the consumers reach PostgreSQL through a proxy that delays every
#                    chunk by 200 ms for 15 s (a database that answers, slowly)
#   disk-full        the busiest leader's log folder moves onto a tmpfs of its own (the node
#                    stopped and started again around the move); in the fault it is filled
#                    to 256 KiB free, the node dies of it, and 15 s later the space comes back
#   overload         10x producer-svc's capacity (measured first with wrk, closed loop, on a
#                    topic of its own) for the fault phase, 4096 connections; what loadgen
#                    cannot send at once is dropped on its side; peak RSS from /proc
#
# Each scenario gets its own topic, consumer group and database. Needs kafka3 and
# postgres running (scripts/infra.sh up kafka3 postgres); exits 1 when an audit fails.
set -Eeuo pipefail

ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

ALL_SCENARIOS=(leader-kill controller-kill zombie unreachable producer-kill consumer-kill postgres-restart postgres-slow disk-full overload)
LONG=0 BIN_DIR="" OUT="" RATE=300 scenarios=()
while (($#)); do
  case $1 in
    --long) LONG=1 ;;
    --bin-dir) BIN_DIR=${2:?--bin-dir needs a folder}; shift ;;
    --out) OUT=${2:?--out needs a folder}; shift ;;
    --rate) RATE=${2:?--rate needs a number}; shift ;;
    -h | --help) sed -n '2,36p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "chaos: unknown option $1 (see --help)" >&2; exit 2 ;;
    *)
      [[ " ${ALL_SCENARIOS[*]} " == *" $1 "* ]] || { echo "chaos: unknown scenario $1 (known: ${ALL_SCENARIOS[*]})" >&2; exit 2; }
      scenarios+=("$1")
      ;;
  esac
  shift
done
((${#scenarios[@]})) || scenarios=("${ALL_SCENARIOS[@]}")
[[ $RATE =~ ^[1-9][0-9]*$ ]] || { echo "chaos: --rate must be a positive whole number" >&2; exit 2; }
if ((LONG)); then BEFORE=30 FAULT=60 AFTER=90; else BEFORE=10 FAULT=15 AFTER=15; fi
OUT=${OUT:-reports/chaos-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

say() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
fail() { echo "chaos: $*" >&2; exit 1; }

eval "$(scripts/infra.sh env)"
scripts/infra.sh status kafka3 postgres >/dev/null ||
  fail "needs the three-node Kafka cluster and PostgreSQL: scripts/infra.sh up kafka3 postgres"
BOOTSTRAP=$SURGE_KAFKA3_BOOTSTRAP

if [[ -z $BIN_DIR ]]; then
  BIN_DIR=target/release
  say "building producer-svc, consumer-svc, loadgen (release)"
  cargo build --locked --release -p producer-svc -p consumer-svc -p loadgen
fi
BIN_DIR=$(cd "$BIN_DIR" && pwd)
for b in producer-svc consumer-svc loadgen; do
  [[ -x $BIN_DIR/$b ]] || fail "$BIN_DIR/$b is missing (cargo build -p $b, or --bin-dir)"
done

# The overload scenario opens thousands of connections (loadgen's and producer-svc's ends).
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

PRODUCER_PORT=18080
POSTGRES_PROXY_PORT=15433
CONSUMER_PORTS=(18081 18082 18083)
HOT_SKU=FLASH-1
STOCK=2000

pids=() consumer_pid=() producer_pid="" proxy_pid=() postgres_proxy=""
cleanup() {
  local pid i
  for pid in "${pids[@]}"; do kill -CONT "$pid" 2>/dev/null || true; done
  # Newest first, one at a time: the services leave their group and commit while the
  # proxies they talk through (started before them) still run.
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    kill "${pids[i]}" 2>/dev/null || true
    wait "${pids[i]}" 2>/dev/null || true
  done
  # A node stopped by the zombie scenario must not stay stopped.
  local n
  for n in 1 2 3; do
    pid=$(scripts/infra.sh pid "kafka3:kafka3-$n" 2>/dev/null) && kill -CONT "$pid" 2>/dev/null || true
  done
  restore_node_disk
}
trap cleanup EXIT

kafka_tool() { scripts/infra.sh kafka-tool "$@" 2>/dev/null; }

# The node that leads most partitions of TOPIC.
busiest_leader() {
  kafka_tool TopicCommand --bootstrap-server "$BOOTSTRAP" --describe --topic "$1" |
    sed -n 's/.*Leader: \([0-9]*\).*/\1/p' | sort | uniq -c | sort -rn | awk 'NR == 1 {print $2}'
}
active_controller() {
  kafka_tool MetadataQuorumCommand --bootstrap-server "$BOOTSTRAP" describe --status |
    sed -n 's/^LeaderId: *//p'
}
node_pid() { scripts/infra.sh pid "kafka3:kafka3-$1"; }

# Until no partition of the cluster lacks a replica in its ISR (a restarted node caught up).
wait_in_sync() { # SECONDS
  local deadline=$((SECONDS + $1)) lagging
  while :; do
    lagging=$(kafka_tool TopicCommand --bootstrap-server "$BOOTSTRAP" --describe --under-replicated-partitions | grep -c Partition) || true
    ((lagging == 0)) && return 0
    ((SECONDS < deadline)) || fail "$lagging partitions still under-replicated after $1 s"
    sleep 1
  done
}

# disk-full: node NODE's log folder (which holds its metadata log too) moves onto a tmpfs
# DISK_HEADROOM_MB larger than what it holds, while the node is stopped; restore_node_disk
# moves it back the same way. The tmpfs is the only disk a test may fill on a shared machine.
DISK_HEADROOM_MB=64 DISK_NODE="" DISK_MOUNT=""
move_node_to_tmpfs() { # NODE
  local node=$1 data used_mb
  data="$SURGE_KAFKA3_RUN/node-$node/data"
  ! mountpoint -q "$data" || fail "disk-full: $data is a mount point already (an earlier run left it: stop node $node, copy it out, umount it)"
  scripts/infra.sh program stop "kafka3:kafka3-$node"
  used_mb=$(du -sm "$data" | cut -f1)
  mv "$data" "$data.disk"
  mkdir "$data"
  if ! mount -t tmpfs -o "size=$((used_mb + DISK_HEADROOM_MB))m,mode=0755" surge-disk-full "$data"; then
    rmdir "$data"
    mv "$data.disk" "$data"
    scripts/infra.sh program start "kafka3:kafka3-$node"
    fail "disk-full: cannot mount a tmpfs (needs root with CAP_SYS_ADMIN)"
  fi
  DISK_NODE=$node DISK_MOUNT=$data
  cp -a "$data.disk/." "$data/"
  scripts/infra.sh program start "kafka3:kafka3-$node"
  wait_in_sync 120
  # Leadership back to the preferred replicas, so that the node leads its share again.
  kafka_tool LeaderElectionCommand --bootstrap-server "$BOOTSTRAP" --election-type PREFERRED \
    --all-topic-partitions >/dev/null || true
  echo "node $node's log folder is a ${used_mb} + ${DISK_HEADROOM_MB} MB tmpfs ($data)"
}
restore_node_disk() {
  [[ -n $DISK_MOUNT ]] || return 0
  local data=$DISK_MOUNT node=$DISK_NODE
  rm -f "$data/filler"
  scripts/infra.sh program stop "kafka3:kafka3-$node" || true
  rm -rf "$data.disk"
  mkdir "$data.disk"
  cp -a "$data/." "$data.disk/"
  umount "$data"
  rmdir "$data"
  mv "$data.disk" "$data"
  DISK_MOUNT=""
  scripts/infra.sh program start "kafka3:kafka3-$node"
  wait_in_sync 120
}

wait_http() { # URL SECONDS
  local deadline=$((SECONDS + $2))
  until curl -fs -o /dev/null "$1"; do
    ((SECONDS < deadline)) || fail "$1 not ready after $2 s"
    sleep 0.5
  done
}

start_producer() {
  SURGE__HTTP__PORT=$PRODUCER_PORT "$BIN_DIR/producer-svc" >>"$LOGS/producer-svc.log" 2>&1 &
  producer_pid=$!
  pids+=("$producer_pid")
}
start_consumer() { # INDEX
  SURGE__HTTP__PORT=${CONSUMER_PORTS[$1]} SURGE__DATABASE__URL=$CONSUMER_DATABASE_URL "$BIN_DIR/consumer-svc" >>"$LOGS/consumer-$1.log" 2>&1 &
  consumer_pid[$1]=$!
  pids+=("${consumer_pid[$1]}")
}

# producer-svc's closed-loop capacity, orders/s: wrk for 5 s against a producer-svc of its
# own on a topic of its own (its orders must not reach the scenario's audit).
measure_capacity() {
  command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
  kafka_tool TopicCommand --bootstrap-server "$BOOTSTRAP" --create --topic "$TOPIC-capacity" --partitions 12 \
    --replication-factor 3 --config min.insync.replicas=2 >/dev/null
  SURGE__KAFKA__TOPIC="$TOPIC-capacity" SURGE__HTTP__PORT=$PRODUCER_PORT "$BIN_DIR/producer-svc" \
    >>"$LOGS/producer-svc-capacity.log" 2>&1 &
  local pid=$!
  wait_http "http://127.0.0.1:$PRODUCER_PORT/readyz" 60
  wrk -t2 -c256 -d5s -s scripts/bench/post-orders.lua "http://127.0.0.1:$PRODUCER_PORT" >"$LOGS/capacity-wrk.txt"
  kill -TERM "$pid"
  wait "$pid" 2>/dev/null || true
  awk '/^Requests\/sec/ {printf "%d\n", $2}' "$LOGS/capacity-wrk.txt"
}

# The producer's peak resident memory so far (VmHWM), in MiB.
peak_rss_mib() { awk '/^VmHWM:/ {printf "%.0f\n", $2 / 1024}' "/proc/$1/status"; }

# PostgreSQL's postmaster gets SIGNAL, is waited for, and is started again.
restart_postgres() { # SIGNAL WHAT
  local pid deadline
  pid=$(scripts/infra.sh pid postgres)
  kill "-$1" "$pid"
  echo "$2 of PostgreSQL (SIG$1 to the postmaster, pid $pid)"
  deadline=$((SECONDS + 30))
  while kill -0 "$pid" 2>/dev/null; do
    ((SECONDS < deadline)) || fail "PostgreSQL (pid $pid) still runs 30 s after SIG$1"
    sleep 0.2
  done
  scripts/infra.sh up postgres >>"$LOGS/postgres-restart.log" 2>&1 || fail "PostgreSQL did not start again (see $LOGS/postgres-restart.log)"
  echo "PostgreSQL started again (pid $(scripts/infra.sh pid postgres))"
}

# The fault, at BEFORE seconds into the load; prints what it did.
inject() {
  local scenario=$1 node pid
  case $scenario in
    leader-kill)
      node=$(busiest_leader "$TOPIC")
      pid=$(node_pid "$node")
      kill -KILL "$pid"
      echo "SIGKILL node $node (pid $pid), the leader of most partitions of $TOPIC"
      ;;
    controller-kill)
      node=$(active_controller)
      pid=$(node_pid "$node")
      kill -KILL "$pid"
      echo "SIGKILL node $node (pid $pid), the active controller"
      ;;
    unreachable)
      node=$(busiest_leader "$TOPIC")
      kill -USR1 "${proxy_pid[$node]}"
      echo "node $node unreachable to the services for 15 s (its proxy black-holes), still in the cluster"
      sleep 15
      kill -USR2 "${proxy_pid[$node]}"
      echo "node $node reachable again"
      ;;
    zombie)
      node=$(busiest_leader "$TOPIC")
      pid=$(node_pid "$node")
      kill -STOP "$pid"
      echo "SIGSTOP node $node (pid $pid) for 15 s"
      sleep 15
      kill -CONT "$pid"
      echo "SIGCONT node $node"
      ;;
    producer-kill)
      kill -KILL "$producer_pid"
      echo "SIGKILL producer-svc (pid $producer_pid)"
      sleep 3
      start_producer
      echo "producer-svc started again (pid $producer_pid)"
      ;;
    consumer-kill)
      start_consumer 2
      kill -KILL "${consumer_pid[0]}"
      echo "third consumer started (a rebalance), SIGKILL consumer 0 (pid ${consumer_pid[0]})"
      sleep 3
      start_consumer 0
      echo "consumer 0 started again"
      ;;
    postgres-restart)
      restart_postgres INT "fast shutdown"
      sleep 3
      restart_postgres QUIT "immediate shutdown"
      ;;
    postgres-slow)
      kill -HUP "$postgres_proxy"
      echo "PostgreSQL answers the consumers 200 ms late per chunk, both ways, for 15 s"
      sleep 15
      kill -HUP "$postgres_proxy"
      echo "PostgreSQL answers at its own speed again"
      ;;
    disk-full)
      pid=$(node_pid "$DISK_NODE")
      local free_kib
      free_kib=$(df -Pk "$DISK_MOUNT" | awk 'NR == 2 {print $4}')
      fallocate -l "$(((free_kib - 256) * 1024))" "$DISK_MOUNT/filler"
      echo "node $DISK_NODE's log folder filled to $(df -Pk "$DISK_MOUNT" | awk 'NR == 2 {print $4}') KiB free"
      local t0=$SECONDS
      while kill -0 "$pid" 2>/dev/null && ((SECONDS - t0 < 15)); do sleep 0.2; done
      if kill -0 "$pid" 2>/dev/null; then
        echo "node $DISK_NODE (pid $pid) still runs after 15 s on a full disk"
      else
        echo "node $DISK_NODE (pid $pid) stopped after $((SECONDS - t0)) s: $(grep -h -m1 -o 'No space left on device' "$SURGE_KAFKA3_RUN/node-$DISK_NODE/logs/"*.log 2>/dev/null | head -n 1)"
      fi
      sleep $((15 - (SECONDS - t0) > 0 ? 15 - (SECONDS - t0) : 0))
      rm -f "$DISK_MOUNT/filler"
      scripts/infra.sh program start "kafka3:kafka3-$DISK_NODE"
      echo "space freed after 15 s; node $DISK_NODE runs again"
      ;;
    overload)
      echo "offered ${FAULT_RATE}/s for ${FAULT} s: 10x the capacity measured closed loop (${CAPACITY}/s, wrk, 256 connections)"
      sleep "$FAULT"
      echo "producer-svc peak RSS $(peak_rss_mib "$producer_pid") MiB at the end of the storm"
      ;;
  esac
}

run_scenario() {
  local scenario=$1 tag
  tag=$(date +%s%N | tail -c 9)
  SCENARIO_DIR="$OUT/$scenario"
  LOGS="$SCENARIO_DIR/logs"
  mkdir -p "$LOGS"
  TOPIC="chaos-$scenario-$tag"
  local group="chaos-$scenario-$tag" db="chaos_${scenario//-/_}_$tag"
  say "$scenario: topic $TOPIC (12 partitions, RF 3), group $group, database $db"
  kafka_tool TopicCommand --bootstrap-server "$BOOTSTRAP" --create --topic "$TOPIC" --partitions 12 \
    --replication-factor 3 --config min.insync.replicas=2 --config unclean.leader.election.enable=false >/dev/null
  kafka_tool TopicCommand --bootstrap-server "$BOOTSTRAP" --create --topic "$TOPIC.dlq" --partitions 3 \
    --replication-factor 3 --config min.insync.replicas=2 >/dev/null
  psql -q "$SURGE_DATABASE_ADMIN_URL" -c "CREATE DATABASE $db" >/dev/null
  local db_url="${SURGE_DATABASE_ADMIN_URL%/*}/$db"

  local service_bootstrap=$BOOTSTRAP
  if [[ $scenario == unreachable ]]; then
    # One proxy per node in front of its CLIENT listener; the services bootstrap there.
    local n=1 pair list=()
    for pair in $SURGE_KAFKA3_PROXIES; do
      python3 scripts/chaos/proxy.py "$pair" >>"$LOGS/proxy-$n.log" 2>&1 &
      proxy_pid[n]=$!
      pids+=("${proxy_pid[n]}")
      list+=("127.0.0.1:${pair%%:*}")
      n=$((n + 1))
    done
    service_bootstrap=$(IFS=,; echo "${list[*]}")
  fi
  export SURGE__KAFKA__BOOTSTRAP_SERVERS="$service_bootstrap" SURGE__KAFKA__TOPIC="$TOPIC" \
    SURGE__KAFKA__DLQ_TOPIC="$TOPIC.dlq" SURGE__KAFKA__GROUP_ID="$group" SURGE__DATABASE__URL="$db_url"
  CONSUMER_DATABASE_URL=$db_url
  if [[ $scenario == postgres-slow ]]; then
    local pg_port=${db_url##*:}
    pg_port=${pg_port%%/*}
    python3 scripts/chaos/proxy.py "$POSTGRES_PROXY_PORT:$pg_port" >>"$LOGS/postgres-proxy.log" 2>&1 &
    postgres_proxy=$!
    pids+=("$postgres_proxy")
    CONSUMER_DATABASE_URL=${db_url/:$pg_port\//:$POSTGRES_PROXY_PORT/}
  fi
  if [[ $scenario == disk-full ]]; then
    move_node_to_tmpfs "$(busiest_leader "$TOPIC")" >"$SCENARIO_DIR/disk.txt"
    sed 's/^/  /' "$SCENARIO_DIR/disk.txt"
  fi
  "$BIN_DIR/consumer-svc" migrate >/dev/null
  "$BIN_DIR/consumer-svc" seed-stock --sku "$HOT_SKU" --units "$STOCK" >/dev/null
  for sku in SKU-A SKU-B; do "$BIN_DIR/consumer-svc" seed-stock --sku "$sku" --units 100000000 >/dev/null; done

  FAULT_RATE=$RATE CAPACITY=""
  local concurrency=256 max_pending=100000
  if [[ $scenario == overload ]]; then
    CAPACITY=$(measure_capacity)
    [[ $CAPACITY =~ ^[1-9][0-9]*$ ]] || fail "overload: no capacity figure from wrk (see $LOGS/capacity-wrk.txt)"
    FAULT_RATE=$((10 * CAPACITY))
    # Enough connections that the storm reaches the service, and no backlog of loadgen's
    # own: what it cannot send at once is counted as dropped, so the latencies are the
    # service's and not loadgen's queue.
    concurrency=4096 max_pending=4096
  fi
  start_producer
  start_consumer 0
  start_consumer 1
  wait_http "http://127.0.0.1:$PRODUCER_PORT/readyz" 60
  wait_http "http://127.0.0.1:${CONSUMER_PORTS[0]}/readyz" 60
  wait_http "http://127.0.0.1:${CONSUMER_PORTS[1]}/readyz" 60

  cat >"$SCENARIO_DIR/profile.yaml" <<EOF
phases:
  - { name: before, rate: $RATE, duration_s: $BEFORE }
  - { name: fault, rate: $FAULT_RATE, duration_s: $FAULT }
  - { name: after, rate: $RATE, duration_s: $AFTER }
mix:
  hot_sku: $HOT_SKU
EOF
  "$BIN_DIR/loadgen" run --profile "$SCENARIO_DIR/profile.yaml" --target "http://127.0.0.1:$PRODUCER_PORT" \
    --timeout 15 --concurrency "$concurrency" --max-pending "$max_pending" \
    --results "$SCENARIO_DIR/results.json" >"$LOGS/loadgen.log" 2>&1 &
  local loadgen=$!
  sleep "$BEFORE"
  # Not in a pipeline: a restarted process must be started by this shell (its pid is kept).
  inject "$scenario" >"$SCENARIO_DIR/fault.txt"
  sed 's/^/  fault | /' "$SCENARIO_DIR/fault.txt"
  local load_status=0
  wait "$loadgen" || load_status=$?
  ((load_status == 0)) || { tail -n 20 "$LOGS/loadgen.log"; fail "$scenario: loadgen failed (exit $load_status)"; }
  sed -n '/^PHASE/,$p' "$LOGS/loadgen.log" | sed 's/^/  /'

  local audit_status=0
  "$BIN_DIR/loadgen" audit --results "$SCENARIO_DIR/results.json" --database-url "$db_url" \
    --sku "$HOT_SKU" --stock "$STOCK" --wait 120 --out "$SCENARIO_DIR/audit.json" \
    >"$SCENARIO_DIR/audit.txt" 2>&1 || audit_status=$?
  sed 's/^/  /' "$SCENARIO_DIR/audit.txt"

  cleanup
  pids=()
  unset SURGE__KAFKA__BOOTSTRAP_SERVERS SURGE__KAFKA__TOPIC SURGE__KAFKA__DLQ_TOPIC SURGE__KAFKA__GROUP_ID SURGE__DATABASE__URL
  python3 scripts/chaos/summary.py row "$scenario" "$SCENARIO_DIR" "$RATE" "$BEFORE" "$FAULT" >>"$OUT/rows.tsv"
  python3 scripts/chaos/summary.py retry-after "$SCENARIO_DIR" || audit_status=1
  ((audit_status == 0)) || failed+=("$scenario")
}

failed=()
: >"$OUT/rows.tsv"
for scenario in "${scenarios[@]}"; do
  run_scenario "$scenario"
done

say "faults survived ($OUT/summary.md)"
python3 scripts/chaos/summary.py table "$OUT/rows.tsv" | tee "$OUT/summary.md"
((${#failed[@]} == 0)) || fail "failed: ${failed[*]} (see $OUT/<scenario>/audit.txt and the table)"
echo "chaos: every audit passed"
