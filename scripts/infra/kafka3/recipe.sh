# shellcheck shell=bash
# Apache Kafka, three KRaft nodes (each broker and controller) on loopback, for the
# fault scenarios (scripts/chaos.sh): replication factor 3, min.insync.replicas 2, no
# unclean leader election. Same jars as the single node (scripts/infra/kafka). Sourced
# by scripts/infra.sh after scripts/infra/lib.sh and the kafka recipe.

KAFKA3_BASE_PORT=${SURGE_KAFKA3_BASE_PORT:-29092}
# Topics created on every `up kafka3` when missing, NAME:PARTITIONS (replication 3).
KAFKA3_TOPICS=${SURGE_KAFKA3_TOPICS:-"orders:12 orders.dlq:3"}
KAFKA3_HEAP_OPTS=${SURGE_KAFKA3_HEAP_OPTS:-"-Xmx512m"}
readonly KAFKA3_BASE_PORT KAFKA3_TOPICS KAFKA3_HEAP_OPTS
readonly KAFKA3_NODES=(1 2 3)
readonly KAFKA3_RECIPE="$RECIPES_DIR/kafka3"
readonly KAFKA3_RUN="$RUN_DIR/kafka3"

# The SASL_SSL listener's one user (SCRAM-SHA-512). Its password is made on the first
# `up` and kept, readable by root only, in $KAFKA3_SASL_PASSWORD_FILE.
readonly KAFKA3_SASL_USERNAME=surge
readonly KAFKA3_TLS="$KAFKA3_RUN/tls"
readonly KAFKA3_SASL_PASSWORD_FILE="$KAFKA3_TLS/$KAFKA3_SASL_USERNAME.password"

# Node N: clients on BASE+N-1 (29092, 29093, 29094), its controller on BASE+100+N-1,
# the CLIENT listener on BASE+200+N-1, advertised as BASE+300+N-1 (a proxy's port),
# SASL_SSL on BASE+400+N-1.
kafka3_port() { echo $((KAFKA3_BASE_PORT + $1 - 1)); }
kafka3_controller_port() { echo $((KAFKA3_BASE_PORT + 100 + $1 - 1)); }
kafka3_client_port() { echo $((KAFKA3_BASE_PORT + 200 + $1 - 1)); }
kafka3_client_advertised_port() { echo $((KAFKA3_BASE_PORT + 300 + $1 - 1)); }
kafka3_sasl_port() { echo $((KAFKA3_BASE_PORT + 400 + $1 - 1)); }

# kafka3_bootstrap [PORT_FUNCTION]: the three nodes' addresses on one listener.
kafka3_bootstrap() {
  local port_of=${1:-kafka3_port} n list=()
  for n in "${KAFKA3_NODES[@]}"; do list+=("$HOST:$("$port_of" "$n")"); done
  local IFS=,
  echo "${list[*]}"
}

# A CA of the cluster's own and one server certificate (127.0.0.1) signed by it, for the
# SASL_SSL listeners; clients trust ca.pem. Kafka reads the key and chain as one PEM file.
kafka3_ensure_tls() {
  [[ -s $KAFKA3_TLS/broker-keystore.pem && -s $KAFKA3_SASL_PASSWORD_FILE ]] && return 0
  command -v openssl >/dev/null || apt_install openssl
  log "kafka3: making a CA and a server certificate for the SASL_SSL listeners"
  mkdir -p "$KAFKA3_TLS"
  chmod 700 "$KAFKA3_TLS"
  (
    cd "$KAFKA3_TLS" &&
      quiet openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=surge local Kafka CA" \
        -keyout ca.key -out ca.pem &&
      quiet openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout broker.key -out broker.csr &&
      printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' >broker.ext &&
      quiet openssl x509 -req -days 3650 -in broker.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
        -extfile broker.ext -out broker.pem &&
      cat broker.key broker.pem >broker-keystore.pem &&
      head -c 18 /dev/urandom | base64 | tr '+/' 'xy' >"$KAFKA3_SASL_PASSWORD_FILE"
  ) || die "kafka3: making the TLS material in $KAFKA3_TLS failed"
  chmod 600 "$KAFKA3_TLS"/*.key "$KAFKA3_TLS/broker-keystore.pem" "$KAFKA3_SASL_PASSWORD_FILE"
}

kafka3_voters() {
  local n list=()
  for n in "${KAFKA3_NODES[@]}"; do list+=("$n@$HOST:$(kafka3_controller_port "$n")"); done
  local IFS=,
  echo "${list[*]}"
}

kafka3_prepare() {
  local n ports=() id
  for n in "${KAFKA3_NODES[@]}"; do
    ports+=("$(kafka3_port "$n")" "$(kafka3_controller_port "$n")" "$(kafka3_client_port "$n")"
      "$(kafka3_sasl_port "$n")")
  done
  require_free_ports kafka3 "${ports[@]}"
  kafka_ensure_lib
  mkdir -p "$KAFKA3_RUN"
  kafka3_ensure_tls
  cp -f "$KAFKA_RECIPE/log4j2.properties" "$KAFKA3_RUN/log4j2.properties"
  id=$(kafka_cluster_id kafka3 "$KAFKA3_RUN/cluster.id")
  for n in "${KAFKA3_NODES[@]}"; do
    mkdir -p "$KAFKA3_RUN/node-$n/data" "$KAFKA3_RUN/node-$n/logs"
    render "$KAFKA3_RECIPE/server.properties.in" "$KAFKA3_RUN/node-$n/server.properties" \
      NODE_ID="$n" PORT="$(kafka3_port "$n")" CONTROLLER_PORT="$(kafka3_controller_port "$n")" \
      CLIENT_PORT="$(kafka3_client_port "$n")" CLIENT_ADVERTISED_PORT="$(kafka3_client_advertised_port "$n")" \
      SASL_PORT="$(kafka3_sasl_port "$n")" TLS_DIR="$KAFKA3_TLS" \
      VOTERS="$(kafka3_voters)" DATA_DIR="$KAFKA3_RUN/node-$n/data"
    [[ -f $KAFKA3_RUN/node-$n/data/meta.properties ]] && continue
    log "kafka3: formatting node $n (cluster id $id)"
    quiet kafka_admin kafka.tools.StorageTool format -t "$id" -c "$KAFKA3_RUN/node-$n/server.properties" ||
      die "kafka3: formatting node $n failed"
  done
}

# Node N is ready when it answers a metadata request that lists the whole cluster.
kafka3_node_ready() {
  port_open "$(kafka3_port "$1")" || return 1
  local brokers
  brokers=$(kafka_admin org.apache.kafka.tools.BrokerApiVersionsCommand \
    --bootstrap-server "$HOST:$(kafka3_port "$1")" 2>>"$KAFKA3_RUN/admin.log" | grep -c '^127.0.0.1:.*(id: [0-9]')
  ((brokers == ${#KAFKA3_NODES[@]}))
}

kafka3_start() {
  local n
  program_conf kafka3 JAVA="$(command -v java)" HEAP_OPTS="$KAFKA3_HEAP_OPTS" KAFKA_LIB="$KAFKA_LIB"
  # The quorum needs two voters before any node answers: start them all, then wait.
  for n in "${KAFKA3_NODES[@]}"; do
    [[ $(program_state "kafka3:kafka3-$n") == RUNNING ]] || supervisor_ctl start "kafka3:kafka3-$n" >/dev/null 2>&1 || true
  done
  for n in "${KAFKA3_NODES[@]}"; do
    start_program "kafka3:kafka3-$n" kafka3_node_ready "$n"
  done
}

kafka3_provision() {
  local topics entry name parts
  topics=$(kafka_admin org.apache.kafka.tools.TopicCommand --bootstrap-server "$(kafka3_bootstrap)" --list 2>>"$KAFKA3_RUN/admin.log") ||
    die "kafka3: cannot list topics"
  for entry in $KAFKA3_TOPICS; do
    name=${entry%%:*}
    parts=${entry#*:}
    grep -qxF -- "$name" <<<"$topics" && continue
    log "kafka3: creating topic $name ($parts partitions, replication factor 3, min.insync.replicas 2)"
    quiet kafka_admin org.apache.kafka.tools.TopicCommand --bootstrap-server "$(kafka3_bootstrap)" \
      --create --if-not-exists --topic "$name" --partitions "$parts" --replication-factor 3 \
      --config min.insync.replicas=2 --config unclean.leader.election.enable=false ||
      die "kafka3: could not create topic $name"
  done
  # The SCRAM credential lives in the cluster's metadata; setting it again is harmless.
  # ConfigCommand echoes the request when it fails: its output is dropped so that the
  # password never reaches a log.
  kafka_admin kafka.admin.ConfigCommand --bootstrap-server "$(kafka3_bootstrap)" --alter \
    --entity-type users --entity-name "$KAFKA3_SASL_USERNAME" \
    --add-config "SCRAM-SHA-512=[iterations=8192,password=$(<"$KAFKA3_SASL_PASSWORD_FILE")]" >/dev/null 2>&1
  local status=$?
  ((status == 0)) || die "kafka3: could not set the SCRAM credential of $KAFKA3_SASL_USERNAME"
}

kafka3_env() {
  local n proxies=()
  for n in "${KAFKA3_NODES[@]}"; do
    proxies+=("$(kafka3_client_advertised_port "$n"):$(kafka3_client_port "$n")")
  done
  cat <<EOF2
SURGE_KAFKA3_BOOTSTRAP=$(kafka3_bootstrap)
SURGE_KAFKA3_PROXIES=${proxies[*]}
SURGE_KAFKA3_RUN=$KAFKA3_RUN
SURGE_KAFKA3_SASL_BOOTSTRAP=$(kafka3_bootstrap kafka3_sasl_port)
SURGE_KAFKA3_SASL_USERNAME=$KAFKA3_SASL_USERNAME
SURGE_KAFKA3_SASL_PASSWORD_FILE=$KAFKA3_SASL_PASSWORD_FILE
SURGE_KAFKA3_CA_FILE=$KAFKA3_TLS/ca.pem
EOF2
}

kafka3_describe() {
  printf 'Kafka %s, three KRaft nodes %s (controllers :%s-:%s; SASL_SSL SCRAM-SHA-512 %s), RF 3, min.insync.replicas 2; topics %s' \
    "$KAFKA_VERSION" "$(kafka3_bootstrap)" "$(kafka3_controller_port 1)" "$(kafka3_controller_port 3)" \
    "$(kafka3_bootstrap kafka3_sasl_port)" "$KAFKA3_TOPICS"
}

kafka3_help() {
  cat <<EOF2
  SURGE_KAFKA3_BASE_PORT [29092]   node N listens on BASE+N-1, its controller on BASE+100+N-1,
                                   a CLIENT listener on BASE+200+N-1 advertised as BASE+300+N-1,
                                   SASL_SSL (SCRAM-SHA-512, user surge) on BASE+400+N-1
  SURGE_KAFKA3_TOPICS ["orders:12 orders.dlq:3"]   created with replication factor 3 when missing
  SURGE_KAFKA3_HEAP_OPTS [-Xmx512m]  heap of each node
EOF2
}
