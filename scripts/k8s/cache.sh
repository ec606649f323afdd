# shellcheck shell=bash
# Where the manifest checks keep their tools (sourced by scripts/k8s-check.sh and
# scripts/k8s/crds.sh, with ROOT set): <repo>/.cache/, git-ignored, so `rm -rf .cache`
# starts over. Go modules and builds live inside it, writable.
CACHE="$ROOT/.cache"
BIN="$CACHE/bin"
VENV="$CACHE/venv"
mkdir -p "$BIN" "$CACHE"
export GOPATH="$CACHE/go" GOMODCACHE="$CACHE/go/mod" GOCACHE="$CACHE/go/build"
export GOFLAGS="-modcacherw -buildvcs=false" GO111MODULE=on

# go_module_dir MODULE VERSION: the module's folder in the cache, downloaded when missing
# (`go mod download` answers from the cache when the version is there).
go_module_dir() {
  (cd "$CACHE" && go mod download -json "$1@$2") \
    | python3 -c 'import json,sys; d=json.load(sys.stdin); sys.exit(d["Error"]) if d.get("Error") else print(d["Dir"])'
}

# The Python tools of scripts/k8s/requirements.txt in .cache/venv.
ensure_venv() {
  local reqs="$ROOT/scripts/k8s/requirements.txt" sum
  sum="$(sha256sum "$reqs" | cut -d' ' -f1)"
  if [[ ! -x "$VENV/bin/python" || "$(cat "$VENV/.requirements.sha256" 2>/dev/null)" != "$sum" ]]; then
    printf 'k8s: installing Python tools into .cache/venv\n' >&2
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$reqs"
    echo "$sum" > "$VENV/.requirements.sha256"
  fi
}
