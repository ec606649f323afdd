#!/usr/bin/env bash
# Mirror the Grafana dashboards from observability/grafana/*.json into the
# grafana-dashboards kustomize component (kustomize cannot read files outside a
# kustomization's folder, so the component ships copies) and list them in its
# configMapGenerator. scripts/k8s-check.sh fails while the copies are stale.
#
#   bash scripts/k8s/sync-dashboards.sh
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
SRC="$ROOT/observability/grafana"
COMP="$ROOT/k8s/components/grafana-dashboards"
DST="$COMP/dashboards"

shopt -s nullglob
sources=("$SRC"/*.json)
if ((${#sources[@]} == 0)); then
  echo "sync-dashboards: no dashboards in ${SRC#"$ROOT"/}; keeping the current copies" >&2
  exit 0
fi
# Mirror: copies whose source is gone are removed (including the placeholder).
for copy in "$DST"/*.json; do
  [[ -e "$SRC/$(basename "$copy")" ]] || rm -v -- "$copy"
done
for f in "${sources[@]}"; do
  cmp -s "$f" "$DST/$(basename "$f")" || cp -v -- "$f" "$DST/"
done

# Rewrite the generator's `files:` list (the lines `      - dashboards/….json`).
python3 - "$COMP/kustomization.yaml" "$DST" <<'PY'
import os, re, sys
path, dst = sys.argv[1], sys.argv[2]
text = open(path, encoding="utf-8").read()
entries = "".join(f"      - dashboards/{f}\n" for f in sorted(os.listdir(dst)) if f.endswith(".json"))
new, n = re.subn(r"(    files:\n)(      - dashboards/[^\n]*\n)+", lambda m: m.group(1) + entries, text)
if n != 1:
    sys.exit(f"sync-dashboards: could not find the files: list in {path}")
if new != text:
    open(path, "w", encoding="utf-8").write(new)
    print(f"sync-dashboards: updated {os.path.relpath(path)}")
PY
