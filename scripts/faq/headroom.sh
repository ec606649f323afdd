#!/usr/bin/env bash
# Node headroom for a flash sale, on the running local control plane (docs/faq.md): the
# placeholder pods of k8s/overlays/prod/overprovisioning.yaml, applied unchanged but for a
# nodeSelector and toleration that keep them on a Node of this script's own, fill that
# Node; then a pod of default priority arrives. The real kube-scheduler preempts a
# placeholder and binds the new pod; the ReplicaSet's replacement placeholder stays
# Pending as Unschedulable, which is what makes a Cluster Autoscaler add a node.
#
#   SURGE_INFRA_DIR=... scripts/faq/headroom.sh [--cpu N]   (the Node's CPUs, default 2)
#
# The Node is an API object only (no kubelet, nothing runs), tainted so that no other
# pod lands on it. Starts nothing: it creates a Node, a namespace and, when missing, the
# PriorityClass, and deletes what it created. Needs `scripts/infra.sh up kube` running.
set -Eeuo pipefail

ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
# shellcheck source=scripts/faq/lib.sh
source scripts/faq/lib.sh

CPU=2
while (($#)); do
  case $1 in
    --cpu) CPU=${2:?--cpu needs a number}; shift ;;
    -h | --help) print_help; exit 0 ;;
    *) echo "headroom: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
[[ $CPU =~ ^[1-9][0-9]*$ ]] || { echo "headroom: --cpu takes a positive whole number" >&2; exit 2; }


eval "$(scripts/infra.sh env)"
scripts/infra.sh status kube >/dev/null || fail "needs the local control plane (scripts/infra.sh up kube); this script does not start it"
k() { "$KUBECTL" --kubeconfig "$SURGE_KUBECONFIG" "$@"; }

NAME=faq-headroom-$(date +%Y%m%d%H%M%S)-$$
WORK=$(mktemp -d "${TMPDIR:-/tmp}/surge-faq-headroom.XXXXXX")
created_node=0 created_ns=0 created_pc=0
cleanup() {
  if ((created_ns)); then
    # Nothing runs these pods, so a graceful delete would wait for a kubelet forever.
    k -n "$NAME" delete deployment overprovisioning --ignore-not-found >/dev/null 2>&1 || true
    k -n "$NAME" delete pod --all --grace-period=0 --force >/dev/null 2>&1 || true
    k delete namespace "$NAME" --timeout=60s >/dev/null 2>&1 || true
  fi
  if ((created_node)); then k delete node "$NAME" >/dev/null 2>&1 || true; fi
  if ((created_pc)); then k delete priorityclass surge-overprovisioning >/dev/null 2>&1 || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

say "a Node $NAME with $CPU CPUs (tainted surge.dev/faq=$NAME:NoSchedule, no kubelet)"
k apply -f - >/dev/null <<YAML
apiVersion: v1
kind: Node
metadata:
  name: $NAME
  labels: {surge.dev/faq: $NAME}
spec:
  taints: [{key: surge.dev/faq, value: $NAME, effect: NoSchedule}]
YAML
created_node=1
now=$(date -u +%FT%TZ)
k patch node "$NAME" --subresource=status --type=merge -p "{\"status\":{
  \"capacity\":{\"cpu\":\"$CPU\",\"memory\":\"$((2 * CPU))Gi\",\"pods\":\"20\"},
  \"allocatable\":{\"cpu\":\"$CPU\",\"memory\":\"$((2 * CPU))Gi\",\"pods\":\"20\"},
  \"conditions\":[{\"type\":\"Ready\",\"status\":\"True\",\"reason\":\"NoKubelet\",
    \"message\":\"an API object for scripts/faq/headroom.sh\",
    \"lastHeartbeatTime\":\"$now\",\"lastTransitionTime\":\"$now\"}]}}" >/dev/null
k create namespace "$NAME" >/dev/null
created_ns=1
k get priorityclass surge-overprovisioning >/dev/null 2>&1 || created_pc=1

# The shipped manifest, replicas = one placeholder per CPU of the Node, pinned to it.
cp k8s/overlays/prod/overprovisioning.yaml "$WORK/"
cat >"$WORK/kustomization.yaml" <<YAML
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: $NAME
resources: [overprovisioning.yaml]
replicas: [{name: overprovisioning, count: $CPU}]
patches:
  - target: {kind: Deployment, name: overprovisioning}
    patch: |-
      - op: add
        path: /spec/template/spec/nodeSelector
        value: {surge.dev/faq: $NAME}
      - op: add
        path: /spec/template/spec/tolerations
        value: [{key: surge.dev/faq, operator: Equal, value: $NAME, effect: NoSchedule}]
YAML
say "k8s/overlays/prod/overprovisioning.yaml: PriorityClass surge-overprovisioning, $CPU placeholders of 1 CPU"
k apply -k "$WORK" | sed 's/^/  /'

bound() { k -n "$NAME" get pods -l app.kubernetes.io/name="$1" -o jsonpath='{range .items[*]}{.spec.nodeName}{"\n"}{end}' | grep -c . || true; }
deadline=$((SECONDS + 60))
until [[ $(bound overprovisioning) -eq $CPU ]]; do
  ((SECONDS < deadline)) || fail "the placeholders were not bound within 60 s"
  sleep 0.5
done
echo "  $CPU placeholders bound: the Node's $CPU CPUs are all requested"

say "a pod of default priority requesting 1 CPU arrives (a consumer the HPA just added)"
start=$(date +%s.%N)
k -n "$NAME" apply -f - >/dev/null <<YAML
apiVersion: v1
kind: Pod
metadata:
  name: sale-pod
  labels: {app.kubernetes.io/name: sale-pod}
spec:
  terminationGracePeriodSeconds: 0
  nodeSelector: {surge.dev/faq: $NAME}
  tolerations: [{key: surge.dev/faq, operator: Equal, value: $NAME, effect: NoSchedule}]
  containers:
    - name: app
      image: registry.k8s.io/pause:3.10
      resources: {requests: {cpu: "1", memory: 1Gi}, limits: {memory: 1Gi}}
YAML
deadline=$((SECONDS + 60))
until [[ $(bound sale-pod) -eq 1 ]]; do
  ((SECONDS < deadline)) || fail "sale-pod was not bound within 60 s"
  sleep 0.1
done
took=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')
echo "  sale-pod bound to $NAME ${took} s after it was created"

# The replacement placeholder: Pending, Unschedulable, and not allowed to preempt anyone.
deadline=$((SECONDS + 30))
until reason=$(k -n "$NAME" get pods -l app.kubernetes.io/name=overprovisioning \
  -o jsonpath='{range .items[*]}{.spec.nodeName}|{.status.conditions[?(@.type=="PodScheduled")].message}{"\n"}{end}' |
  awk -F'|' '$1 == "" && $2 != "" { print $2; exit }') && [[ -n $reason ]]; do
  ((SECONDS < deadline)) || fail "no replacement placeholder turned Unschedulable within 30 s"
  sleep 0.5
done
echo "  replacement placeholder Pending: $reason"
echo "events:"
k -n "$NAME" get events --sort-by=.lastTimestamp \
  -o custom-columns=REASON:.reason,OBJECT:.involvedObject.name,MESSAGE:.message --no-headers |
  grep -E 'Preempted|Scheduled|FailedScheduling' | sed 's/^/  /'
