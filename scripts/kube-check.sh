#!/usr/bin/env bash
# Checks the local Kubernetes control plane (`scripts/infra.sh up prometheus kube`) with
# the real servers:
#
#   1. restart: `down kube` + `up kube` from the cache, timed (printed, not asserted);
#   2. admission: every overlay in k8s/overlays is accepted by the real API server
#      (`kubectl apply --server-side --dry-run=server -k`, CRDs installed), and the
#      broken fixtures in scripts/kube/fixtures are refused, which proves the step bites;
#   3. external metric: a fresh topic with a known number of records on the real Kafka,
#      read by the repo's lag-exporter, scraped by the real Prometheus with a `namespace`
#      label (as the shipped adapter rules need), answers through the aggregator as
#      kafka_consumergroup_lag with exactly that number; the predictive HPA's metrics
#      answer too: surge_consumergroup_lag_predicted (a flat lag predicts itself) and
#      surge_sale_calendar_replicas (0: no sale is due). Time to drain needs a group
#      that commits, so the demo's `--scaling drain-time` run is its live check.
#
#   bash scripts/kube-check.sh [--no-restart]
#
# Needs Kafka, Prometheus and the control plane running (`scripts/infra.sh up kafka
# prometheus kube`); whatever is missing fails with its name. The lag-exporter binary is
# target/debug/lag-exporter, built with cargo when missing.
set -Eeuo pipefail

ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

say() { printf 'kube-check: %s\n' "$*" >&2; }
fail() {
  printf 'kube-check: FAILED: %s\n' "$*" >&2
  exit 1
}

restart=1
for arg in "$@"; do
  case $arg in
    --no-restart) restart=0 ;;
    *) fail "unknown argument '$arg' (usage: scripts/kube-check.sh [--no-restart])" ;;
  esac
done

command -v curl >/dev/null || fail "curl is missing (apt-get install curl)"
eval "$(scripts/infra.sh env)"
for var in SURGE_KUBECONFIG KUBECTL SURGE_KAFKA_BOOTSTRAP SURGE_PROMETHEUS_URL SURGE_PROMETHEUS_TARGETS_DIR; do
  [[ -n ${!var:-} ]] || fail "scripts/infra.sh env does not define $var"
done
scripts/infra.sh status kube >/dev/null ||
  fail "the control plane is not running (scripts/infra.sh status kube); start it with \`scripts/infra.sh up prometheus kube\`"
[[ -x $KUBECTL ]] || fail "kubectl is missing at $KUBECTL (built by \`scripts/infra.sh up kube\`)"
kubectl() { "$KUBECTL" --kubeconfig "$SURGE_KUBECONFIG" "$@"; }

work=$(mktemp -d)
cleanups=("rm -rf $work")
cleanup() {
  local i
  for ((i = ${#cleanups[@]} - 1; i >= 0; i--)); do eval "${cleanups[i]}" || true; done
}
trap cleanup EXIT

# --- 1. restart from the cache --------------------------------------------------------
if ((restart)); then
  say "restarting the control plane from the cache (etcd data, certificates and binaries are kept)"
  scripts/infra.sh down kube >"$work/down.log" 2>&1 || { cat "$work/down.log" >&2; fail "scripts/infra.sh down kube"; }
  t0=$(date +%s%N)
  scripts/infra.sh up kube >"$work/up.log" 2>&1 || { cat "$work/up.log" >&2; fail "scripts/infra.sh up kube"; }
  t1=$(date +%s%N)
  grep -q 'kube: build time' "$work/up.log" && { cat "$work/up.log" >&2; fail "the restart rebuilt the binaries: the build cache did not hold"; }
  ms=$(((t1 - t0) / 1000000))
  say "control plane up from the cache in $((ms / 1000)).$((ms % 1000 / 100)) s (etcd, kube-apiserver," \
    "kube-controller-manager, kube-scheduler, prometheus-adapter, APIService Available, CRDs installed)"
fi

# --- 2. admission of every overlay --------------------------------------------------
# Server-side dry run does not create the namespaces an overlay brings, and objects in a
# namespace that does not exist are refused; so the namespaces are created for real first.
ensure_namespaces() {
  local render=$1 ns
  # One line per object (kubectl prints each object of a file on its own).
  for ns in $(kubectl create --dry-run=client -f "$render" -o 'jsonpath={.metadata.namespace}{"\n"}' | sort -u); do
    kubectl get namespace "$ns" >/dev/null 2>&1 || kubectl create namespace "$ns" >/dev/null
  done
}
admitted=0
for overlay in k8s/overlays/*/; do
  overlay=${overlay%/}
  kubectl kustomize "$overlay" >"$work/render.yaml" || fail "$overlay does not render"
  ensure_namespaces "$work/render.yaml"
  # --force-conflicts: objects another overlay applied for real (the demo's adapter rules in
  # `monitoring`) are owned by another field manager; who owns a field is not what this
  # check asks, only whether the server admits the manifests.
  if ! kubectl apply --server-side --dry-run=server --force-conflicts --field-manager kube-check \
    -f "$work/render.yaml" >"$work/apply.log" 2>&1; then
    cat "$work/apply.log" >&2
    fail "the API server refused $overlay (output above)"
  fi
  say "$overlay: $(wc -l <"$work/apply.log") objects admitted by the API server (server-side dry run)"
  admitted=$((admitted + 1))
done
((admitted)) || fail "no overlay found under k8s/overlays"

for fixture in scripts/kube/fixtures/broken-*/; do
  fixture=${fixture%/}
  kubectl kustomize "$fixture" >"$work/render.yaml" || fail "$fixture does not render"
  ensure_namespaces "$work/render.yaml"
  # Each fixture names the error it must be refused with, so a refusal for another reason
  # (a missing namespace, an unknown kind) does not count.
  expected=$(sed -n 's/^# refused with: //p' "$fixture/kustomization.yaml")
  [[ -n $expected ]] || fail "$fixture/kustomization.yaml has no '# refused with: ...' line"
  if kubectl apply --server-side --dry-run=server --force-conflicts --field-manager kube-check \
    -f "$work/render.yaml" >"$work/apply.log" 2>&1; then
    fail "the API server accepted the broken fixture $fixture: the admission step would not catch it"
  fi
  grep -qF -- "$expected" "$work/apply.log" ||
    { cat "$work/apply.log" >&2; fail "$fixture was refused, but not with '$expected' (output above)"; }
  say "$fixture: refused as it must be ($(grep -m1 -F -- "$expected" "$work/apply.log" | cut -c1-160))"
done

# --- 3. the external metric through the aggregator ----------------------------------
id="kube-check-$(date +%s)-$$"
topic=$id group=$id namespace=kube-check
records=$((40 + RANDOM % 60))
say "external metric: topic $topic with $records records on $SURGE_KAFKA_BOOTSTRAP, lag read by lag-exporter"
scripts/infra.sh kafka-tool TopicCommand --bootstrap-server "$SURGE_KAFKA_BOOTSTRAP" --create --topic "$topic" \
  --partitions 3 --replication-factor 1 >"$work/topic.log" 2>&1 ||
  { cat "$work/topic.log" >&2; fail "could not create topic $topic on Kafka at $SURGE_KAFKA_BOOTSTRAP"; }
cleanups+=("scripts/infra.sh kafka-tool TopicCommand --bootstrap-server $SURGE_KAFKA_BOOTSTRAP --delete --topic $topic >/dev/null 2>&1")
scripts/infra.sh kafka-tool ProducerPerformance --topic "$topic" --num-records "$records" --record-size 16 \
  --throughput -1 --producer-props "bootstrap.servers=$SURGE_KAFKA_BOOTSTRAP" acks=all >"$work/produce.log" 2>&1 ||
  { cat "$work/produce.log" >&2; fail "could not produce to $topic"; }

exporter=target/debug/lag-exporter
if [[ ! -x $exporter ]]; then
  say "building lag-exporter (cargo build -p lag-exporter)"
  cargo build --locked -q -p lag-exporter || fail "cargo build -p lag-exporter failed"
fi
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
SURGE__KAFKA__BOOTSTRAP_SERVERS=$SURGE_KAFKA_BOOTSTRAP SURGE__KAFKA__GROUP_ID=$group SURGE__KAFKA__TOPIC=$topic \
  SURGE__KAFKA__DLQ_TOPIC="$topic.dlq" SURGE__LAG_EXPORTER__PORT=$port \
  "$exporter" >"$work/lag-exporter.log" 2>&1 &
exporter_pid=$!
cleanups+=("kill $exporter_pid 2>/dev/null; wait $exporter_pid 2>/dev/null")

# The scrape target carries the namespace label that the shipped adapter rule maps to the
# HPA's namespace (Strimzi's exporter gets it from the pod's namespace in a cluster).
target="$SURGE_PROMETHEUS_TARGETS_DIR/$id.json"
[[ -d $SURGE_PROMETHEUS_TARGETS_DIR ]] || fail "Prometheus' target folder $SURGE_PROMETHEUS_TARGETS_DIR is missing"
printf '[{"targets": ["127.0.0.1:%s"], "labels": {"job": "lag-exporter", "namespace": "%s"}}]\n' "$port" "$namespace" \
  >"$SURGE_PROMETHEUS_TARGETS_DIR/.$id.json.tmp"
mv -f "$SURGE_PROMETHEUS_TARGETS_DIR/.$id.json.tmp" "$target"
cleanups+=("rm -f $target")

selector="consumergroup=$group,topic=$topic"
wait_for() { # SECONDS WHAT COMMAND...: until COMMAND prints a value
  local deadline=$((SECONDS + $1)) what=$2 value
  shift 2
  while ((SECONDS < deadline)); do
    if value=$("$@" 2>/dev/null) && [[ -n $value ]]; then
      printf '%s' "$value"
      return 0
    fi
    kill -0 "$exporter_pid" 2>/dev/null || { cat "$work/lag-exporter.log" >&2; fail "lag-exporter exited"; }
    sleep 1
  done
  fail "$what"
}
prometheus_sum() {
  curl -sf "$SURGE_PROMETHEUS_URL/api/v1/query" \
    --data-urlencode "query=sum(kafka_consumergroup_lag{namespace=\"$namespace\",consumergroup=\"$group\",topic=\"$topic\"})" |
    python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else "")'
}
external_value() { # [METRIC]
  kubectl get --raw "/apis/external.metrics.k8s.io/v1beta1/namespaces/$namespace/${1:-kafka_consumergroup_lag}?labelSelector=$(
    python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1]))' "$selector")" |
    python3 -c 'import json,sys; items=json.load(sys.stdin)["items"]; print(items[0]["value"] if items else "")'
}
in_prometheus=$(wait_for 60 "Prometheus at $SURGE_PROMETHEUS_URL has no kafka_consumergroup_lag for $selector after 60 s (target $target, exporter log $work/lag-exporter.log)" prometheus_sum)
say "Prometheus: sum(kafka_consumergroup_lag{namespace=\"$namespace\",$selector}) = $in_prometheus"
# The adapter lists series every 15 s (--metrics-relist-interval): a new one is unknown
# until the next relist.
value=$(wait_for 90 "the external metrics API did not answer kafka_consumergroup_lag for $selector in namespace $namespace within 90 s (adapter log: \$SURGE_INFRA_DIR/run/kube/prometheus-adapter.log)" external_value)
say "external.metrics.k8s.io: kafka_consumergroup_lag{$selector} in $namespace = $value"
[[ $value == "$records" ]] ||
  fail "the external metric is $value, but the topic holds $records records that group $group never consumed"
[[ $in_prometheus == "$records" ]] || fail "Prometheus has $in_prometheus, the topic holds $records records"

# The recording rules of observability/prometheus/rules/scaling.yml, through the adapter.
predicted=$(wait_for 90 "the external metrics API did not answer surge_consumergroup_lag_predicted for $selector within 90 s (is observability/prometheus/rules/scaling.yml loaded?)" external_value surge_consumergroup_lag_predicted)
say "external.metrics.k8s.io: surge_consumergroup_lag_predicted{$selector} in $namespace = $predicted"
[[ $predicted == "$records" ]] ||
  fail "the predicted lag is $predicted, but a lag that stays at $records records predicts $records"
calendar=$(wait_for 60 "the external metrics API did not answer surge_sale_calendar_replicas within 60 s" external_value surge_sale_calendar_replicas)
say "external.metrics.k8s.io: surge_sale_calendar_replicas{$selector} = $calendar"
[[ $calendar == 0 ]] || fail "the sale calendar asks for $calendar consumers of group $group, which no calendar names"

say "all checks passed ($admitted overlays admitted, broken fixtures refused, external metric = $records records of lag, predicted the same, calendar 0)"
