#!/usr/bin/env bash
# Builds localhost/surge/cc-debian12:nonroot, the local stand-in for the runtime base
# the shipped Dockerfiles default to (gcr.io/distroless/cc-debian12:nonroot), from the
# Debian 12 packages distroless puts in that image, and prints its name on stdout.
#
#   scripts/container/runtime-base.sh CACHE_DIR
#
# The package list is distroless's, not what our binaries happen to need: a library the
# binaries link that distroless lacks (zlib, say) must fail here as it fails there.
# The .deb files come from apt (`apt-get download`, which checks them against the signed
# package lists) into CACHE_DIR/debs/ and are kept; the image is rebuilt only when a
# package version or this recipe changes. podman's settings come from the caller
# (CONTAINERS_CONF, CONTAINERS_STORAGE_CONF; scripts/container-check.sh sets them).
set -Eeuo pipefail

HERE=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
CACHE=${1:?usage: runtime-base.sh CACHE_DIR}
IMAGE=localhost/surge/cc-debian12:nonroot
CONTAINERFILE="$HERE/cc-debian12.Containerfile"

# distroless (GoogleContainerTools/distroless, debian12): "static" = base-files, netbase,
# tzdata + CA bundle; "base" adds libc6, libssl3; "cc" adds the gcc runtime libraries.
PACKAGES=(base-files netbase tzdata libc6 libssl3 libgcc-s1 libgomp1 libstdc++6 gcc-12-base)
# Only its certificate bundle goes into the image, as distroless does.
CA_PACKAGE=ca-certificates

log() { printf 'runtime-base: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }
: "${CONTAINERS_CONF:?runtime-base: CONTAINERS_CONF is not set (run it through scripts/container-check.sh)}"
for t in apt-get dpkg-deb tar podman sha256sum; do
  command -v "$t" >/dev/null 2>&1 || die "$t is required"
done

# --------------------------------------------------------------- packages --
DEBS="$CACHE/debs"
mkdir -p "$DEBS"
# apt's binary package cache lives here too: images built for containers often turn it
# off, and rebuilding it from the lists costs seconds on every run.
mkdir -p "$CACHE/apt"
apt_get() {
  apt-get -q -o APT::Sandbox::User=root -o DPkg::Lock::Timeout=300 \
    -o Dir::Cache::pkgcache="$CACHE/apt/pkgcache.bin" -o Dir::Cache::srcpkgcache="$CACHE/apt/srcpkgcache.bin" "$@"
}
# "'URI' FILE SIZE SHA256:…" per package: the candidate versions, without downloading.
# Run in an empty folder: apt prints nothing for a file the current folder already has.
uris() {
  local empty
  empty=$(mktemp -d)
  (cd "$empty" && apt_get download --print-uris "${PACKAGES[@]}" "$CA_PACKAGE" 2>&1) || { rmdir "$empty"; return 1; }
  rmdir "$empty"
}
if ! listing=$(uris) || ! grep -q "^'" <<<"$listing"; then
  # No package lists yet (a fresh machine): fetch them once.
  [[ $EUID -eq 0 ]] || die "apt has no package lists and this is not root: $listing"
  log "apt-get update (no package lists)"
  apt_get update -qq >&2 || die "apt-get update failed"
  listing=$(uris) || die "apt-get download --print-uris failed: $listing"
fi
declare -A FILE=()
while read -r _ file _ _; do
  pkg=${file%%_*}
  FILE[$pkg]=$file
done < <(grep "^'" <<<"$listing")
missing=()
for p in "${PACKAGES[@]}" "$CA_PACKAGE"; do
  [[ -n ${FILE[$p]:-} ]] || die "apt knows no package $p: $listing"
  [[ -s $DEBS/${FILE[$p]} ]] || missing+=("$p")
done
if ((${#missing[@]})); then
  log "downloading ${missing[*]}"
  (cd "$DEBS" && apt_get download "${missing[@]}" >&2) || die "apt-get download ${missing[*]} failed"
fi

# An image made from these very files by this very recipe is reused as it is.
fingerprint=$(
  for p in "${PACKAGES[@]}" "$CA_PACKAGE"; do printf '%s\n' "${FILE[$p]}"; done
  sha256sum <"${BASH_SOURCE[0]}"
  sha256sum <"$CONTAINERFILE"
)
fingerprint=$(sha256sum <<<"$fingerprint" | cut -c1-64)
if [[ $(podman image inspect --format '{{index .Labels "org.surge.base.input"}}' "$IMAGE" 2>/dev/null) == "$fingerprint" ]]; then
  printf '%s\n' "$IMAGE"
  exit 0
fi

# ----------------------------------------------------------------- rootfs --
WORK="$CACHE/runtime-base"
rm -rf "$WORK"
mkdir -p "$WORK/rootfs" "$WORK/ca"
root="$WORK/rootfs"
for p in "${PACKAGES[@]}"; do dpkg-deb -x "$DEBS/${FILE[$p]}" "$root"; done
# The bundle, as update-ca-certificates would write it from the package's certificates.
dpkg-deb -x "$DEBS/${FILE[$CA_PACKAGE]}" "$WORK/ca"
mkdir -p "$root/etc/ssl/certs"
find "$WORK/ca/usr/share/ca-certificates" -name '*.crt' -print0 | sort -z \
  | xargs -0 cat >"$root/etc/ssl/certs/ca-certificates.crt"
[[ -s $root/etc/ssl/certs/ca-certificates.crt ]] || die "no certificates in ${FILE[$CA_PACKAGE]}"
# Users and groups as distroless names them; 65532 is the one the Dockerfiles run as.
cat >"$root/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin
EOF
cat >"$root/etc/group" <<'EOF'
root:x:0:
nobody:x:65534:
tty:x:5:
staff:x:50:
nonroot:x:65532:
EOF
printf '%s\n' 'passwd: files' 'group: files' 'shadow: files' 'hosts: files dns' >"$root/etc/nsswitch.conf"
mkdir -p "$root/tmp" "$root/root" "$root/home"
chmod 1777 "$root/tmp"
chmod 0700 "$root/root"
rm -rf "$root/home/nonroot"

# One tar, root-owned, then /home/nonroot owned by 65532; fixed times and order so the
# same packages give the same layer.
tar_opts=(--numeric-owner --mtime=@0 --sort=name --format=gnu)
tar -C "$root" -cf "$WORK/rootfs.tar" "${tar_opts[@]}" --owner=0 --group=0 .
mkdir -p "$WORK/home/home/nonroot"
chmod 0700 "$WORK/home/home/nonroot"
tar -C "$WORK/home" -rf "$WORK/rootfs.tar" "${tar_opts[@]}" --owner=65532 --group=65532 \
  --no-recursion ./home/nonroot

if ! out=$(podman build --pull=never --layers=false -q -f "$CONTAINERFILE" -t "$IMAGE" \
  --label "org.surge.base.input=$fingerprint" \
  --label "org.opencontainers.image.description=Local stand-in for gcr.io/distroless/cc-debian12:nonroot" \
  "$WORK" 2>&1); then
  die "podman build $IMAGE: $out"
fi
rm -rf "$WORK"
log "built $IMAGE from ${#PACKAGES[@]} Debian packages + the CA bundle"
printf '%s\n' "$IMAGE"
