#!/usr/bin/env bash
# Shows that scripts/container-check.sh catches a broken runtime stage: it breaks a
# copy of docker/producer-svc.Dockerfile one way at a time, runs the check on it, and
# expects the check to fail with the line that names the break. Not part of CI (each
# case builds and runs an image); run it after changing container-check.sh.
#
#   scripts/container/negative-check.sh [--bin-dir DIR]     (default target/debug)
#
# Needs what container-check.sh needs: the binaries built, Kafka and PostgreSQL up.
# Ends with `negative-check: N caught, M missed`; exit status 1 when any was missed.
set -Eeuo pipefail

ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
BIN_DIR=target/debug
while (($#)); do
  case $1 in
    --bin-dir) BIN_DIR=${2:?--bin-dir needs a directory}; shift ;;
    --bin-dir=*) BIN_DIR=${1#*=} ;;
    -h | --help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "negative-check: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
BIN_DIR=$(realpath -m -- "$BIN_DIR")

SVC=producer-svc
SHIPPED="docker/$SVC.Dockerfile"
WORK=$(mktemp -d)
trap 'rm -rf -- "$WORK"' EXIT

# name | sed expression that breaks the runtime stage | the FAIL line expected
CASES=(
  "wrong COPY path|s#^COPY --from=builder /out/$SVC #COPY --from=builder /out/$SVC-typo #|FAIL  $SVC: podman build"
  "wrong ENTRYPOINT|s#^ENTRYPOINT \\[\"/usr/local/bin/$SVC\"\\]#ENTRYPOINT [\"/usr/local/bin/$SVC-typo\"]#|FAIL  $SVC: GET /healthz"
  "missing config|\\#^COPY --from=builder /src/config #d|FAIL  $SVC: image settings"
  "wrong USER|s#^USER 65532:65532#USER 0:0#|FAIL  $SVC: image settings"
)

caught=0
missed=0
for c in "${CASES[@]}"; do
  IFS='|' read -r name expr expected <<<"$c"
  dir="$WORK/${name// /-}"
  mkdir -p "$dir"
  sed -e "$expr" "$SHIPPED" >"$dir/$SVC.Dockerfile"
  if cmp -s "$SHIPPED" "$dir/$SVC.Dockerfile"; then
    printf 'MISSED  %s: the edit no longer applies to %s (update this case)\n' "$name" "$SHIPPED"
    missed=$((missed + 1))
    continue
  fi
  rc=0
  out=$(bash scripts/container-check.sh --service "$SVC" --bin-dir "$BIN_DIR" --dockerfile-dir "$dir" 2>&1) || rc=$?
  if ((rc != 0)) && grep -qF -- "$expected" <<<"$out"; then
    printf 'caught  %s: %s\n' "$name" "$(grep -F -- "$expected" <<<"$out" | head -n 1)"
    caught=$((caught + 1))
  else
    printf 'MISSED  %s: container-check exited %d without "%s"\n' "$name" "$rc" "$expected"
    printf '%s\n' "$out" | tail -n 25 | sed 's/^/        /'
    missed=$((missed + 1))
  fi
done
printf 'negative-check: %d caught, %d missed\n' "$caught" "$missed"
((missed == 0))
