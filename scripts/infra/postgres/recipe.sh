# shellcheck shell=bash
# PostgreSQL (Debian package postgresql-$POSTGRES_MAJOR), a private cluster
# of this infrastructure folder. Sourced by scripts/infra.sh after
# scripts/infra/lib.sh.

POSTGRES_PORT=${SURGE_POSTGRES_PORT:-5432}
readonly POSTGRES_PORT

# PostgreSQL runs as the `postgres` OS user, which must be able to walk down to its
# folder. A checkout inside a private folder (`mktemp -d` makes 0700 ones) cannot be
# reached, so then the cluster lives in a folder of its own under /var/tmp, named after
# this checkout's infrastructure folder (so `status` and `down` find it again).
postgres_run_dir() {
  local p=$RUN_DIR perm
  while [[ $p != / && -n $p ]]; do
    if [[ -e $p ]]; then
      perm=$(stat -c %A -- "$p")
      if [[ ${perm:9:1} != [xt] ]]; then
        printf '/var/tmp/surge-postgres-%s' "$(printf '%s' "$INFRA_DIR" | sha256sum | cut -c1-12)"
        return
      fi
    fi
    p=$(dirname -- "$p")
  done
  printf '%s/postgres' "$RUN_DIR"
}
PG_RUN=$(postgres_run_dir)
readonly PG_RUN
readonly PG_DATA="$PG_RUN/data"
readonly PG_BIN="/usr/lib/postgresql/$POSTGRES_MAJOR/bin"

# The OS user that owns and runs the cluster: `postgres` when we are root.
postgres_os_user() {
  if is_root; then printf 'postgres'; else id -un; fi
}

# Runs a command as the cluster's OS user, from a folder that user can enter.
postgres_as() {
  (
    cd "$PG_RUN" 2>/dev/null || cd /
    if is_root; then
      exec runuser -u postgres -- "$@" 9>&-
    else
      exec "$@" 9>&-
    fi
  )
}

# Unix socket folder: inside the cluster's folder unless that path is too long
# for a socket address (108 bytes on Linux).
postgres_socket_dir() {
  local dir="$PG_RUN/socket"
  if ((${#dir} + 20 > 107)); then
    dir="${TMPDIR:-/tmp}/surge-pg-$(printf '%s' "$PG_RUN" | cksum | cut -d' ' -f1)"
  fi
  printf '%s' "$dir"
}

postgres_ensure_installed() {
  if [[ -f $PG_DATA/PG_VERSION && $(<"$PG_DATA/PG_VERSION") != "$POSTGRES_MAJOR" ]]; then
    die "postgres: $PG_DATA was created by PostgreSQL $(<"$PG_DATA/PG_VERSION"), not $POSTGRES_MAJOR" \
      "(scripts/infra/versions.env); remove $PG_RUN to start afresh"
  fi
  [[ -x $PG_BIN/postgres && -x $PG_BIN/initdb ]] && return 0
  # The package creates a default cluster (main, port 5432). Whatever of it
  # the installation leaves running was started by this install: stop it and
  # keep it from starting at boot, so it does not hold our port.
  local before=""
  command -v pg_lsclusters >/dev/null 2>&1 && before=$(pg_lsclusters -h 2>/dev/null | awk '$4 == "online" {print $1 "/" $2}')
  apt_install "postgresql-$POSTGRES_MAJOR"
  local ver name port status rest
  while read -r ver name port status rest; do
    [[ -n ${ver:-} ]] || continue
    if [[ $status == online* ]] && ! grep -qxF "$ver/$name" <<<"$before"; then
      log "postgres: stopping the package's default cluster $ver/$name (port $port) started by the install"
      pg_ctlcluster "$ver" "$name" stop || warn "could not stop cluster $ver/$name"
    fi
    if ! grep -qxF "$ver/$name" <<<"$before" && [[ -w /etc/postgresql/$ver/$name/start.conf ]]; then
      echo manual >"/etc/postgresql/$ver/$name/start.conf"
    fi
  done < <(pg_lsclusters -h 2>/dev/null || true)
  [[ -x $PG_BIN/initdb ]] || die "postgres: $PG_BIN/initdb not found after installing postgresql-$POSTGRES_MAJOR"
}

postgres_init() {
  local user
  user=$(postgres_os_user)
  mkdir -p "$PG_RUN"
  if is_root; then
    chown postgres:postgres "$PG_RUN"
    runuser -u postgres -- test -x "$PG_RUN" -a -w "$PG_RUN" ||
      die "postgres: the postgres OS user cannot reach $PG_RUN; make its parent folders" \
        "world-searchable (chmod o+x) or set SURGE_INFRA_DIR to a folder it can reach"
  fi
  if [[ ! -f $PG_DATA/PG_VERSION ]]; then
    log "postgres: creating a private cluster in $PG_DATA"
    rm -rf "$PG_DATA"
    quiet postgres_as "$PG_BIN/initdb" -D "$PG_DATA" --username="$user" --encoding=UTF8 --locale=C.UTF-8 \
      --auth-local=peer --auth-host=scram-sha-256 || die "postgres: initdb failed"
    printf "\n# Local settings written by scripts/infra/postgres/recipe.sh (regenerated on every start).\ninclude_if_exists = 'surge.conf'\n" |
      postgres_as tee -a "$PG_DATA/postgresql.conf" >/dev/null
  fi
  local sock
  sock=$(postgres_socket_dir)
  postgres_as mkdir -p "$sock"
  # Durability settings stay at PostgreSQL's defaults (fsync, synchronous_commit,
  # full_page_writes on) so that throughput measured against this server is honest.
  # The log goes to stderr, which supervisord writes to the program's log.
  postgres_as tee "$PG_DATA/surge.conf" >/dev/null <<EOF
listen_addresses = '$HOST'
port = $POSTGRES_PORT
unix_socket_directories = '$sock'
max_connections = 300
password_encryption = 'scram-sha-256'
logging_collector = off
log_line_prefix = '%m [%p] %q%u@%d '
EOF
}

postgres_prepare() {
  if port_open "$POSTGRES_PORT" && command -v pg_lsclusters >/dev/null 2>&1; then
    log "postgres: Debian's clusters (version/name:port=status): $(pg_lsclusters -h 2>/dev/null |
      awk '{printf "%s/%s:%s=%s ", $1, $2, $3, $4}')"
  fi
  require_free_ports postgres "$POSTGRES_PORT"
  postgres_ensure_installed
  postgres_init
}

postgres_ready() {
  "$PG_BIN/pg_isready" -q -h "$HOST" -p "$POSTGRES_PORT" -t 2
}

postgres_start() {
  program_conf postgres PG_BIN="$PG_BIN" PG_DATA="$PG_DATA" PG_RUN="$PG_RUN" PG_USER="$(postgres_os_user)"
  start_program postgres postgres_ready
}

postgres_provision() {
  quiet postgres_as "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$(postgres_socket_dir)" -p "$POSTGRES_PORT" \
    -U "$(postgres_os_user)" -d postgres <<'SQL' || die "postgres: could not create role/database surge"
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'surge') THEN
    CREATE ROLE surge LOGIN CREATEDB SUPERUSER PASSWORD 'surge';
  ELSE
    ALTER ROLE surge LOGIN CREATEDB SUPERUSER PASSWORD 'surge';
  END IF;
END
$$;
SELECT 'CREATE DATABASE surge OWNER surge'
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'surge')\gexec
SQL
  # The check that matters: the app URL works over TCP with a password.
  PGPASSWORD=surge PGCONNECT_TIMEOUT=5 quiet "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 \
    -h "$HOST" -p "$POSTGRES_PORT" -U surge -d surge -c 'SELECT 1' 9>&- ||
    die "postgres: cannot connect as surge to $HOST:$POSTGRES_PORT/surge"
}

postgres_env() {
  cat <<EOF
SURGE_DATABASE_ADMIN_URL=postgres://surge:surge@$HOST:$POSTGRES_PORT/postgres
SURGE_DATABASE_URL=postgres://surge:surge@$HOST:$POSTGRES_PORT/surge
EOF
}

postgres_describe() {
  printf 'PostgreSQL %s, private cluster on %s:%s (role/password surge/surge, database surge), data %s' \
    "$POSTGRES_MAJOR" "$HOST" "$POSTGRES_PORT" "$PG_DATA"
}

postgres_help() {
  printf '  SURGE_POSTGRES_PORT [5432]\n'
}
