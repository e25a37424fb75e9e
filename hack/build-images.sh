#!/usr/bin/env bash
# Build the test node's container images offline and cache them as `docker save`
# tarballs under ~/.cache/kapacitor-operator/images/, each rebuilt only when its inputs
# change (the inputs' hash is the image tag):
#
#   python    Debian bookworm from debootstrap (minbase + python3, venv, pip, CA
#             certificates), trimmed; the host's CA bundle copied in (registries are
#             reached through an intercepting proxy); EXTERNALLY-MANAGED removed.
#   pause     a static C program (hack/images/pause.c): the sandbox of every Pod.
#   busybox   Debian's busybox-static, extracted from its .deb: the image of test Jobs.
#   operator  the repository's Dockerfile with --build-arg PYTHON_IMAGE=<python above>.
#
# No registry is reachable, so nothing may be pulled: the images are made from a root
# filesystem (`docker import`) or from the Dockerfile on top of those. The builder is
# Debian's docker.io: a private dockerd (own data root under the cache, own socket,
# exec-root and pidfile, no iptables, no bridge), started here and stopped when the
# builds end; builds use the host network. See docs/node.md.
#
# Usage: hack/build-images.sh [pause busybox python operator]   (default: all four)
#        Prints the path of a JSON manifest (image refs, tarballs, sizes) on the last line:
#        what KAPACITOR_OPERATOR_IMAGES names for the test kit.
# Needs: root, hack/provision-node.sh (docker.io, debootstrap, gcc).
# Env:   KAPACITOR_OPERATOR_CACHE (cache root), DEBIAN_MIRROR (debootstrap mirror).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

CACHE_ROOT="${KAPACITOR_OPERATOR_CACHE:-$HOME/.cache/kapacitor-operator}"
IMAGES_DIR="$CACHE_ROOT/images"
WORK="$IMAGES_DIR/work"
DOCKER_DATA="$CACHE_ROOT/docker"
DOCKER_RUN=/run/kapacitor-operator-docker
DOCKER_SOCK="$DOCKER_RUN/docker.sock"
DOCKER_CGROUP=/kapacitor-operator-build
DOCKER=/usr/bin/docker  # Debian's client: a newer /usr/local/bin/docker lacks buildx here
REGISTRY=kapacitor-operator.local
SUITE=bookworm
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
INCLUDE=python3,python3-venv,python3-pip,ca-certificates
HOST_CA=/etc/ssl/certs/ca-certificates.crt
# Tarballs kept per image name (several worktrees may need different operator images).
KEEP=3

log() { printf '[build-images %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
timed() {
  local label=$1; shift
  local start=$SECONDS
  "$@"
  log "$label took $((SECONDS - start))s"
}
sha() { sha256sum | cut -c1-12; }

# --- inputs -----------------------------------------------------------------------------

# Applets the test Pods use (sh, echo, sleep, head, tail, cat, nc, httpd, ...); every applet
# of the binary is linked anyway, this list only documents and checks the contract. (Its
# wget crashes here: name lookup in a static binary without NSS modules; use nc.)
REQUIRED_APPLETS=(sh echo printf sleep head tail cat nc httpd env true false)

trim_rootfs() {
  # Documentation, man pages, locales and package caches: nothing at run time reads them.
  local root=$1
  rm -rf "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/* \
    "$root"/usr/share/locale/* "$root"/usr/share/lintian "$root"/usr/share/common-licenses \
    "$root"/var/cache/apt/* "$root"/var/lib/apt/lists/* "$root"/var/cache/debconf/*-old \
    "$root"/var/lib/dpkg/*-old "$root"/var/cache/ldconfig/aux-cache "$root"/var/log/*
  find "$root" -xdev -depth -name __pycache__ -type d -exec rm -rf {} +
  rm -f "$root"/usr/lib/python3.*/EXTERNALLY-MANAGED
}

python_key() {
  {
    echo "$SUITE $INCLUDE minbase"
    declare -f trim_rootfs
    sha256sum <"$HOST_CA"
  } | sha
}

pause_key() { { cat hack/images/pause.c; gcc --version | head -1; } | sha; }

busybox_version() {
  apt-cache policy busybox-static | awk '$1 == "Candidate:" {print $2}'
}

busybox_key() { { busybox_version; echo "${REQUIRED_APPLETS[*]}"; } | sha; }

# Everything .dockerignore lets into the build context, and the recipe itself.
operator_key() {
  local python_ref=$1
  {
    echo "$python_ref"
    {
      printf '%s\n' Dockerfile .dockerignore pyproject.toml
      find . -maxdepth 1 \( -name 'README*' -o -name 'LICENSE*' \) -type f -printf '%P\n'
      find operator -type f ! -path '*/__pycache__/*' ! -name '*.py[cod]' \
        ! -path '*.egg-info/*' ! -path '*/.mypy_cache/*' ! -path '*/.pytest_cache/*' \
        ! -path '*/.ruff_cache/*'
    } | LC_ALL=C sort | xargs -d '\n' sha256sum
  } | sha
}

# --- the private dockerd ----------------------------------------------------------------

docker_cli() { DOCKER_CONFIG="$DOCKER_DATA/client" "$DOCKER" -H "unix://$DOCKER_SOCK" "$@"; }

unmount_under() {
  local dir=$1 mnt
  # Deepest first; lazily, as a crashed daemon may still hold them busy for a moment.
  awk '{print $5}' /proc/self/mountinfo | { grep -E "^$dir(/|$)" || true; } | sort -r \
    | while read -r mnt; do
    umount "$mnt" 2>/dev/null || umount -l "$mnt" 2>/dev/null || true
  done
}

stop_dockerd() {
  local pidfile="$DOCKER_RUN/dockerd.pid" pid
  if [ -f "$pidfile" ]; then
    pid=$(cat "$pidfile")
    if [ -n "$pid" ] && grep -q "$DOCKER_RUN" "/proc/$pid/cmdline" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  # dockerd supervises its own containerd; a killed dockerd can leave it behind.
  pkill -KILL -f -- "--root $DOCKER_DATA/containerd" 2>/dev/null || true
  unmount_under "$DOCKER_RUN"
  unmount_under "$DOCKER_DATA"
  rm -rf "$DOCKER_RUN"
  # Empty cgroups of the build containers, deepest first (rmdir fails on busy ones).
  find /sys/fs/cgroup/*/"${DOCKER_CGROUP#/}" -depth -type d -exec rmdir {} + 2>/dev/null || true
  # dockerd always makes /run/docker/plugins (plugin discovery, not configurable); remove
  # it, if empty, unless another dockerd runs.
  if ! pgrep -x dockerd >/dev/null; then rmdir /run/docker/plugins /run/docker 2>/dev/null || true; fi
}

DOCKERD_STARTED=
ensure_dockerd() {
  [ -n "$DOCKERD_STARTED" ] && return 0
  command -v dockerd >/dev/null || die "dockerd is missing: run hack/provision-node.sh"
  stop_dockerd  # leftovers of a crashed build
  mkdir -p "$DOCKER_DATA/client" "$DOCKER_RUN"
  # Its own daemon.json: its identity key under the cache rather than /etc/docker, and
  # build containers under a cgroup of its own (removed in stop_dockerd).
  printf '{"deprecated-key-path": "%s", "cgroup-parent": "%s"}\n' \
    "$DOCKER_DATA/key.json" "$DOCKER_CGROUP" >"$DOCKER_DATA/daemon.json"
  log "starting a private dockerd (data root $DOCKER_DATA, socket $DOCKER_SOCK)"
  dockerd \
    --config-file "$DOCKER_DATA/daemon.json" \
    --data-root "$DOCKER_DATA/data" \
    --exec-root "$DOCKER_RUN/exec" \
    --pidfile "$DOCKER_RUN/dockerd.pid" \
    --host "unix://$DOCKER_SOCK" \
    --iptables=false --ip-forward=false --ip-masq=false --bridge=none \
    --storage-driver=overlay2 --log-level=warn \
    >>"$DOCKER_DATA/dockerd.log" 2>&1 &
  DOCKERD_STARTED=$!
  trap stop_dockerd EXIT
  for _ in $(seq 1 600); do
    docker_cli version >/dev/null 2>&1 && return 0
    kill -0 "$DOCKERD_STARTED" 2>/dev/null || break
    sleep 0.1
  done
  tail -n 20 "$DOCKER_DATA/dockerd.log" >&2
  die "the private dockerd did not start (log: $DOCKER_DATA/dockerd.log)"
}

# --- images -----------------------------------------------------------------------------

ref_of() { echo "$REGISTRY/$1:$2"; }
archive_of() { echo "$IMAGES_DIR/$1-$2.tar"; }
cached() { [ -f "$(archive_of "$1" "$2")" ] && [ -f "$IMAGES_DIR/$1-$2.json" ]; }

# Save the image as a tarball (for `ctr images import`) with a small JSON record beside it.
save_image() {
  local name=$1 key=$2 ref archive size
  ref=$(ref_of "$name" "$key"); archive=$(archive_of "$name" "$key")
  docker_cli save -o "$archive.tmp" "$ref"
  mv "$archive.tmp" "$archive"
  size=$(docker_cli image inspect -f '{{.Size}}' "$ref")
  python3 - "$IMAGES_DIR/$name-$key.json" "$ref" "$archive" "$size" <<'PY'
import json, sys
path, ref, archive, size = sys.argv[1:]
with open(path, "w") as f:
    json.dump({"ref": ref, "archive": archive, "size": int(size)}, f)
PY
  log "$ref: $((size / 1000000)) MB"
}

# `docker import` a root filesystem directory as a one-layer image.
import_rootfs() {
  local dir=$1 ref=$2; shift 2
  tar --numeric-owner -C "$dir" -c . | docker_cli import "$@" - "$ref" >/dev/null
}

build_python() {
  local key=$1 root="$WORK/python-rootfs"
  unmount_under "$root"  # debootstrap mounts /proc and /sys inside; a crash leaves them
  rm -rf "$root"; mkdir -p "$root" "$CACHE_ROOT/debootstrap-debs"
  log "debootstrap $SUITE ($INCLUDE) from $MIRROR"
  if ! debootstrap --variant=minbase --include="$INCLUDE" \
      --cache-dir="$CACHE_ROOT/debootstrap-debs" "$SUITE" "$root" "$MIRROR" \
      >"$WORK/debootstrap.log" 2>&1; then
    tail -n 30 "$WORK/debootstrap.log" >&2
    unmount_under "$root"
    die "debootstrap failed (log: $WORK/debootstrap.log)"
  fi
  unmount_under "$root"
  install -m 0644 "$HOST_CA" "$root/etc/ssl/certs/ca-certificates.crt"
  trim_rootfs "$root"
  ensure_dockerd
  import_rootfs "$root" "$(ref_of python "$key")" \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' --change 'CMD ["python3"]'
  rm -rf "$root"
  save_image python "$key"
}

build_pause() {
  local key=$1 root="$WORK/pause-rootfs"
  rm -rf "$root"; mkdir -p "$root"
  gcc -static -O2 -s -Wall -Wextra -Werror -o "$root/pause" hack/images/pause.c
  ensure_dockerd
  import_rootfs "$root" "$(ref_of pause "$key")" --change 'ENTRYPOINT ["/pause"]'
  rm -rf "$root"
  save_image pause "$key"
}

build_busybox() {
  local key=$1 root="$WORK/busybox-rootfs" deb_dir="$WORK/busybox-deb" applet
  rm -rf "$root" "$deb_dir"; mkdir -p "$root/bin" "$root/tmp" "$root/etc" "$deb_dir"
  (cd "$deb_dir" && apt-get download -q "busybox-static=$(busybox_version)" >/dev/null 2>&1) \
    || { apt-get update -q >&2 && (cd "$deb_dir" && apt-get download -q busybox-static >&2); } \
    || die "cannot download busybox-static"
  dpkg-deb -x "$deb_dir"/busybox-static_*.deb "$deb_dir/x"
  install -m 0755 "$deb_dir/x/bin/busybox" "$root/bin/busybox"
  for applet in $("$root/bin/busybox" --list); do
    [ "$applet" = busybox ] || ln -sf busybox "$root/bin/$applet"
  done
  for applet in "${REQUIRED_APPLETS[@]}"; do
    [ -L "$root/bin/$applet" ] || die "busybox-static lacks the $applet applet"
  done
  chmod 1777 "$root/tmp"
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$root/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
  ensure_dockerd
  import_rootfs "$root" "$(ref_of busybox "$key")" \
    --change 'ENV PATH=/bin' --change 'CMD ["sh"]'
  rm -rf "$root" "$deb_dir"
  save_image busybox "$key"
}

build_operator() {
  local key=$1 python_ref=$2
  ensure_dockerd
  # The base exists in this daemon unless it was pruned; load it from its tarball then.
  docker_cli image inspect "$python_ref" >/dev/null 2>&1 \
    || docker_cli load -q -i "$(archive_of python "${python_ref##*:}")" >/dev/null
  log "docker build of the operator image on $python_ref"
  if ! DOCKER_BUILDKIT=1 docker_cli build --network=host --progress=plain \
      --build-arg "PYTHON_IMAGE=$python_ref" -t "$(ref_of kapacitor-operator "$key")" \
      -f Dockerfile . >"$WORK/operator-build.log" 2>&1; then
    tail -n 40 "$WORK/operator-build.log" >&2
    die "docker build of the operator image failed (log: $WORK/operator-build.log)"
  fi
  save_image kapacitor-operator "$key"
}

# Older tarballs and tags of one image name beyond the newest $KEEP.
prune() {
  local name=$1 old
  for old in $(ls -1t "$IMAGES_DIR/$name"-*.tar 2>/dev/null | tail -n +$((KEEP + 1))); do
    rm -f "$old" "${old%.tar}.json"
  done
  if [ -n "$DOCKERD_STARTED" ]; then
    docker_cli image ls --format '{{.Repository}}:{{.Tag}}' "$REGISTRY/$name" \
      | tail -n +$((KEEP + 1)) | xargs -r "$DOCKER" -H "unix://$DOCKER_SOCK" rmi >/dev/null 2>&1 || true
  fi
}

write_manifest() {
  local manifest
  manifest="$IMAGES_DIR/manifest-$(printf '%s\n' "$@" | sha).json"
  python3 - "$manifest" "$@" <<'PY'
import json, sys
path, records = sys.argv[1], sys.argv[2:]
images = {}
for record in records:
    name, meta = record.split("=", 1)
    with open(meta) as f:
        images[name] = json.load(f)
with open(path + ".tmp", "w") as f:
    json.dump({"images": images}, f, indent=2)
import os
os.replace(path + ".tmp", path)
PY
  echo "$manifest"
}

wanted() { [[ " $WANTED " == *" $1 "* ]]; }

main() {
  WANTED="${*:-pause busybox python operator}"
  local name
  for name in $WANTED; do
    case $name in pause|busybox|python|operator) ;; *) die "unknown image $name" ;; esac
  done
  [ "$(id -u)" = 0 ] || die "must run as root (debootstrap, dockerd)"
  for tool in debootstrap dockerd gcc "$DOCKER"; do
    command -v "$tool" >/dev/null || die "$tool is missing: run hack/provision-node.sh"
  done
  [ -f "$HOST_CA" ] || die "no CA bundle at $HOST_CA"
  mkdir -p "$IMAGES_DIR" "$WORK"
  exec 8>"$CACHE_ROOT/.build-images.lock"
  if ! flock -n 8; then
    log "another image build holds $CACHE_ROOT/.build-images.lock; waiting for it"
    flock 8
  fi
  local start=$SECONDS py pa bb op records=()
  pa=$(pause_key); bb=$(busybox_key); py=$(python_key)
  if wanted pause; then
    cached pause "$pa" || timed "pause image" build_pause "$pa"
    records+=("pause=$IMAGES_DIR/pause-$pa.json")
  fi
  if wanted busybox; then
    cached busybox "$bb" || timed "busybox image" build_busybox "$bb"
    records+=("busybox=$IMAGES_DIR/busybox-$bb.json")
  fi
  # The operator image is built on the Python base.
  if wanted python || wanted operator; then
    cached python "$py" || timed "python base image (debootstrap)" build_python "$py"
    records+=("python=$IMAGES_DIR/python-$py.json")
  fi
  if wanted operator; then
    op=$(operator_key "$(ref_of python "$py")")
    cached kapacitor-operator "$op" \
      || timed "operator image (Dockerfile)" build_operator "$op" "$(ref_of python "$py")"
    records+=("operator=$IMAGES_DIR/kapacitor-operator-$op.json")
    log "operator image: $(ref_of kapacitor-operator "$op")"
  fi
  for name in python pause busybox kapacitor-operator; do prune "$name"; done
  if [ -n "$DOCKERD_STARTED" ]; then
    docker_cli builder prune -f --keep-storage 2gb >/dev/null 2>&1 || true
    stop_dockerd
    trap - EXIT
  fi
  log "images ready in $((SECONDS - start))s"
  write_manifest "${records[@]}"
}

main "$@"
