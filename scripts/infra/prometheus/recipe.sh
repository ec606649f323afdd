# shellcheck shell=bash
# Prometheus (Debian package prometheus, run with our own configuration and
# storage). Sourced by scripts/infra.sh after scripts/infra/lib.sh.

PROMETHEUS_PORT=${SURGE_PROMETHEUS_PORT:-9090}
readonly PROMETHEUS_PORT
readonly PROM_RECIPE="$RECIPES_DIR/prometheus"
readonly PROM_RUN="$RUN_DIR/prometheus"
readonly PROM_RULES_DIR="$REPO_ROOT/observability/prometheus/rules"
# Rules a run adds while Prometheus runs (the demo's sale calendar): written there,
# then POST /-/reload.
readonly PROM_RUNTIME_RULES_DIR="$PROM_RUN/rules"

prometheus_bin() {
  command -v prometheus 2>/dev/null || { [[ -x /usr/bin/prometheus ]] && printf '/usr/bin/prometheus'; }
}

prometheus_ensure_installed() {
  if ! prometheus_bin >/dev/null; then
    apt_install prometheus
    disable_package_service prometheus
  fi
  local bin version
  bin=$(prometheus_bin) || die "prometheus: binary not found after installing the prometheus package"
  # "prometheus, version 2.42.0+ds (branch: ...)": the upstream part must be the pinned one.
  version=$("$bin" --version 2>&1 | sed -n '1s/^prometheus, version \([0-9.]*\).*/\1/p')
  [[ $version == "$PROMETHEUS_VERSION" ]] ||
    die "prometheus: $bin is version ${version:-unknown}, scripts/infra/versions.env pins $PROMETHEUS_VERSION"
}

prometheus_prepare() {
  require_free_ports prometheus "$PROMETHEUS_PORT"
  prometheus_ensure_installed
  mkdir -p "$PROM_RUN/data" "$PROM_RUN/targets" "$PROM_RUNTIME_RULES_DIR"
  local job port
  for job in producer-svc:8080 consumer-svc:8081; do
    port=${job#*:}
    job=${job%%:*}
    [[ -e $PROM_RUN/targets/$job.json ]] && continue
    printf '[\n  { "targets": ["%s:%s"], "labels": { "job": "%s" } }\n]\n' "$HOST" "$port" "$job" \
      >"$PROM_RUN/targets/.$job.json.tmp"
    mv -f "$PROM_RUN/targets/.$job.json.tmp" "$PROM_RUN/targets/$job.json"
  done
  render "$PROM_RECIPE/prometheus.yml.in" "$PROM_RUN/prometheus.yml" \
    PORT="$PROMETHEUS_PORT" TARGETS_DIR="$PROM_RUN/targets" RULES_DIR="$PROM_RULES_DIR" \
    RUNTIME_RULES_DIR="$PROM_RUNTIME_RULES_DIR"
  if command -v promtool >/dev/null 2>&1; then
    quiet promtool check config "$PROM_RUN/prometheus.yml" ||
      die "prometheus: the generated configuration (or a rule file in $PROM_RULES_DIR) is invalid, see above"
  fi
}

prometheus_ready() {
  [[ $(http_code "$PROMETHEUS_PORT" /-/ready) == 200 ]]
}

prometheus_start() {
  program_conf prometheus PROMETHEUS_BIN="$(prometheus_bin)" PORT="$PROMETHEUS_PORT"
  start_program prometheus prometheus_ready
}

prometheus_env() {
  cat <<ENV
SURGE_PROMETHEUS_URL=http://$HOST:$PROMETHEUS_PORT
SURGE_PROMETHEUS_TARGETS_DIR=$PROM_RUN/targets
SURGE_PROMETHEUS_RULES_DIR=$PROM_RUNTIME_RULES_DIR
ENV
}

prometheus_describe() {
  printf 'Prometheus %s on http://%s:%s, scrape targets from %s/*.json' \
    "$PROMETHEUS_VERSION" "$HOST" "$PROMETHEUS_PORT" "$PROM_RUN/targets"
}

prometheus_help() {
  printf '  SURGE_PROMETHEUS_PORT [9090]\n'
}
