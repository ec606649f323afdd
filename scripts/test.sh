#!/usr/bin/env bash
# The test command. On a fresh machine it installs what the tests need, starts the real
# infrastructure (Kafka, PostgreSQL), runs the format and lint checks, every test of the
# workspace against those real services, the container and observability checks, the quick
# flash-sale demo (which adds Prometheus and Jaeger), the offline Kubernetes checks, the
# checks against a real control plane and the short fault scenarios on a three-node Kafka
# cluster; then it stops whatever it started. Infrastructure already running is used and left running.
#
#   scripts/test.sh            # everything
#   SURGE_TEST_SKIP_K8S=1 scripts/test.sh   # skip the offline manifest checks
#   SURGE_TEST_SKIP_DEMO=1 scripts/test.sh  # skip the quick demo (it needs ports 8080-8092, 9102, 9103, 9308)
set -Eeuo pipefail

ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

log() { printf '\n==> %s\n' "$*"; }

# --- disk ------------------------------------------------------------------------------
# A cold run fills about 25 GB (target/ 15, .cache/ 3, the Go caches 8), a warm one a
# few; a full disk otherwise shows up minutes later as a compiler's "IO failure on output stream".
if [[ -d target/debug ]]; then min_free_gb=5; else min_free_gb=20; fi
min_free_gb=${SURGE_TEST_MIN_FREE_GB:-$min_free_gb}
free_gb=$(df -Pk . | awk 'NR == 2 {print int($4 / 1048576)}')
if ((free_gb < min_free_gb)); then
  echo "only ${free_gb} GB free on $(df -P . | awk 'NR == 2 {print $6}'); the tests need about ${min_free_gb} GB" \
    "(target/, .cache/, the Go caches). Free some space, or set SURGE_TEST_MIN_FREE_GB if you know better." >&2
  exit 1
fi

# --- toolchain and system packages (idempotent) -------------------------------------
need_apt=()
for pkg in build-essential pkg-config libssl-dev zlib1g-dev cmake curl python3-venv; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need_apt+=("$pkg")
done
if ((${#need_apt[@]})); then
  log "installing ${need_apt[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
if ! command -v cargo >/dev/null; then
  echo "cargo is missing: install Rust (https://rustup.rs) and re-run" >&2
  exit 1
fi
if command -v rustup >/dev/null; then
  rustup component add rustfmt clippy >/dev/null 2>&1 || true
fi

# --- real infrastructure -------------------------------------------------------------
started=()
for svc in kafka postgres prometheus jaeger kube kafka3; do
  if ! scripts/infra.sh status "$svc" | grep -q ' running '; then
    started+=("$svc")
  fi
done
cleanup() {
  local code=$?
  # Services still starting in the background are waited for, so that `down` finds them.
  if [[ -n ${jaeger_job:-} ]]; then wait "$jaeger_job" 2>/dev/null || true; fi
  if [[ -n ${kube_job:-} ]]; then wait "$kube_job" 2>/dev/null || true; fi
  if [[ -n ${helm_job:-} ]]; then wait "$helm_job" 2>/dev/null || true; fi
  if ((${#started[@]})); then
    # In reverse: the control plane's adapter reads Prometheus.
    local reversed=() i
    for ((i = ${#started[@]} - 1; i >= 0; i--)); do reversed+=("${started[i]}"); done
    log "stopping ${reversed[*]} (started by this run)"
    scripts/infra.sh down "${reversed[@]}" || true
  fi
  exit "$code"
}
trap cleanup EXIT
log "infrastructure: kafka postgres prometheus kafka3 (jaeger and the Kubernetes control plane in the background: their first builds take minutes)"
# kafka3, the three-node cluster, serves the SASL_SSL tests and the fault scenarios.
scripts/infra.sh up kafka postgres prometheus kafka3
mkdir -p target
scripts/infra.sh up jaeger >target/jaeger-up.log 2>&1 &
jaeger_job=$!
# The node agent's tests and the demo need the control plane; its cold build overlaps clippy.
scripts/infra.sh up kube >target/kube-up.log 2>&1 &
kube_job=$!
# helm's cold build (minutes) overlaps the tests too; the chart is checked after kube-check.
bash scripts/helm-check.sh --build >target/helm-build.log 2>&1 &
helm_job=$!
eval "$(scripts/infra.sh env)"
export SURGE_TEST_KAFKA_BOOTSTRAP="$SURGE_KAFKA_BOOTSTRAP"
export SURGE_TEST_DATABASE_ADMIN_URL="$SURGE_DATABASE_ADMIN_URL"

# --- checks --------------------------------------------------------------------------
log "cargo fmt --check"
cargo fmt --all -- --check

log "cargo clippy --workspace --all-targets -- -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

log "waiting for the Kubernetes control plane (the node agent's tests run against it)"
wait "$kube_job" || { cat target/kube-up.log; echo "the Kubernetes control plane did not start" >&2; exit 1; }
kube_job=
cat target/kube-up.log
export SURGE_TEST_KUBECONFIG="$SURGE_KUBECONFIG"

log "cargo test --workspace (real Kafka at $SURGE_KAFKA_BOOTSTRAP, SASL_SSL at $SURGE_KAFKA3_SASL_BOOTSTRAP, PostgreSQL at 127.0.0.1:5432, kube-apiserver from $SURGE_TEST_KUBECONFIG)"
mkdir -p target
set +e
cargo test --workspace --locked --no-fail-fast 2>&1 | tee target/test-output.log
test_status=${PIPESTATUS[0]}
set -e
passed=$(awk '/^test result:/ {for (i = 1; i <= NF; i++) if ($i ~ /^passed;?$/) s += $(i-1)} END {print s + 0}' target/test-output.log)
failed=$(awk '/^test result:/ {for (i = 1; i <= NF; i++) if ($i ~ /^failed;?$/) s += $(i-1)} END {print s + 0}' target/test-output.log)
if ((test_status != 0)); then
  echo "cargo test: $passed passed, $failed failed"
  exit "$test_status"
fi

log "benchmarks, short (figures only, nothing asserted on time)"
bash scripts/bench.sh --short --bin-dir target/debug

log "container images from docker/*.Dockerfile (local distroless base + the binaries cargo test built), run read-only as non-root"
bash scripts/container-check.sh --bin-dir target/debug

log "Prometheus rules (promtool check + unit tests) and Grafana dashboard structure"
bash scripts/observability-check.sh

if [[ "${SURGE_TEST_SKIP_DEMO:-}" != 1 ]]; then
  log "the quick flash-sale demo (debug build): audit, scale out and in, every dashboard query live in Prometheus, one trace in Jaeger"
  wait "$jaeger_job" || { cat target/jaeger-up.log; echo "jaeger did not start" >&2; exit 1; }
  bash scripts/demo.sh --quick --debug --out target/demo-quick
fi

if [[ "${SURGE_TEST_SKIP_K8S:-}" != 1 ]]; then
  log "Kubernetes manifests and compose file, validated offline"
  bash scripts/k8s-check.sh
fi

log "the real control plane: restart from the cache, every overlay admitted, the lag metric through the aggregator"
bash scripts/kube-check.sh

log "the Helm chart: lint, every value set validated offline and installed into the control plane, agreement with k8s/overlays/prod"
wait "$helm_job" || { cat target/helm-build.log; echo "helm could not be built" >&2; exit 1; }
helm_job=
cat target/helm-build.log
bash scripts/helm-check.sh

log "fault scenarios on a three-node Kafka cluster (short): load, one fault each, the audit"
bash scripts/chaos.sh --bin-dir target/debug --out target/chaos

log "all checks passed"
echo "cargo test: $passed passed, $failed failed"
