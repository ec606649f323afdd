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

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# Pinned versions (KUSTOMIZE_VERSION, COMPOSE_GO_VERSION, the CRDs'): one home for all.
# shellcheck source=scripts/infra/versions.env
source "$ROOT/scripts/infra/versions.env"
# shellcheck source=scripts/k8s/cache.sh
source "$ROOT/scripts/k8s/cache.sh"
WORK="$CACHE/k8s-check"
mkdir -p "$WORK"

log() { printf 'k8s-check: %s\n' "$*" >&2; }

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

COMPOSE_DIR="$(go_module_dir github.com/compose-spec/compose-go/v2 "$COMPOSE_GO_VERSION")"
ensure_venv

# ---- CRDs ------------------------------------------------------------------------
crd_args=()
while IFS= read -r crd_set; do
  crd_args+=(--crd "$crd_set")
done < <(bash "$ROOT/scripts/k8s/crds.sh")
((${#crd_args[@]})) || { log "scripts/k8s/crds.sh listed no CRDs"; exit 1; }

# ---- run the checks --------------------------------------------------------------
exec "$VENV/bin/python" "$ROOT/scripts/k8s/check.py" \
  --root "$ROOT" \
  --kustomize "$BIN/kustomize" \
  --dockerfile-lint "$BIN/dockerfile-lint" \
  --work "$WORK" \
  --compose-schema "$COMPOSE_DIR/schema/compose-spec.json" \
  "${crd_args[@]}"
