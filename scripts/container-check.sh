#!/usr/bin/env bash
# Builds each image with podman from the shipped docker/<svc>.Dockerfile (its runtime
# stage, on a locally made copy of its distroless base, with the binary cargo already
# built in place of the builder stage), runs it read-only as the image's own user
# (65532) against the local Kafka and PostgreSQL, and checks that it answers.
#
#   scripts/container-check.sh [--profile debug|release] [--bin-dir DIR]
#                              [--service producer-svc|consumer-svc|loadgen]... [--rm-images]
#   scripts/container-check.sh --setup-only     install podman and write its settings
#
#   --profile P     take the binaries from target/P/ (default debug)
#   --bin-dir DIR   take them from DIR instead (e.g. a CARGO_TARGET_DIR's debug/)
#   --service S     check only S (repeatable; default all three)
#   --rm-images     remove the images at the end (default: keep them cached)
#   --dockerfile-dir DIR  build from DIR/<svc>.Dockerfile instead of docker/ (to show
#                   that a broken copy fails; scripts/container/negative-check.sh)
#
# The binaries must already be built (`cargo build` / `cargo test`); this script never
# runs cargo. Kafka and PostgreSQL must be running (`scripts/infra.sh up`); every run
# uses its own topics, consumer group and database and removes them at the end.
# Environment: SURGE_KAFKA_BOOTSTRAP (127.0.0.1:9092), SURGE_POSTGRES_ADMIN_URL
# (postgres://surge:surge@127.0.0.1:5432/postgres), SURGE_CONTAINER_TIMEOUT (seconds a
# service gets to become ready and to process the order, default 60).
#
# podman, buildah and runc are installed with apt when missing (needs root). Its
# settings, image storage and the runtime base's .deb files live under
# <repo>/.cache/podman/ (git-ignored): nothing outside is configured, and
# `rm -rf .cache/podman` resets it.
# Ends with `container-check: N passed, M failed`; exit status 1 when anything failed.
set -Eeuo pipefail
T0=$SECONDS

ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

PROFILE=debug
BIN_DIR=""
SERVICES=()
RM_IMAGES=0
SETUP_ONLY=0
DOCKERFILE_DIR=docker
while (($#)); do
  case $1 in
    --profile) PROFILE=${2:?--profile needs debug or release}; shift ;;
    --profile=*) PROFILE=${1#*=} ;;
    --bin-dir) BIN_DIR=${2:?--bin-dir needs a directory}; shift ;;
    --bin-dir=*) BIN_DIR=${1#*=} ;;
    --service) SERVICES+=("${2:?--service needs producer-svc, consumer-svc or loadgen}"); shift ;;
    --service=*) SERVICES+=("${1#*=}") ;;
    --rm-images) RM_IMAGES=1 ;;
    --dockerfile-dir) DOCKERFILE_DIR=${2:?--dockerfile-dir needs a directory}; shift ;;
    --dockerfile-dir=*) DOCKERFILE_DIR=${1#*=} ;;
    --setup-only) SETUP_ONLY=1 ;;
    -h | --help) sed -n '2,29p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "container-check: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
((${#SERVICES[@]})) || SERVICES=(producer-svc consumer-svc loadgen)
for s in "${SERVICES[@]}"; do
  [[ $s == producer-svc || $s == consumer-svc || $s == loadgen ]] \
    || { echo "container-check: unknown service $s" >&2; exit 2; }
done
[[ -n $BIN_DIR ]] || BIN_DIR="$ROOT/target/$PROFILE"
BIN_DIR=$(realpath -m -- "$BIN_DIR")

KAFKA=${SURGE_KAFKA_BOOTSTRAP:-127.0.0.1:9092}
PG_ADMIN=${SURGE_POSTGRES_ADMIN_URL:-postgres://surge:surge@127.0.0.1:5432/postgres}
TIMEOUT=${SURGE_CONTAINER_TIMEOUT:-60}
PRODUCER_PORT=18180
CONSUMER_PORT=18181
CACHE="$ROOT/.cache/podman"
UIDGID=65532:65532
# Every container this script starts carries this label, so a run that was killed
# before its cleanup is tidied up by the next one.
LABEL=org.surge.check=container-check

log() { printf 'container-check: %s\n' "$*" >&2; }
die() { # a fatal problem: counted as a failure, then the summary line
  fail "$*"
  summary
  exit 1
}

# ----------------------------------------------------------------- results --
PASSED=0
FAILED=0
FAILURES=()
pass() { PASSED=$((PASSED + 1)); printf 'ok    %s\n' "$1"; }
fail() {
  FAILED=$((FAILED + 1)); FAILURES+=("$1"); printf 'FAIL  %s\n' "$1"
  if (($# > 1)) && [[ -n $2 ]]; then printf '%s\n' "$2" | tail -n 20 | sed 's/^/        /'; fi
}
summary() {
  printf 'container-check: %d passed, %d failed\n' "$PASSED" "$FAILED"
  ((FAILED == 0)) || printf '  failed: %s\n' "${FAILURES[@]}"
}

# ---------------------------------------------------------------- binaries --
declare -A BIN=()
if ((!SETUP_ONLY)); then
  for s in "${SERVICES[@]}"; do
    b="$BIN_DIR/$s"
    [[ -f $b && -x $b ]] || die "no executable $b: build it first (cargo build -p $s$([[ $PROFILE == release ]] && echo ' --release')) or point --bin-dir at the folder holding it"
    BIN[$s]=$b
  done
fi

# ------------------------------------------------------------------- tools --
missing=()
for t in podman buildah runc; do command -v "$t" >/dev/null 2>&1 || missing+=("$t"); done
for t in curl psql cmp flock numfmt dpkg-deb; do
  command -v "$t" >/dev/null 2>&1 || die "$t is required (Debian: curl, postgresql-client, diffutils, util-linux, coreutils, dpkg)"
done
if ((${#missing[@]})); then
  [[ $EUID -eq 0 ]] && command -v apt-get >/dev/null 2>&1 \
    || die "missing ${missing[*]}: install podman buildah runc (apt-get install podman buildah runc)"
  log "installing podman buildah runc (Debian packages)"
  export DEBIAN_FRONTEND=noninteractive
  # A fresh machine may have another apt run going (unattended upgrades): wait for it.
  apt_get() { apt-get -o DPkg::Lock::Timeout=300 "$@"; }
  for attempt in 1 2 3; do # a mirror's hiccup should not fail the build
    apt_get update -qq && apt_get install -y -qq --no-install-recommends podman buildah runc >/dev/null && break
    ((attempt < 3)) || die "apt-get install podman buildah runc failed"
    log "apt-get failed, retrying in $((attempt * 10)) s"
    sleep $((attempt * 10))
  done
  for t in podman buildah runc; do command -v "$t" >/dev/null 2>&1 || die "$t still missing after apt-get install"; done
fi

# ---------------------------------------------------------- podman settings --
# Images in <repo>/.cache/podman/storage. The run state (sockets, locks, pid files) is
# transient and its socket paths must stay short (108 bytes for a unix socket), so it
# goes below /run, in a folder named after this checkout.
mkdir -p "$CACHE/storage" "$CACHE/build" "$CACHE/logs"
key=$(printf '%s' "$CACHE" | sha256sum | cut -c1-12)
RUNROOT="/run/surge-podman-$key"
[[ -w /run ]] || RUNROOT="${XDG_RUNTIME_DIR:-/tmp}/surge-podman-$key"
# vfs: plain copies, works on every filesystem and inside other containers (overlay
# mounts are refused in some sandboxes). SURGE_PODMAN_DRIVER=overlay to change it.
DRIVER=${SURGE_PODMAN_DRIVER:-vfs}
# Run state without its storage (after `rm -rf .cache/podman`) would confuse podman.
[[ -d $CACHE/storage/$DRIVER ]] || rm -rf -- "$RUNROOT"
mkdir -p "$RUNROOT/storage" "$RUNROOT/libpod" "$CACHE/storage/$DRIVER"
cat >"$CACHE/containers.conf.new" <<EOF
# Written by scripts/container-check.sh; rewritten on every run.
[containers]
default_ulimits = []
log_driver = "k8s-file"

[engine]
cgroup_manager = "cgroupfs"
runtime = "runc"
events_logger = "file"
events_logfile_path = "$CACHE/logs/events.log"
tmp_dir = "$RUNROOT/libpod"
EOF
cat >"$CACHE/storage.conf.new" <<EOF
# Written by scripts/container-check.sh; rewritten on every run.
[storage]
driver = "$DRIVER"
graphroot = "$CACHE/storage/$DRIVER"
runroot = "$RUNROOT/storage"
EOF
mv -f "$CACHE/containers.conf.new" "$CACHE/containers.conf"
mv -f "$CACHE/storage.conf.new" "$CACHE/storage.conf"
export CONTAINERS_CONF="$CACHE/containers.conf"
export CONTAINERS_STORAGE_CONF="$CACHE/storage.conf"

# One run at a time per checkout: the ports, the tags and the storage are shared.
exec 8>"$CACHE/.lock"
flock -w 600 8 || die "another container-check holds $CACHE/.lock"

# podman's event log (a file, no journald here) only grows: start over past 10 MB.
if [[ -f $CACHE/logs/events.log ]] && (($(stat -c %s "$CACHE/logs/events.log") > 10485760)); then
  : >"$CACHE/logs/events.log"
fi
if ! out=$(podman info --format '{{.Host.OCIRuntime.Name}} {{.Store.GraphDriverName}}' 2>&1); then
  die "podman does not work with $CONTAINERS_CONF: $out"
fi
if ((SETUP_ONLY)); then
  log "podman $(podman version --format '{{.Client.Version}}') ready: CONTAINERS_CONF=$CONTAINERS_CONF CONTAINERS_STORAGE_CONF=$CONTAINERS_STORAGE_CONF"
  exit 0
fi

# ----------------------------------------------------------------- cleanup --
RUN_ID="$(date +%Y%m%d%H%M%S)-$$-$RANDOM"
RUN_TAG=${RUN_ID//-/_}
TOPIC="surge-container-check-$RUN_ID"
DLQ_TOPIC="$TOPIC.dlq"
GROUP="surge-container-check-$RUN_ID"
DB="surge_container_check_$RUN_TAG"
SKU="CHECK-$RUN_ID"
LOGS="$CACHE/logs/$RUN_ID"
mkdir -p "$LOGS"
CONTAINERS=()
TOPIC_JOBS=()
TOPICS_CREATED=0
DB_CREATED=0

topic_tool() { scripts/infra.sh kafka-tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$KAFKA" "$@"; }
create_topic() { # NAME: 3 partitions, retried (a busy broker may time the request out)
  local attempt out
  for attempt in 1 2 3; do
    if out=$(topic_tool --create --if-not-exists --topic "$1" --partitions 3 --replication-factor 1 2>&1); then
      return 0
    fi
    sleep $((attempt * 2))
  done
  printf '%s\n' "$out"
  return 1
}
remove_stale() {
  local ids
  ids=$(podman ps -a -q --filter "label=$LABEL" 2>/dev/null) || return 0
  [[ -z $ids ]] || podman rm -f -t 5 $ids >/dev/null 2>&1 || true
}
cleanup() {
  local rc=$? id t
  trap - EXIT
  trap "" INT TERM # finish the cleanup even when interrupted again
  for id in "${CONTAINERS[@]}"; do podman rm -f -t 10 "$id" >/dev/null 2>&1 || true; done
  remove_stale
  if ((DB_CREATED)); then
    psql "$PG_ADMIN" -X -q -v ON_ERROR_STOP=1 -c "DROP DATABASE IF EXISTS \"$DB\" WITH (FORCE)" >/dev/null 2>&1 \
      || log "could not drop database $DB"
  fi
  if ((TOPICS_CREATED)); then
    for id in "${TOPIC_JOBS[@]}"; do wait "$id" 2>/dev/null || true; done
    for t in "$TOPIC" "$DLQ_TOPIC"; do
      topic_tool --delete --if-exists --topic "$t" >/dev/null 2>&1 || log "could not delete topic $t" &
    done
    wait
  fi
  if ((RM_IMAGES)); then
    for s in "${SERVICES[@]}"; do podman rmi -f "localhost/surge/$s:check" >/dev/null 2>&1 || true; done
  fi
  # Keep the logs of the last few runs only.
  ls -1dt "$CACHE"/logs/*/ 2>/dev/null | tail -n +6 | xargs -r rm -rf
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

remove_stale

# ------------------------------------------------------- infrastructure ----
kafka_ok() { timeout 5 bash -c ": >/dev/tcp/${1%:*}/${1##*:}" 2>/dev/null; }
kafka_ok "${KAFKA%%,*}" || die "Kafka does not answer on ${KAFKA%%,*}: start it with scripts/infra.sh up"
psql "$PG_ADMIN" -X -q -At -c 'select 1' >/dev/null 2>&1 \
  || die "PostgreSQL does not answer on $PG_ADMIN: start it with scripts/infra.sh up"
# The services listen on the host network: a port already taken would answer the
# checks in the container's place.
for port in $PRODUCER_PORT $CONSUMER_PORT; do
  if timeout 3 bash -c ": >/dev/tcp/127.0.0.1/$port" 2>/dev/null; then
    die "something already listens on 127.0.0.1:$port (needed by the containers); stop it first"
  fi
done

# ------------------------------------------------------------------ images --
# The images are built from docker/<svc>.Dockerfile itself. Two things stand in for
# what CI cannot pull or afford:
# - RUNTIME_IMAGE: localhost/surge/cc-debian12:nonroot, made from the Debian packages
#   distroless puts in cc-debian12 (scripts/container/runtime-base.sh);
# - the `builder` stage: `--build-context builder=DIR` replaces it (buildah skips the
#   stages nothing else needs), DIR laid out as the builder stage leaves its file
#   system (the binary where its `install` line puts it, the workspace's config/ under
#   its WORKDIR), holding the binary cargo already built.
# Everything from `FROM ${RUNTIME_IMAGE}` on (COPY paths, ENV, WORKDIR, USER, LABEL,
# ENTRYPOINT) is the shipped text, built as it is.
crate_version() { # SVC
  local v
  v=$(sed -n 's/^version *= *"\([^"]*\)".*/\1/p' "$1/Cargo.toml" | head -n 1)
  [[ -n $v ]] || v=$(sed -n '/^\[workspace.package\]/,/^\[/s/^version *= *"\([^"]*\)".*/\1/p' Cargo.toml | head -n 1)
  printf '%s' "${v:-0.0.0}"
}
# builder_layout DOCKERFILE SVC: sets OUT_PATH (where the builder stage installs the
# binary) and SRC_DIR (its WORKDIR, which holds the workspace), read from the build
# stages, never from the runtime stage under test.
OUT_PATH=""
SRC_DIR=""
builder_layout() {
  local df=$1 s=$2 build_stages
  # Everything before the last FROM, continuation lines joined.
  build_stages=$(awk '/^[[:space:]]*FROM[[:space:]]/ { n++ } { print n "\t" $0 }' "$df" \
    | awk -F'\t' -v last="$(grep -c '^[[:space:]]*FROM[[:space:]]' "$df")" '$1 < last { print $2 }' \
    | sed -e ':a' -e '/\\$/N; s/\\\n/ /; ta')
  OUT_PATH=$(sed -n "s|.*install [^&;]*target/release/$s \(/[^ &;]*\).*|\1|p" <<<"$build_stages" | tail -n 1)
  SRC_DIR=$(sed -n 's/^[[:space:]]*WORKDIR[[:space:]]\+\(\/[^[:space:]]*\).*/\1/p' <<<"$build_stages" | tail -n 1)
  if [[ -z $OUT_PATH || -z $SRC_DIR ]]; then
    printf '%s: cannot tell where the builder stage leaves %s (an `install … target/release/%s /PATH` line) or its WORKDIR\n' \
      "$df" "$s" "$s"
    return 1
  fi
}
make_builder_context() { # SVC DIR: the builder stage's file system, as far as the runtime stage reads it
  local s=$1 dir=$2
  builder_layout "$DOCKERFILE_DIR/$s.Dockerfile" "$s" || return 1
  rm -rf "$dir"
  mkdir -p "$dir$(dirname "$OUT_PATH")" "$dir$SRC_DIR/config"
  # A hard link when the binary is on the same file system: no copy of a large debug binary.
  ln -f -- "${BIN[$s]}" "$dir$OUT_PATH" 2>/dev/null || cp -- "${BIN[$s]}" "$dir$OUT_PATH"
  if compgen -G 'config/*.yaml' >/dev/null; then cp config/*.yaml "$dir$SRC_DIR/config/"; fi
}

REVISION=$(git rev-parse HEAD 2>/dev/null || echo unknown)
RUNTIME_BASE=""
declare -A IMAGE=()
build_image() { # SVC
  local s=$1 dir="$CACHE/build/$1" df="$DOCKERFILE_DIR/$1.Dockerfile" out rc=0 img="localhost/surge/$1:check" created
  [[ -f $df ]] || { fail "$s: $df is missing"; return 1; }
  if ! out=$(make_builder_context "$s" "$dir" 2>&1); then
    fail "$s: builder context for $df" "$out"
    return 1
  fi
  created=$(date -u -d "@$(stat -c %Y "${BIN[$s]}")" +%Y-%m-%dT%H:%M:%SZ)
  # The context is the repository root, as for `docker build`; the runtime stage reads
  # nothing from it, only from the builder context.
  out=$(podman build --pull=never --layers=false -f "$df" -t "$img" \
    --build-arg "RUNTIME_IMAGE=$RUNTIME_BASE" --build-context "builder=$dir" \
    --build-arg "VERSION=$(crate_version "$s")" --build-arg "REVISION=$REVISION" \
    --build-arg "CREATED=$created" "$ROOT" 2>&1) || rc=$?
  if ((rc)); then
    fail "$s: podman build -f $df (runtime stage on $RUNTIME_BASE)" "$out"
    return 1
  fi
  IMAGE[$s]=$img
  pass "$s: built $img from $df's runtime stage ($(human "$(podman image inspect --format '{{.Size}}' "$img")"))"
  check_image "$s" "$img"
}

# What the Dockerfile declares and no run would show: the user (the Kubernetes pods
# require a numeric 65532), the labels the build arguments fill in, and the settings
# files under SURGE_CONFIG_DIR (the services start without them, on defaults).
check_image() { # SVC IMAGE
  local s=$1 img=$2 user env conf_dir mnt f problems=()
  user=$(podman image inspect --format '{{.Config.User}}' "$img")
  [[ $user =~ ^65532(:65532)?$ ]] || problems+=("USER is '${user}', not 65532:65532")
  local version revision
  version=$(podman image inspect --format '{{index .Labels "org.opencontainers.image.version"}}' "$img")
  revision=$(podman image inspect --format '{{index .Labels "org.opencontainers.image.revision"}}' "$img")
  [[ $version == "$(crate_version "$s")" ]] || problems+=("label org.opencontainers.image.version is '$version', not $(crate_version "$s")")
  [[ $revision == "$REVISION" ]] || problems+=("label org.opencontainers.image.revision is '$revision', not $REVISION")
  env=$(podman image inspect --format '{{range .Config.Env}}{{println .}}{{end}}' "$img")
  conf_dir=$(sed -n 's/^SURGE_CONFIG_DIR=//p' <<<"$env" | tail -n 1)
  if [[ -z $conf_dir ]]; then
    problems+=("no ENV SURGE_CONFIG_DIR: the service would read ./config below its WORKDIR")
  elif ! mnt=$(podman image mount "$img" 2>&1); then
    problems+=("podman image mount: $mnt")
  else
    for f in config/*.yaml; do
      cmp -s -- "$f" "$mnt$conf_dir/${f##*/}" || problems+=("$conf_dir/${f##*/} is missing or differs from $f")
    done
    podman image unmount "$img" >/dev/null 2>&1 || true
  fi
  if ((${#problems[@]})); then
    fail "$s: image settings (user, labels, $conf_dir)" "$(printf '%s\n' "${problems[@]}")"
    unset "IMAGE[$s]"
    return 1
  fi
  pass "$s: image user $user, labels version $version revision ${revision:0:12}, settings in $conf_dir"
}
human() { numfmt --to=iec-i --suffix=B --format='%.1f' "$1"; }

# --------------------------------------------------------------- containers --
# Every container runs as the Kubernetes manifests require: read-only root file
# system with only /tmp writable (the pods' emptyDir), no capabilities, no privilege
# escalation. No --user: the image's own USER is what runs, so check_runtime sees the
# uid the Dockerfile sets.
RUN_OPTS=(--rm --read-only --read-only-tmpfs=false --tmpfs "/tmp:rw,nosuid,nodev,size=64m"
  --network host --cap-drop ALL --security-opt no-new-privileges
  --label "$LABEL" --pull never)

run_detached() { # NAME IMAGE ENV... ; prints the container id
  local name=$1 img=$2 cidfile="$LOGS/$1.cid"
  shift 2
  local envs=() e
  for e in "$@"; do envs+=(-e "$e"); done
  rm -f "$cidfile"
  podman run -d "${RUN_OPTS[@]}" --cidfile "$cidfile" --name "surge-check-$name-$RUN_ID" \
    --log-opt "path=$LOGS/$name.log" "${envs[@]}" "$img" >/dev/null
  cat "$cidfile"
}
run_oneshot() { # NAME IMAGE ARGS... ; env from ONESHOT_ENV; output on stdout
  local name=$1 img=$2 cidfile="$LOGS/$1.cid" envs=() e rc=0
  shift 2
  for e in "${ONESHOT_ENV[@]}"; do envs+=(-e "$e"); done
  rm -f "$cidfile"
  timeout 180 podman run "${RUN_OPTS[@]}" --cidfile "$cidfile" --name "surge-check-$name-$RUN_ID" \
    "${envs[@]}" "$img" "$@" 2>&1 || rc=$?
  return "$rc"
}
running() { [[ $(podman inspect --format '{{.State.Running}}' "$1" 2>/dev/null) == true ]]; }
container_log() { tail -n 20 "$LOGS/$1.log" 2>/dev/null | sed 's/^[^ ]* [^ ]* [^ ]* //' || true; }

# wait_http CID URL: waits until URL answers 200 (body in $LAST_BODY), at most
# $TIMEOUT seconds; gives up at once when the container has stopped.
LAST_BODY=""
LAST_CODE=""
wait_http() {
  local cid=$1 url=$2 deadline=$((SECONDS + TIMEOUT)) tmp="$LOGS/body"
  while :; do
    LAST_CODE=$(curl -s -o "$tmp" -w '%{http_code}' --max-time 5 "$url" 2>/dev/null) || true
    LAST_BODY=$(cat "$tmp" 2>/dev/null || true)
    [[ $LAST_CODE == 200 ]] && return 0
    running "$cid" || { LAST_CODE="$LAST_CODE (container stopped)"; return 1; }
    ((SECONDS < deadline)) || return 1
    sleep 0.5
  done
}

# The container's main process, seen from the host: uid/gid, no_new_privs,
# capabilities and the root mount.
check_runtime() { # SVC NAME CID
  local s=$1 name=$2 cid=$3 pid status ro root_opts problems=()
  pid=$(podman inspect --format '{{.State.Pid}}' "$cid" 2>/dev/null) || pid=0
  ro=$(podman inspect --format '{{.HostConfig.ReadonlyRootfs}}' "$cid" 2>/dev/null) || ro=unknown
  if [[ ! $pid =~ ^[1-9][0-9]*$ ]] || ! status=$(cat "/proc/$pid/status" 2>/dev/null); then
    fail "$s: runs as $UIDGID, read-only, no capabilities" "no process for container $cid"
    return
  fi
  root_opts=$(awk '$5 == "/" { print $6 }' "/proc/$pid/mountinfo" 2>/dev/null | tail -n 1)
  grep -Eq '^Uid:\s+65532\s+65532\s+65532\s+65532$' <<<"$status" || problems+=("$(grep '^Uid:' <<<"$status")")
  grep -Eq '^Gid:\s+65532\s+65532\s+65532\s+65532$' <<<"$status" || problems+=("$(grep '^Gid:' <<<"$status")")
  grep -Eq '^NoNewPrivs:\s+1$' <<<"$status" || problems+=("$(grep '^NoNewPrivs:' <<<"$status")")
  grep -Eq '^CapEff:\s+0+$' <<<"$status" || problems+=("$(grep '^CapEff:' <<<"$status")")
  [[ $ro == true ]] || problems+=("HostConfig.ReadonlyRootfs=$ro")
  [[ ,$root_opts, == *,ro,* ]] || problems+=("root mount options: ${root_opts:-none}")
  if ((${#problems[@]})); then
    fail "$s: runs as $UIDGID, read-only, no capabilities" "$(printf '%s\n' "${problems[@]}")"
  else
    pass "$s: runs as uid/gid 65532 (pid $pid), root file system read-only, no capabilities, no_new_privs"
  fi
}

stop_container() { # NAME CID
  local t0=$SECONDS
  podman stop -t 20 "$2" >/dev/null 2>&1 || podman rm -f "$2" >/dev/null 2>&1 || true
  log "$1 stopped in $((SECONDS - t0)) s"
}

# -------------------------------------------------------------------- main --
# A topic (and dead-letter topic) of this run's own, so nothing else's records
# interfere; created (a JVM each) while the images are built. loadgen alone needs none.
NEEDS_TOPICS=0
for s in "${SERVICES[@]}"; do [[ $s == loadgen ]] || NEEDS_TOPICS=1; done
if ((NEEDS_TOPICS)); then
  TOPICS_CREATED=1
  create_topic "$TOPIC" >"$LOGS/topic.log" 2>&1 &
  TOPIC_JOBS=($!)
  create_topic "$DLQ_TOPIC" >"$LOGS/dlq-topic.log" 2>&1 &
  TOPIC_JOBS+=($!)
fi

if out=$(bash scripts/container/runtime-base.sh "$CACHE" 2>"$LOGS/runtime-base.log"); then
  RUNTIME_BASE=$out
  pass "runtime base $RUNTIME_BASE (the Debian 12 packages of distroless cc-debian12)"
  for s in "${SERVICES[@]}"; do build_image "$s" || true; done
else
  fail "runtime base (scripts/container/runtime-base.sh)" "$(cat "$LOGS/runtime-base.log")"
fi
podman image prune -f >/dev/null 2>&1 || true

TOPIC_OK=1
for j in "${TOPIC_JOBS[@]}"; do wait "$j" || TOPIC_OK=0; done
TOPIC_JOBS=()
if ((!NEEDS_TOPICS)); then
  :
elif ((TOPIC_OK)); then
  pass "topics $TOPIC and $DLQ_TOPIC created (3 partitions each)"
else
  fail "create topics $TOPIC, $DLQ_TOPIC" "$(cat "$LOGS/topic.log" "$LOGS/dlq-topic.log")"
fi

ORDER_ID=""

# The endpoints every service answers: /healthz, the runtime checks, /readyz, /metrics.
# Returns 1, after stopping the container, when it never became healthy or ready.
check_probes() { # SERVICE CONTAINER-NAME CID BASE-URL
  local s=$1 name=$2 cid=$3 base=$4
  if wait_http "$cid" "$base/healthz"; then pass "$s: GET /healthz 200"
  else fail "$s: GET /healthz → $LAST_CODE" "$LAST_BODY"$'\n'"$(container_log "$name")"; stop_container "$name" "$cid"; return 1; fi
  check_runtime "$s" "$name" "$cid"
  if wait_http "$cid" "$base/readyz"; then pass "$s: GET /readyz 200"
  else fail "$s: GET /readyz → $LAST_CODE within ${TIMEOUT} s" "$LAST_BODY"$'\n'"$(container_log "$name")"; stop_container "$name" "$cid"; return 1; fi
  if wait_http "$cid" "$base/metrics"; then pass "$s: GET /metrics 200"
  else fail "$s: GET /metrics → $LAST_CODE"; fi
}

# ------------------------------------------------------------ producer-svc --
check_producer() {
  local s=producer-svc img=${IMAGE[producer-svc]:-} cid base="http://127.0.0.1:$PRODUCER_PORT" out
  [[ -n $img ]] || { fail "$s: not run (no image)"; return; }
  ((TOPIC_OK)) || { fail "$s: not run (no topic)"; return; }
  if ! cid=$(run_detached producer "$img" \
    SURGE__HTTP__HOST=127.0.0.1 SURGE__HTTP__PORT=$PRODUCER_PORT \
    SURGE__KAFKA__BOOTSTRAP_SERVERS="$KAFKA" SURGE__KAFKA__TOPIC="$TOPIC" \
    SURGE__KAFKA__DLQ_TOPIC="$DLQ_TOPIC" 2>&1); then
    fail "$s: podman run" "$cid"
    return
  fi
  CONTAINERS+=("$cid")
  log "producer-svc container ${cid:0:12}"
  check_probes "$s" producer "$cid" "$base" || return

  # One order. The Idempotency-Key makes a retry (say, after a 503 while the new
  # topic's leaders are elected) the same order, so retrying cannot duplicate it.
  local deadline=$((SECONDS + TIMEOUT)) code body attempts=0
  local payload="{\"sku\":\"$SKU\",\"quantity\":1,\"customer_id\":\"container-check\"}"
  while :; do
    attempts=$((attempts + 1))
    code=$(curl -s -o "$LOGS/order.json" -w '%{http_code}' --max-time 30 -X POST "$base/v1/orders" \
      -H 'content-type: application/json' -H "Idempotency-Key: container-check-$RUN_ID" \
      -d "$payload" 2>/dev/null) || true
    body=$(cat "$LOGS/order.json" 2>/dev/null || true)
    [[ $code == 202 ]] && break
    if [[ $code == 4* ]] || ! running "$cid" || ((SECONDS >= deadline)); then break; fi
    sleep 1
  done
  ORDER_ID=$(sed -n 's/.*"order_id" *: *"\([0-9a-fA-F-]\{36\}\)".*/\1/p' <<<"$body")
  if [[ $code == 202 && -n $ORDER_ID ]]; then
    pass "$s: POST /v1/orders 202, order_id $ORDER_ID (attempt $attempts)"
  else
    fail "$s: POST /v1/orders → ${code:-no answer}, expected 202 with an order_id" "$body"$'\n'"$(container_log producer)"
    ORDER_ID=""
  fi
  stop_container producer "$cid"
}

# ------------------------------------------------------------ consumer-svc --
check_consumer() {
  local s=consumer-svc img=${IMAGE[consumer-svc]:-} cid base="http://127.0.0.1:$CONSUMER_PORT" out
  [[ -n $img ]] || { fail "$s: not run (no image)"; return; }
  ((TOPIC_OK)) || { fail "$s: not run (no topic)"; return; }
  local admin=${PG_ADMIN%%\?*}
  local query=${PG_ADMIN#"$admin"}
  local db_url="${admin%/*}/$DB$query"
  if out=$(psql "$PG_ADMIN" -X -q -v ON_ERROR_STOP=1 -c "CREATE DATABASE \"$DB\"" 2>&1); then
    DB_CREATED=1
    pass "database $DB created"
  else
    fail "create database $DB" "$out"
    return
  fi
  ONESHOT_ENV=(SURGE__DATABASE__URL="$db_url")
  # As the Kubernetes Job does: migrations in a one-shot container, then the service
  # with migrate_on_start off.
  if out=$(run_oneshot migrate "$img" migrate); then
    pass "$s: one-shot \`migrate\` container exited 0"
  else
    fail "$s: one-shot \`migrate\` container" "$out"
    return
  fi
  local seeded=0
  if out=$(run_oneshot seed "$img" seed-stock --sku "$SKU" --units 10); then
    pass "$s: one-shot \`seed-stock --sku $SKU --units 10\` exited 0"
    seeded=1
  else
    fail "$s: one-shot \`seed-stock\` container" "$out"
  fi
  if ! cid=$(run_detached consumer "$img" \
    SURGE__HTTP__HOST=127.0.0.1 SURGE__HTTP__PORT=$CONSUMER_PORT \
    SURGE__KAFKA__BOOTSTRAP_SERVERS="$KAFKA" SURGE__KAFKA__TOPIC="$TOPIC" \
    SURGE__KAFKA__DLQ_TOPIC="$DLQ_TOPIC" SURGE__KAFKA__GROUP_ID="$GROUP" \
    SURGE__DATABASE__URL="$db_url" SURGE__DATABASE__MIGRATE_ON_START=false 2>&1); then
    fail "$s: podman run" "$cid"
    return
  fi
  CONTAINERS+=("$cid")
  log "consumer-svc container ${cid:0:12}"
  check_probes "$s" consumer "$cid" "$base" || return
  if [[ -n $ORDER_ID ]]; then
    if wait_http "$cid" "$base/v1/orders/$ORDER_ID"; then
      local status
      status=$(sed -n 's/.*"status" *: *"\([a-z_]*\)".*/\1/p' <<<"$LAST_BODY")
      if ((seeded)) && [[ $status != confirmed ]]; then
        fail "$s: GET /v1/orders/$ORDER_ID 200 but status ${status:-?}, expected confirmed" "$LAST_BODY"
      else
        pass "$s: GET /v1/orders/$ORDER_ID 200 (processed into PostgreSQL, status ${status:-?})"
      fi
    else
      fail "$s: GET /v1/orders/$ORDER_ID → $LAST_CODE within ${TIMEOUT} s" "$LAST_BODY"$'\n'"$(container_log consumer)"
    fi
  fi
  stop_container consumer "$cid"
}

# ----------------------------------------------------------------- loadgen --
# A one-shot tool: its image must start (entrypoint, libraries, user) and answer --help.
check_loadgen() {
  local s=loadgen img=${IMAGE[loadgen]:-} out
  [[ -n $img ]] || { fail "$s: not run (no image)"; return; }
  ONESHOT_ENV=()
  if out=$(run_oneshot loadgen "$img" --help) && grep -q 'flash-sale' <<<"$out"; then
    pass "$s: one-shot \`loadgen --help\` exited 0"
  else
    fail "$s: one-shot \`loadgen --help\`" "$out"
  fi
}

# The producer first: its order is on the topic before the consumer's group starts
# (auto.offset.reset=earliest), so the consumer's first batch processes it.
for s in "${SERVICES[@]}"; do [[ $s == producer-svc ]] && check_producer; done
for s in "${SERVICES[@]}"; do [[ $s == consumer-svc ]] && check_consumer; done
for s in "${SERVICES[@]}"; do [[ $s == loadgen ]] && check_loadgen; done

# ------------------------------------------------------------------- sizes --
printf '\nbinaries from %s\n%-40s %12s %12s\n' "$BIN_DIR" "image" "image size" "binary"
for s in "${SERVICES[@]}"; do
  img=${IMAGE[$s]:-}
  [[ -n $img ]] || continue
  printf '%-40s %12s %12s\n' "$img" \
    "$(human "$(podman image inspect --format '{{.Size}}' "$img")")" "$(human "$(stat -c %s "${BIN[$s]}")")"
done
[[ -z $RUNTIME_BASE ]] || printf '%-40s %12s\n' "$RUNTIME_BASE (shared base)" \
  "$(human "$(podman image inspect --format '{{.Size}}' "$RUNTIME_BASE")")"
printf 'elapsed %d s\n\n' "$((SECONDS - T0))"

summary
((FAILED == 0))
