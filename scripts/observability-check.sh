#!/usr/bin/env bash
# Checks the observability assets: Prometheus rules, their unit tests, the Grafana
# dashboards, and with --live every dashboard query against a running Prometheus.
#
#   scripts/observability-check.sh            offline: promtool check/test rules, dashboard structure
#   scripts/observability-check.sh --live     also evaluate every panel query against
#                                             $SURGE_PROMETHEUS_URL (default http://127.0.0.1:9090);
#                                             run it after a short load while the services still run
#   scripts/observability-check.sh --live --strict
#                                             count metrics listed in
#                                             observability/grafana/live-pending.txt as failures too
#
# promtool comes from the Debian package `prometheus` (installed when missing and root).
# Ends with `observability-check: N passed, M failed`; exit status 1 when anything failed.
set -Eeuo pipefail
export PYTHONDONTWRITEBYTECODE=1

ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
LIVE=0
STRICT=()
for arg in "$@"; do
  case $arg in
    --live) LIVE=1 ;;
    --strict) STRICT=(--strict) ;;
    -h | --help)
      sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "observability-check: unknown argument $arg" >&2
      exit 2
      ;;
  esac
done

PASSED=0
FAILED=0
FAILURES=()
step() { # NAME COMMAND...
  local name=$1 out rc=0
  shift
  out=$(mktemp)
  "$@" >"$out" 2>&1 || rc=$?
  if ((rc == 0)); then
    PASSED=$((PASSED + 1))
    printf 'ok    %s\n' "$name"
    grep -E '^(dashboards|trace-check)' "$out" | sed 's/^/        /' || true
  else
    FAILED=$((FAILED + 1))
    FAILURES+=("$name")
    printf 'FAIL  %s\n' "$name"
    grep -v '^  ok ' "$out" | sed 's/^/        /'
  fi
  rm -f "$out"
}

if ! command -v promtool >/dev/null 2>&1; then
  if [[ $EUID -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    echo "observability-check: installing promtool (Debian package prometheus)" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus >/dev/null
  fi
fi

shopt -s nullglob
rules=(observability/prometheus/rules/*.yml)
tests=(observability/prometheus/tests/*.yml)
if command -v promtool >/dev/null 2>&1; then
  step "promtool check rules (${#rules[@]} files)" promtool check rules "${rules[@]}"
  step "promtool test rules (${#tests[@]} files)" promtool test rules "${tests[@]}"
else
  FAILED=$((FAILED + 1))
  FAILURES+=("promtool missing: apt-get install prometheus")
  echo "FAIL  promtool not found (apt-get install prometheus)"
fi
step "dashboard checker self-test" python3 -m unittest -q scripts/observability/test_dashboards.py
step "dashboard structure" python3 scripts/observability/dashboards.py structure
if ((LIVE)); then
  url=${SURGE_PROMETHEUS_URL:-http://127.0.0.1:9090}
  step "every dashboard query has data in $url" \
    python3 scripts/observability/dashboards.py live --prometheus "$url" "${STRICT[@]}"
fi

for f in "${FAILURES[@]}"; do echo "failed: $f"; done
echo "observability-check: $PASSED passed, $FAILED failed"
((FAILED == 0))
