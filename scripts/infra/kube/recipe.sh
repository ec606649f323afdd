# shellcheck shell=bash
# kube: a real Kubernetes control plane on this machine. Sourced by scripts/infra.sh
# after scripts/infra/lib.sh (and after the prometheus recipe, whose port it reads).
#
#   etcd                     the cluster's store (--unsafe-no-fsync: a scratch cluster)
#   kube-apiserver           admits the shipped manifests; aggregator for external metrics
#   kube-controller-manager  Deployment, ReplicaSet, HPA, garbage-collector, namespace,
#                            service-account and disruption controllers
#   kube-scheduler           binds pods to the Node that the node agent registers
#   prometheus-adapter       serves external.metrics.k8s.io from the local Prometheus, with
#                            the rules of k8s/components/prometheus-adapter
#
# Everything is built from the Go module proxy at the versions of versions.env, through
# the wrapper modules in scripts/infra/kube/go/ (go.sum committed), and cached under
# $INFRA_DIR/kube/bin; certificates are made once in $INFRA_DIR/kube/pki. Clients use
# the admin kubeconfig `scripts/infra.sh env` exports as SURGE_KUBECONFIG, with our own
# kubectl (KUBECTL). No kubelet runs: a Node and its pods are the node agent's job.

KUBE_SRC="$RECIPES_DIR/kube"
KUBE_HOME="$INFRA_DIR/kube"
KUBE_BIN="$KUBE_HOME/bin"
KUBE_PKI="$KUBE_HOME/pki"
KUBE_KUBECONFIG="$KUBE_HOME/admin.kubeconfig"
KUBE_RUN="$RUN_DIR/kube"
KUBECTL_BIN="$KUBE_BIN/kubectl"

KUBE_ETCD_PORT=${SURGE_KUBE_ETCD_PORT:-2379}
KUBE_ETCD_PEER_PORT=${SURGE_KUBE_ETCD_PEER_PORT:-2380}
KUBE_APISERVER_PORT=${SURGE_KUBE_APISERVER_PORT:-6443}
KUBE_ADAPTER_PORT=${SURGE_KUBE_ADAPTER_PORT:-6444}
KUBE_CONTROLLER_MANAGER_PORT=${SURGE_KUBE_CONTROLLER_MANAGER_PORT:-10257}
KUBE_SCHEDULER_PORT=${SURGE_KUBE_SCHEDULER_PORT:-10259}
KUBE_PROMETHEUS_URL=${SURGE_KUBE_PROMETHEUS_URL:-http://$HOST:${PROMETHEUS_PORT:-9090}}
readonly KUBE_SRC KUBE_HOME KUBE_BIN KUBE_PKI KUBE_KUBECONFIG KUBE_RUN KUBECTL_BIN KUBE_ETCD_PORT \
  KUBE_ETCD_PEER_PORT KUBE_APISERVER_PORT KUBE_ADAPTER_PORT KUBE_CONTROLLER_MANAGER_PORT KUBE_SCHEDULER_PORT \
  KUBE_PROMETHEUS_URL

# Controllers that make Deployments and autoscaling work without a kubelet. Left out on
# purpose: pod-garbage-collector (deletes pods of a Node it does not know), node-lifecycle
# and taint-eviction (evict when kubelet heartbeats are missing), endpoints/endpointslice
# (pod IPs here are loopback addresses, which Endpoints refuse), and the token
# controller (tokens are not mounted anywhere: pods are processes).
readonly KUBE_CONTROLLERS=deployment-controller,replicaset-controller,horizontal-pod-autoscaler-controller,garbage-collector-controller,namespace-controller,serviceaccount-controller,disruption-controller

# shellcheck source=scripts/infra/kube/pki.sh
source "$KUBE_SRC/pki.sh"

# ------------------------------------------------------------------- build --

kube_ldflags() {
  local v=$KUBERNETES_VERSION minor=${KUBERNETES_VERSION#v1.} pkg flags="-s -w"
  minor=${minor%%.*}
  # The release stamp that hack/lib/version.sh sets, so `kubectl version` and the
  # version-skew checks see v1.x.y instead of v0.0.0-master.
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    flags+=" -X $pkg.gitVersion=$v -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
  done
  printf '%s' "$flags"
}

# What the cached binaries were built from; a difference rebuilds them.
kube_build_key() {
  printf 'kubernetes=%s etcd=%s prometheus-adapter=%s %s ldflags=[%s] modules=%s\n' \
    "$KUBERNETES_VERSION" "$ETCD_VERSION" "$PROMETHEUS_ADAPTER_VERSION" "$(go env GOVERSION)" "$(kube_ldflags)" \
    "$(cat "$KUBE_SRC"/go/*/go.mod "$KUBE_SRC"/go/*/go.sum | sha256sum | cut -c1-16)"
}

# The wrapper modules must require the versions of versions.env (one home per version).
kube_check_wrappers() {
  local module version dir
  for module in "kubernetes k8s.io/kubernetes $KUBERNETES_VERSION" \
    "etcd go.etcd.io/etcd/server/v3 $ETCD_VERSION" \
    "prometheus-adapter sigs.k8s.io/prometheus-adapter $PROMETHEUS_ADAPTER_VERSION"; do
    read -r dir module version <<<"$module"
    grep -Eq "^[[:space:]]*(require[[:space:]]+)?$module $version( |$)" "$KUBE_SRC/go/$dir/go.mod" ||
      die "kube: scripts/infra/kube/go/$dir/go.mod does not require $module $version (versions.env);" \
        "regenerate the wrappers with \`bash scripts/infra/kube/go/update.sh\`"
  done
}

# kube_go_build WRAPPER OUT LDFLAGS PACKAGE... (OUT: a file, or a folder ending in /).
# CGO off (the releases build these statically), -trimpath and no VCS stamp, so the same
# sources give the same binaries on every machine; -mod=readonly: the committed go.sum is
# the whole truth.
kube_go_build() {
  local wrapper=$1 out=$2 ldflags=$3
  shift 3
  (
    cd "$KUBE_SRC/go/$wrapper"
    CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS="-mod=readonly -buildvcs=false" \
      quiet go build -trimpath -ldflags "$ldflags" -o "$out" "$@"
  ) || die "kube: go build in scripts/infra/kube/go/$wrapper failed (output above)"
}

kube_ensure_binaries() {
  local key
  command -v go >/dev/null 2>&1 || die "kube: building the control plane needs the Go toolchain (\`go\`, 1.24 or newer) on the PATH"
  kube_check_wrappers
  key=$(kube_build_key)
  if [[ -f $KUBE_BIN/.build-key && $(cat "$KUBE_BIN/.build-key") == "$key" ]]; then
    return 0
  fi
  local tmp="$KUBE_HOME/bin.tmp" t0=$SECONDS t
  log "kube: building Kubernetes $KUBERNETES_VERSION (kube-apiserver, kube-controller-manager, kube-scheduler," \
    "kubectl), etcd $ETCD_VERSION and prometheus-adapter $PROMETHEUS_ADAPTER_VERSION with $(go env GOVERSION);" \
    "a cold build takes several minutes"
  rm -rf "$tmp"
  mkdir -p "$tmp"
  kube_go_build kubernetes "$tmp/" "$(kube_ldflags)" k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl
  t=$SECONDS
  log "kube: Kubernetes binaries built in $((t - t0))s"
  # Not the Kubernetes stamp: the adapter's own Kubernetes libraries are another release.
  kube_go_build etcd "$tmp/etcd" "-s -w" go.etcd.io/etcd/server/v3
  kube_go_build prometheus-adapter "$tmp/prometheus-adapter" "-s -w" sigs.k8s.io/prometheus-adapter/cmd/adapter
  log "kube: etcd and prometheus-adapter built in $((SECONDS - t))s"
  printf '%s\n' "$key" >"$tmp/.build-key"
  rm -rf "$KUBE_BIN"
  mv "$tmp" "$KUBE_BIN"
  log "kube: build time $((SECONDS - t0))s (cold build; later starts reuse $KUBE_BIN)"
}

kube_prepare() {
  require_free_ports kube "$KUBE_ETCD_PORT" "$KUBE_ETCD_PEER_PORT" "$KUBE_APISERVER_PORT" "$KUBE_ADAPTER_PORT" \
    "$KUBE_CONTROLLER_MANAGER_PORT" "$KUBE_SCHEDULER_PORT"
  command -v curl >/dev/null 2>&1 || apt_install curl
  mkdir -p "$KUBE_HOME"
  kube_ensure_binaries
  kube_pki_ensure "$KUBE_PKI"
}

# ------------------------------------------------------------------- start --

kubectl_admin() { "$KUBECTL_BIN" --kubeconfig "$KUBE_KUBECONFIG" "$@"; }

# Ready checks (start_program runs them until they succeed).
kube_etcd_ready() { [[ $(curl -sf "http://$HOST:$KUBE_ETCD_PORT/health") == *'"health":"true"'* ]]; }
kube_apiserver_ready() {
  [[ $(curl -sf --cacert "$KUBE_PKI/ca.crt" --cert "$KUBE_PKI/admin.crt" --key "$KUBE_PKI/admin.key" \
    "https://$HOST:$KUBE_APISERVER_PORT/readyz") == ok ]]
}
# The components serve /healthz with a certificate they made themselves (hence -k) and
# authenticate callers through the API server; the admin certificate is always let in.
kube_healthz_ok() {
  [[ $(curl -skf --cert "$KUBE_PKI/admin.crt" --key "$KUBE_PKI/admin.key" "https://$HOST:$1/healthz") == ok ]]
}

kube_write_kubeconfig() {
  render "$KUBE_SRC/kubeconfig.in" "$KUBE_KUBECONFIG" SERVER="https://$HOST:$KUBE_APISERVER_PORT" \
    CA="$KUBE_PKI/ca.crt" CERT="$KUBE_PKI/admin.crt" KEY="$KUBE_PKI/admin.key"
  chmod 600 "$KUBE_KUBECONFIG"
}

# The adapter runs with the config.yaml of the shipped ConfigMap, so the rules under test
# are the ones a cluster gets.
kube_write_adapter_config() {
  local rules="$REPO_ROOT/k8s/components/prometheus-adapter/adapter-rules.yaml"
  kubectl_admin create --dry-run=client -f "$rules" -o 'jsonpath={.data.config\.yaml}' \
    >"$KUBE_RUN/prometheus-adapter.yaml.tmp" ||
    die "kube: could not read data.config.yaml from $rules"
  [[ -s $KUBE_RUN/prometheus-adapter.yaml.tmp ]] || die "kube: $rules has no data.config.yaml"
  mv -f "$KUBE_RUN/prometheus-adapter.yaml.tmp" "$KUBE_RUN/prometheus-adapter.yaml"
}

kube_require_prometheus() {
  [[ $(curl -s -o /dev/null -w '%{http_code}' "$KUBE_PROMETHEUS_URL/-/ready") == 200 ]] ||
    die "kube: prometheus-adapter needs Prometheus, and $KUBE_PROMETHEUS_URL/-/ready does not answer;" \
      "start it first (\`scripts/infra.sh up prometheus kube\`) or point SURGE_KUBE_PROMETHEUS_URL at a running one"
}

kube_start() {
  local t0=$SECONDS
  kube_require_prometheus
  mkdir -p "$KUBE_RUN" "$KUBE_RUN/data" "$KUBE_RUN/data/prometheus-adapter-certs"
  kube_write_kubeconfig
  program_conf kube RUN="$KUBE_RUN" DATA="$KUBE_RUN/data" BIN="$KUBE_BIN" PKI="$KUBE_PKI" KUBECONFIG="$KUBE_KUBECONFIG" CONTROLLERS="$KUBE_CONTROLLERS" \
    ETCD_PORT="$KUBE_ETCD_PORT" ETCD_PEER_PORT="$KUBE_ETCD_PEER_PORT" APISERVER_PORT="$KUBE_APISERVER_PORT" \
    CONTROLLER_MANAGER_PORT="$KUBE_CONTROLLER_MANAGER_PORT" SCHEDULER_PORT="$KUBE_SCHEDULER_PORT" \
    ADAPTER_PORT="$KUBE_ADAPTER_PORT" PROMETHEUS_URL="$KUBE_PROMETHEUS_URL"
  start_program kube-etcd kube_etcd_ready
  start_program kube-apiserver kube_apiserver_ready
  start_program kube-controller-manager kube_healthz_ok "$KUBE_CONTROLLER_MANAGER_PORT"
  start_program kube-scheduler kube_healthz_ok "$KUBE_SCHEDULER_PORT"
  kube_write_adapter_config
  start_program kube-prometheus-adapter kube_healthz_ok "$KUBE_ADAPTER_PORT"
  log "kube: control plane ready in $((SECONDS - t0))s: https://$HOST:$KUBE_APISERVER_PORT" \
    "(kubeconfig $KUBE_KUBECONFIG)"
}

# --------------------------------------------------------------- provision --

kube_provision() {
  local t0=$SECONDS line crd_path crd_sets
  render "$KUBE_SRC/aggregation.yaml.in" "$KUBE_RUN/aggregation.yaml" ADAPTER_PORT="$KUBE_ADAPTER_PORT"
  quiet kubectl_admin apply --server-side --force-conflicts --field-manager surge-infra \
    -f "$KUBE_RUN/aggregation.yaml" || die "kube: could not register the external metrics API (output above)"
  quiet kubectl_admin wait --for condition=Available --timeout "${TIMEOUT}s" \
    apiservice/v1beta1.external.metrics.k8s.io ||
    die "kube: APIService v1beta1.external.metrics.k8s.io did not become Available within ${TIMEOUT}s" \
      "($(kubectl_admin get apiservice v1beta1.external.metrics.k8s.io \
        -o 'jsonpath={.status.conditions[?(@.type=="Available")].message}' 2>&1));" \
      "adapter log: $KUBE_RUN/prometheus-adapter.log"
  # The CRDs the manifests use, at the versions the offline checks validate against, so
  # that their custom resources (Kafka, PodMonitor, ScaledObject, VPA...) are admitted.
  # etcd keeps them across restarts: the marker next to etcd's data (crds.sh and its
  # pins) skips the work when nothing changed.
  local marker="$KUBE_RUN/data/crds.applied" key
  key=$({
    cat "$REPO_ROOT/scripts/k8s/crds.sh"
    echo "$PROMETHEUS_OPERATOR_VERSION $KEDA_VERSION $VPA_VERSION $STRIMZI_VERSION"
  } | sha256sum | cut -c1-16)
  if [[ -f $marker && $(cat "$marker") == "$key" ]]; then
    log "kube: external metrics API available, CRDs already installed ($((SECONDS - t0))s)"
    return 0
  fi
  crd_sets=$(bash "$REPO_ROOT/scripts/k8s/crds.sh") || die "kube: scripts/k8s/crds.sh could not provide the CRDs"
  while IFS= read -r line; do
    crd_path=${line#*=}
    quiet kubectl_admin apply --server-side --force-conflicts --field-manager surge-infra -f "$crd_path" ||
      die "kube: installing the CRDs of ${line%%=*} from $crd_path failed (output above)"
  done <<<"$crd_sets"
  quiet kubectl_admin wait --for condition=Established --timeout "${TIMEOUT}s" crd --all ||
    die "kube: the CRDs did not become Established within ${TIMEOUT}s"
  printf '%s\n' "$key" >"$marker"
  log "kube: external metrics API available, $(kubectl_admin get crd --no-headers | wc -l) CRDs installed" \
    "in $((SECONDS - t0))s"
}

# ----------------------------------------------------------- env, describe --

kube_env() {
  printf '%s\n' \
    "SURGE_KUBECONFIG=$KUBE_KUBECONFIG" \
    "KUBECTL=$KUBECTL_BIN" \
    "SURGE_KUBE_APISERVER_URL=https://$HOST:$KUBE_APISERVER_PORT" \
    "SURGE_KUBE_BIN_DIR=$KUBE_BIN"
}

kube_describe() {
  printf 'https://%s:%s (etcd :%s, prometheus-adapter :%s -> %s), kubeconfig %s\n' "$HOST" "$KUBE_APISERVER_PORT" \
    "$KUBE_ETCD_PORT" "$KUBE_ADAPTER_PORT" "$KUBE_PROMETHEUS_URL" "$KUBE_KUBECONFIG"
}

kube_help() {
  printf '  SURGE_KUBE_APISERVER_PORT [6443] SURGE_KUBE_ADAPTER_PORT [6444]\n'
  printf '  SURGE_KUBE_ETCD_PORT [2379] SURGE_KUBE_ETCD_PEER_PORT [2380]\n'
  printf '  SURGE_KUBE_CONTROLLER_MANAGER_PORT [10257] SURGE_KUBE_SCHEDULER_PORT [10259]\n'
  printf '  SURGE_KUBE_PROMETHEUS_URL [http://%s:%s]  the Prometheus that prometheus-adapter reads\n' \
    "$HOST" "${PROMETHEUS_PORT:-9090}"
}
