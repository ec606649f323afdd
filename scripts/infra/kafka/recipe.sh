# shellcheck shell=bash
# Apache Kafka, one KRaft node (broker and controller), from the jars on
# Maven Central. Sourced by scripts/infra.sh after scripts/infra/lib.sh.

KAFKA_PORT=${SURGE_KAFKA_PORT:-9092}
KAFKA_CONTROLLER_PORT=${SURGE_KAFKA_CONTROLLER_PORT:-9093}
# A third listener that tests cut and restore through a TCP proxy of their own:
# the broker advertises the proxy's port, not its own.
KAFKA_FAULT_PORT=${SURGE_KAFKA_FAULT_PORT:-9094}
KAFKA_FAULT_ADVERTISED_PORT=${SURGE_KAFKA_FAULT_ADVERTISED_PORT:-19094}
# Topics created on every `up kafka` when missing, NAME:PARTITIONS.
KAFKA_TOPICS=${SURGE_KAFKA_TOPICS:-"orders:12 orders.dlq:3"}
KAFKA_HEAP_OPTS=${SURGE_KAFKA_HEAP_OPTS:-"-Xmx768m"}
KAFKA_TOOL_OPTS=${SURGE_KAFKA_TOOL_OPTS:-"-Xmx1g"}
readonly KAFKA_PORT KAFKA_CONTROLLER_PORT KAFKA_FAULT_PORT KAFKA_FAULT_ADVERTISED_PORT \
  KAFKA_TOPICS KAFKA_HEAP_OPTS KAFKA_TOOL_OPTS

readonly KAFKA_RECIPE="$RECIPES_DIR/kafka"
readonly KAFKA_HOME="$INFRA_DIR/kafka-$KAFKA_VERSION"
readonly KAFKA_LIB="$KAFKA_HOME/lib"
readonly KAFKA_RUN="$RUN_DIR/kafka"
readonly KAFKA_TOOLS_LOG4J="$KAFKA_RECIPE/tools-log4j2.properties"

kafka_ensure_java() {
  if ! command -v java >/dev/null 2>&1; then
    apt_install openjdk-17-jre-headless
  fi
  local major
  major=$(java -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p')
  major=${major%%.*}
  if ! [[ $major =~ ^[0-9]+$ ]] || ((major < 17)); then
    die "Kafka $KAFKA_VERSION needs Java 17 or newer; \`java\` is version ${major:-unknown}"
  fi
}

kafka_lib_marker() {
  printf 'kafka=%s log4j=%s pom=%s\n' "$KAFKA_VERSION" "$LOG4J_VERSION" \
    "$(sha256sum "$KAFKA_RECIPE/pom.xml" | cut -c1-16)"
}

kafka_lib_ready() {
  [[ -f $KAFKA_LIB/.complete && $(cat "$KAFKA_LIB/.complete") == "$(kafka_lib_marker)" ]]
}

kafka_ensure_lib() {
  kafka_ensure_java
  kafka_lib_ready && return 0
  command -v mvn >/dev/null 2>&1 || apt_install maven
  log "kafka: downloading Kafka $KAFKA_VERSION jars from Maven Central into $KAFKA_LIB"
  local tmp="$KAFKA_HOME/lib.download"
  rm -rf "$tmp"
  mkdir -p "$KAFKA_HOME"
  quiet mvn -B -q -f "$KAFKA_RECIPE/pom.xml" \
    -Dmaven.repo.local="$INFRA_DIR/maven-repo" \
    -Dkafka.version="$KAFKA_VERSION" -Dlog4j.version="$LOG4J_VERSION" \
    dependency:copy-dependencies -DoutputDirectory="$tmp" ||
    die "kafka: could not download the Kafka $KAFKA_VERSION jars (mvn failed, output above)"
  [[ -f $tmp/kafka_2.13-$KAFKA_VERSION.jar && -f $tmp/kafka-tools-$KAFKA_VERSION.jar &&
    -f $tmp/log4j-slf4j-impl-$LOG4J_VERSION.jar && -f $tmp/log4j-core-$LOG4J_VERSION.jar ]] ||
    die "kafka: the download in $tmp is incomplete (is log4j-core still $LOG4J_VERSION for Kafka $KAFKA_VERSION?)"
  rm -rf "$KAFKA_LIB"
  mv "$tmp" "$KAFKA_LIB"
  kafka_lib_marker >"$KAFKA_LIB/.complete"
  log "kafka: $(find "$KAFKA_LIB" -name '*.jar' | wc -l) jars ready"
}

# Runs a Kafka tool class quickly (small heap, fast JIT start) for admin calls.
kafka_admin() {
  timeout 120 java -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$KAFKA_TOOLS_LOG4J" -cp "$KAFKA_LIB/*" "$@" 9>&-
}

kafka_list_topics() {
  kafka_admin org.apache.kafka.tools.TopicCommand --bootstrap-server "$HOST:$KAFKA_PORT" --list
}

# kafka_cluster_id SERVICE FILE: the cluster id kept in FILE, made with StorageTool the
# first time (also used by the kafka3 recipe).
kafka_cluster_id() {
  local svc=$1 file=$2 id
  if [[ -s $file ]]; then
    id=$(<"$file")
  else
    id=$(kafka_admin kafka.tools.StorageTool random-uuid) || die "$svc: StorageTool random-uuid failed"
    [[ $id =~ ^[A-Za-z0-9_-]{22}$ ]] || die "$svc: unexpected cluster id from StorageTool: $id"
    printf '%s\n' "$id" >"$file"
  fi
  printf '%s' "$id"
}

kafka_format() {
  [[ -f $KAFKA_RUN/data/meta.properties ]] && return 0
  local id
  id=$(kafka_cluster_id kafka "$KAFKA_RUN/cluster.id")
  log "kafka: formatting storage (cluster id $id)"
  quiet kafka_admin kafka.tools.StorageTool format --standalone -t "$id" \
    -c "$KAFKA_RUN/server.properties" || die "kafka: formatting $KAFKA_RUN/data failed"
}

kafka_prepare() {
  require_free_ports kafka "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT" "$KAFKA_FAULT_PORT"
  kafka_ensure_lib
  mkdir -p "$KAFKA_RUN/data" "$KAFKA_RUN/logs"
  render "$KAFKA_RECIPE/server.properties.in" "$KAFKA_RUN/server.properties" \
    PORT="$KAFKA_PORT" CONTROLLER_PORT="$KAFKA_CONTROLLER_PORT" \
    FAULT_PORT="$KAFKA_FAULT_PORT" FAULT_ADVERTISED_PORT="$KAFKA_FAULT_ADVERTISED_PORT" \
    DATA_DIR="$KAFKA_RUN/data"
  cp -f "$KAFKA_RECIPE/log4j2.properties" "$KAFKA_RUN/log4j2.properties"
  kafka_format
}

# Ready when the broker answers a real admin request, not just a TCP connect.
# The answer (the topic list) is kept for kafka_provision: one JVM start less.
KAFKA_TOPICS_SEEN=""
kafka_ready() {
  port_open "$KAFKA_PORT" && KAFKA_TOPICS_SEEN=$(kafka_list_topics 2>>"$KAFKA_RUN/admin.log")
}

kafka_start() {
  program_conf kafka JAVA="$(command -v java)" HEAP_OPTS="$KAFKA_HEAP_OPTS" KAFKA_LIB="$KAFKA_LIB"
  start_program kafka kafka_ready
}

kafka_provision() {
  local topics=$KAFKA_TOPICS_SEEN entry name parts
  for entry in $KAFKA_TOPICS; do
    name=${entry%%:*}
    parts=${entry#*:}
    grep -qxF -- "$name" <<<"$topics" && continue
    log "kafka: creating topic $name ($parts partitions)"
    quiet kafka_admin org.apache.kafka.tools.TopicCommand --bootstrap-server "$HOST:$KAFKA_PORT" \
      --create --if-not-exists --topic "$name" --partitions "$parts" --replication-factor 1 ||
      die "kafka: could not create topic $name"
  done
}

kafka_env() {
  cat <<EOF
SURGE_KAFKA_BOOTSTRAP=$HOST:$KAFKA_PORT
SURGE_KAFKA_FAULT_LISTENER=$HOST:$KAFKA_FAULT_PORT
SURGE_KAFKA_FAULT_BOOTSTRAP=$HOST:$KAFKA_FAULT_ADVERTISED_PORT
SURGE_KAFKA_TOPIC=orders
SURGE_KAFKA_DLQ_TOPIC=orders.dlq
KAFKA_VERSION=$KAFKA_VERSION
KAFKA_LIB=$KAFKA_LIB
KAFKA_TOOLS_LOG4J=$KAFKA_TOOLS_LOG4J
EOF
}

kafka_describe() {
  printf 'Kafka %s (KRaft) %s:%s, controller :%s, fault :%s advertised as :%s; topics %s' \
    "$KAFKA_VERSION" "$HOST" "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT" "$KAFKA_FAULT_PORT" \
    "$KAFKA_FAULT_ADVERTISED_PORT" "$KAFKA_TOPICS"
}

kafka_help() {
  cat <<EOF
  SURGE_KAFKA_PORT [9092] SURGE_KAFKA_CONTROLLER_PORT [9093]
  SURGE_KAFKA_FAULT_PORT [9094] SURGE_KAFKA_FAULT_ADVERTISED_PORT [19094]
  SURGE_KAFKA_TOPICS ["orders:12 orders.dlq:3"]   NAME:PARTITIONS created when missing
  SURGE_KAFKA_HEAP_OPTS [-Xmx768m]  broker heap; SURGE_KAFKA_TOOL_OPTS [-Xmx1g] kafka-tool JVM options
EOF
}

# `scripts/infra.sh kafka-tool CLASS ARGS...`: a Kafka tool with the cached jars.
cmd_kafka_tool() {
  (($#)) || die "usage: scripts/infra.sh kafka-tool CLASS [ARGS...]  (e.g. org.apache.kafka.tools.ProducerPerformance)"
  local class=$1 opts=()
  shift
  # A bare name means a class of org.apache.kafka.tools (TopicCommand, ProducerPerformance, ...).
  [[ $class == *.* ]] || class="org.apache.kafka.tools.$class"
  if ! kafka_lib_ready; then
    take_lock
    kafka_ensure_lib
    exec 9>&-
  fi
  kafka_ensure_java
  read -r -a opts <<<"$KAFKA_TOOL_OPTS"
  exec java "${opts[@]}" -Djava.awt.headless=true -Dlog4j2.configurationFile="$KAFKA_TOOLS_LOG4J" \
    -cp "$KAFKA_LIB/*" "$class" "$@"
}
