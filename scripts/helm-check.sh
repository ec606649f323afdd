#!/usr/bin/env bash
# Checks the Helm chart charts/surge with the real tools:
#
#   1. helm (helm.sh/helm/v4 at HELM_VERSION, built from the Go module proxy and cached
#      under .cache/helm/<version>/) lints the chart strictly, with the default values and
#      with every value set in charts/surge/ci/;
#   2. the renders of those value sets are validated offline by the manifest checks of
#      scripts/k8s-check.sh (scripts/k8s/check.py --render: Kubernetes and CRD schemas,
#      the cross-reference and policy rules), and the chart's copies of the dashboards
#      and rules must be their sources byte for byte;
#   3. negative fixtures (scripts/helm/fixtures/): values the chart must refuse, each
#      with the message it must be refused with; a render the validation must refuse;
#   4. agreement: the default render and `kustomize build k8s/overlays/prod` are the same
#      objects, field for field (scripts/k8s/agreement.py), and a drifted render is caught;
#   5. install: every value set is `helm install`ed into its own namespace of the real
#      kube-apiserver (`scripts/infra.sh up kube`; the CRDs come from scripts/k8s/crds.sh),
#      until the API server admitted its objects and the Deployment controller saw them,
#      then `helm uninstall`ed. Pods are not waited for (no kubelet runs there).
#
#   bash scripts/helm-check.sh            # everything; fails when the control plane is down
#   bash scripts/helm-check.sh --offline  # steps 1-4 only (nothing needs to run)
#   bash scripts/helm-check.sh --build    # only build (or find cached) helm and kustomize
#
# The first run builds helm (minutes); later runs are offline up to step 5.
set -Eeuo pipefail

ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=scripts/infra/versions.env
source scripts/infra/versions.env
# shellcheck source=scripts/k8s/cache.sh
source scripts/k8s/cache.sh

say() { printf 'helm-check: %s\n' "$*" >&2; }
fail() {
  printf 'helm-check: FAILED: %s\n' "$*" >&2
  exit 1
}
trap 'fail "unexpected error at line $LINENO (exit $?): $BASH_COMMAND"' ERR
now_ms() { date +%s%3N; }
secs() { local ms=$(($(now_ms) - $1)); printf '%d.%d s' $((ms / 1000)) $((ms % 1000 / 100)); }

offline=0 build_only=0
for arg in "$@"; do
  case $arg in
    --offline) offline=1 ;;
    --build) build_only=1 ;;
    *) fail "unknown argument '$arg' (usage: scripts/helm-check.sh [--offline | --build])" ;;
  esac
done

CHART=charts/surge
FIXTURES=scripts/helm/fixtures
[[ -n ${HELM_VERSION:-} ]] || fail "scripts/infra/versions.env does not pin HELM_VERSION"
work=$(mktemp -d)
cleanups=("rm -rf $work")
cleanup() {
  local i
  for ((i = ${#cleanups[@]} - 1; i >= 0; i--)); do eval "${cleanups[i]}" || true; done
}
trap cleanup EXIT

# --- tools -------------------------------------------------------------------------
# helm, keyed by version; its own config/cache/data folders, so no ~/.config/helm is read.
HELM="$CACHE/helm/$HELM_VERSION/bin/helm"
export HELM_CONFIG_HOME="$CACHE/helm/home/config" HELM_CACHE_HOME="$CACHE/helm/home/cache" \
  HELM_DATA_HOME="$CACHE/helm/home/data"
t_build=$(now_ms)
if [[ "$("$HELM" version --template '{{.Version}}' 2>/dev/null)" != "$HELM_VERSION" ]]; then
  command -v go >/dev/null || fail "go is missing: helm is built from the Go module proxy"
  say "building helm $HELM_VERSION from the Go module proxy (first run only)"
  (cd "$CACHE" && GOTOOLCHAIN=local CGO_ENABLED=0 GOBIN="$CACHE/helm/$HELM_VERSION/bin" go install -trimpath \
    -ldflags "-s -w -X helm.sh/helm/v4/internal/version.version=$HELM_VERSION -X helm.sh/helm/v4/internal/version.gitTreeState=clean" \
    "helm.sh/helm/v4/cmd/helm@$HELM_VERSION") || fail "building helm $HELM_VERSION failed (output above)"
  [[ "$("$HELM" version --template '{{.Version}}')" == "$HELM_VERSION" ]] || fail "the helm just built does not report $HELM_VERSION"
  say "helm $HELM_VERSION built in $(secs "$t_build") (cold)"
fi
# kustomize, exactly as scripts/k8s-check.sh caches it (for the agreement with overlays/prod).
if ! "$BIN/kustomize" version 2>/dev/null | grep -qx "$KUSTOMIZE_VERSION"; then
  say "building kustomize $KUSTOMIZE_VERSION (first run only)"
  (cd "$CACHE" && GOBIN="$BIN" go install "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION") ||
    fail "building kustomize failed (output above)"
fi
if ((build_only)); then
  say "helm $HELM_VERSION and kustomize $KUSTOMIZE_VERSION ready in $(secs "$t_build")"
  exit 0
fi
ensure_venv
crd_args=()
while IFS= read -r crd_set; do crd_args+=(--crd "$crd_set"); done < <(bash scripts/k8s/crds.sh)
((${#crd_args[@]})) || fail "scripts/k8s/crds.sh listed no CRDs"
say "tools ready in $(secs "$t_build"): helm $HELM_VERSION, kustomize $KUSTOMIZE_VERSION, ${#crd_args[@]} CRD sets"

# --- 1. lint, 2. render and validate ----------------------------------------------------
# Value sets: name -> values file ("" = the defaults). The default set is rendered as the
# release the agreement compares with overlays/prod (surge-prod in namespace surge).
t_offline=$(now_ms)
sets=(default)
declare -A values_of=([default]="")
for f in "$CHART"/ci/*-values.yaml; do
  [[ -e $f ]] || fail "no value sets in $CHART/ci/*-values.yaml"
  name=$(basename "$f" -values.yaml)
  sets+=("$name")
  values_of[$name]=$f
done
values_args() { [[ -z ${values_of[$1]} ]] || printf -- '--values\n%s\n' "${values_of[$1]}"; }

render_args=()
for set in "${sets[@]}"; do
  mapfile -t vargs < <(values_args "$set")
  "$HELM" lint --strict "$CHART" "${vargs[@]}" >"$work/lint-$set.log" 2>&1 ||
    { cat "$work/lint-$set.log" >&2; fail "helm lint --strict refused value set '$set' (${values_of[$set]:-defaults})"; }
  "$HELM" template surge-prod "$CHART" --namespace surge "${vargs[@]}" >"$work/render-$set.yaml" 2>"$work/template-$set.log" ||
    { cat "$work/template-$set.log" >&2; fail "helm template failed for value set '$set'"; }
  render_args+=(--render "chart/$set=$work/render-$set.yaml")
  say "value set $set (${values_of[$set]:-defaults}): lint --strict clean, $(grep -c '^kind:' "$work/render-$set.yaml") objects rendered"
done

# --- 3. negative fixtures: values the chart refuses ---------------------------------------
refused=0
for f in "$FIXTURES"/refused-*.yaml; do
  expected=$(sed -n 's/^# refused with: //p' "$f")
  [[ -n $expected ]] || fail "$f has no '# refused with: ...' line"
  if "$HELM" template surge "$CHART" --namespace surge --values "$f" >"$work/refused.log" 2>&1; then
    fail "the chart accepted $f: the schema/validation rule it tests does not bite"
  fi
  grep -qF -- "$expected" "$work/refused.log" ||
    { cat "$work/refused.log" >&2; fail "$f was refused, but not with '$expected' (output above)"; }
  say "$(basename "$f"): refused ($(grep -m1 -F -- "$expected" "$work/refused.log" | sed 's/^[- ]*//' | cut -c1-150))"
  refused=$((refused + 1))
done
((refused)) || fail "no negative value fixtures in $FIXTURES/refused-*.yaml"

# A render the schema lets through but the manifest rules must refuse.
broken_args=()
for f in "$FIXTURES"/broken-render-*.yaml; do
  check=$(sed -n 's/^# refused by check: //p' "$f")
  [[ -n $check ]] || fail "$f has no '# refused by check: ...' line"
  "$HELM" template surge-prod "$CHART" --namespace surge --values "$f" >"$work/broken-$check.yaml" 2>"$work/broken.log" ||
    { cat "$work/broken.log" >&2; fail "$f must pass the schema (its render is what is broken), but helm refused it"; }
  broken_args+=(--broken "$check:chart/$(basename "$f" .yaml)=$work/broken-$check.yaml")
done
((${#broken_args[@]})) || fail "no broken render fixture in $FIXTURES/broken-render-*.yaml"

say "validating ${#sets[@]} renders offline (scripts/k8s/check.py --render)"
"$VENV/bin/python" scripts/k8s/check.py --root "$ROOT" --work "$CACHE/k8s-check" "${crd_args[@]}" \
  "${render_args[@]}" "${broken_args[@]}" >"$work/check.log" 2>&1 ||
  { cat "$work/check.log" >&2; fail "the offline validation refused a render of the chart (output above)"; }
sed -n '/^check /,/^Objects/p;/^Self-test/,$p' "$work/check.log" | grep -v '^Objects' >&2

# --- 4. agreement with overlays/prod --------------------------------------------------------
"$BIN/kustomize" build k8s/overlays/prod >"$work/kustomize-prod.yaml" || fail "kustomize build k8s/overlays/prod failed"
"$VENV/bin/python" scripts/k8s/agreement.py --chart "$work/render-default.yaml" --kustomize "$work/kustomize-prod.yaml" \
  >"$work/agreement.log" 2>&1 ||
  { cat "$work/agreement.log" >&2; fail "the chart's default render and k8s/overlays/prod disagree (output above)"; }
sed 's/^/  /' "$work/agreement.log" >&2
for f in "$FIXTURES"/disagree-*.yaml; do
  expected=$(sed -n 's/^# disagrees with: //p' "$f")
  [[ -n $expected ]] || fail "$f has no '# disagrees with: ...' line"
  "$HELM" template surge-prod "$CHART" --namespace surge --values "$f" >"$work/drift.yaml" ||
    fail "helm template failed for $f"
  if "$VENV/bin/python" scripts/k8s/agreement.py --chart "$work/drift.yaml" --kustomize "$work/kustomize-prod.yaml" \
    >"$work/drift.log" 2>&1; then
    fail "the agreement check accepted $f: a drift from overlays/prod would go unnoticed"
  fi
  grep -qF -- "$expected" "$work/drift.log" ||
    { cat "$work/drift.log" >&2; fail "$f was caught, but not as '$expected' (output above)"; }
  say "$(basename "$f"): disagreement caught ($(grep -m1 -F -- "$expected" "$work/drift.log" | sed 's/^ *DIFFERS //' | cut -c1-150))"
done
say "offline checks passed in $(secs "$t_offline")"

if ((offline)); then
  say "all offline checks passed (--offline: the install into the control plane was not run)"
  exit 0
fi

# --- 5. install into the real control plane -------------------------------------------------
eval "$(scripts/infra.sh env)"
for var in SURGE_KUBECONFIG KUBECTL; do
  [[ -n ${!var:-} ]] || fail "scripts/infra.sh env does not define $var"
done
scripts/infra.sh status kube >/dev/null ||
  fail "the control plane is not running (scripts/infra.sh status kube); start it with \`scripts/infra.sh up prometheus kube\`, or run with --offline"
[[ -x $KUBECTL ]] || fail "kubectl is missing at $KUBECTL (built by \`scripts/infra.sh up kube\`)"
kubectl() { "$KUBECTL" --kubeconfig "$SURGE_KUBECONFIG" "$@"; }
helm_kube() { "$HELM" --kubeconfig "$SURGE_KUBECONFIG" "$@"; }
kubectl get --raw /readyz >/dev/null 2>&1 || fail "the kube-apiserver of $SURGE_KUBECONFIG does not answer /readyz"

# The custom resources the value sets render need their CRDs (`scripts/infra.sh up kube`
# installs those of scripts/k8s/crds.sh).
mapfile -t needed < <(cat "$work"/render-*.yaml | "$VENV/bin/python" -c '
import sys, yaml
kinds = set()
for d in yaml.safe_load_all(sys.stdin):
    if d and "." in d.get("apiVersion", "").split("/")[0] and not d["apiVersion"].split("/")[0].endswith("k8s.io"):
        kinds.add((d["kind"], d["apiVersion"].split("/")[0]))
for kind, group in sorted(kinds):
    print(f"{kind}\t{group}")')
mapfile -t served < <(kubectl api-resources --no-headers -o name)
for entry in "${needed[@]}"; do
  kind=${entry%%$'\t'*} group=${entry#*$'\t'}
  plural=$(printf '%s' "$kind" | tr '[:upper:]' '[:lower:]')s
  printf '%s\n' "${served[@]}" | grep -qx "$plural.$group" ||
    fail "the API server does not serve $kind.$group: its CRD is missing (installed by \`scripts/infra.sh up kube\` from scripts/k8s/crds.sh)"
done
say "the API server serves every custom resource kind the chart renders (${#needed[@]} kinds)"

t_install=$(now_ms)
run_id="$$"
for set in "${sets[@]}"; do
  ns="helm-check-$set"
  t_set=$(now_ms)
  # A namespace left by an interrupted run is removed first (release, then namespace).
  if kubectl get namespace "$ns" >/dev/null 2>&1; then
    helm_kube uninstall surge --namespace "$ns" >/dev/null 2>&1 || true
    kubectl delete namespace "$ns" --timeout=60s >/dev/null || fail "could not remove namespace $ns left by an earlier run"
  fi
  cleanups+=("helm_kube uninstall surge --namespace $ns >/dev/null 2>&1; kubectl delete namespace $ns --wait=false >/dev/null 2>&1")
  mapfile -t vargs < <(values_args "$set")
  helm_kube install surge "$CHART" --namespace "$ns" --create-namespace "${vargs[@]}" \
    --labels "surge.check=helm-check-$run_id" >"$work/install-$set.log" 2>&1 ||
    { cat "$work/install-$set.log" >&2; fail "helm install of value set '$set' into $ns was refused (output above)"; }
  # What the release holds must now exist, and the Deployments must have been seen by the
  # Deployment controller (status.observedGeneration).
  helm_kube get manifest surge --namespace "$ns" >"$work/installed-$set.yaml" || fail "helm get manifest failed in $ns"
  expected_objects=$(grep -c '^kind:' "$work/installed-$set.yaml")
  ((expected_objects == $(grep -c '^kind:' "$work/render-$set.yaml"))) ||
    fail "the release in $ns holds $expected_objects objects, the render of value set '$set' $(grep -c '^kind:' "$work/render-$set.yaml")"
  deadline=$((SECONDS + 60))
  while :; do
    have=$(kubectl get -f "$work/installed-$set.yaml" --ignore-not-found --no-headers 2>/dev/null | wc -l)
    observed=$(kubectl get deployments -n "$ns" -o jsonpath='{range .items[*]}{.status.observedGeneration}{"\n"}{end}' | grep -c '^[1-9]' || true)
    hpas=$(kubectl get hpa -n "$ns" --no-headers 2>/dev/null | wc -l)
    want_hpas=$(grep -c '^kind: HorizontalPodAutoscaler' "$work/render-$set.yaml" || true)
    ((have == expected_objects && observed == 2 && hpas >= want_hpas)) && break
    ((SECONDS < deadline)) || fail "value set '$set' in $ns: after 60 s $have/$expected_objects objects exist," \
      "$observed/2 Deployments observed by the controller, $hpas/$want_hpas HPAs"
    sleep 1
  done
  status=$(helm_kube status surge --namespace "$ns" -o json | "$VENV/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["info"]["status"])')
  [[ $status == deployed ]] || fail "release surge in $ns is '$status', not deployed"
  helm_kube uninstall surge --namespace "$ns" >"$work/uninstall-$set.log" 2>&1 ||
    { cat "$work/uninstall-$set.log" >&2; fail "helm uninstall of value set '$set' failed"; }
  left=$(kubectl get -f "$work/installed-$set.yaml" --ignore-not-found --no-headers 2>/dev/null | wc -l)
  ((left == 0)) || fail "helm uninstall left $left objects of value set '$set' in $ns"
  kubectl delete namespace "$ns" --wait=false >/dev/null
  say "value set $set: installed into $ns ($expected_objects objects admitted, Deployments observed, $hpas HPAs), uninstalled, in $(secs "$t_set")"
done
say "install/uninstall of ${#sets[@]} value sets took $(secs "$t_install")"
say "all checks passed (${#sets[@]} value sets linted, validated, installed; $refused refused value fixtures; agreement with k8s/overlays/prod)"
