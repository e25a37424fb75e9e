#!/usr/bin/env bash
# Build the benchmark's Go peer (bench/peer/) into ~/.cache/kapacitor-operator/, keyed by
# a hash of its sources and the Go version, so only a change to the peer (or to Go) pays
# for a build. Modules come from the Go module proxy into the Go module cache that
# hack/provision.sh fills too (client-go v0.35.4 is shared with kube-apiserver's build).
#
# Usage: bench/peer/build.sh           # prints the binary's path on the last line
#        bench/peer/build.sh --check   # gofmt, go vet, go test (no binary; the first run
#                                      # type-checks client-go: minutes, then cached)
#        bench/peer/build.sh --cold    # time a build with an empty Go build cache (the
#                                      # module cache stays): what a fresh machine pays
# Next to the binary: build-seconds (wall time of the build that made it) and
# packages-compiled (how many packages that build compiled: ~1 when the Go build cache
# was warm, a few hundred when cold), which every benchmark run reports.
set -euo pipefail
SRC="$(cd "$(dirname "$0")" && pwd)"
CACHE_ROOT="${KAPACITOR_OPERATOR_CACHE:-$HOME/.cache/kapacitor-operator}"
export CGO_ENABLED=0 GOFLAGS=-mod=mod GOTOOLCHAIN=local

log() { printf '[bench-peer %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
command -v go >/dev/null || { log "go is required to build the peer (bench/peer)"; exit 1; }

# A copy in a temp dir: -mod=mod may touch go.mod/go.sum, and the checkout stays as it is.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$SRC"/go.mod "$SRC"/go.sum "$SRC"/*.go "$work/"

now() { date +%s.%N; }
since() { python3 -c "import sys; print(round(float(sys.argv[2]) - float(sys.argv[1]), 1))" "$1" "$(now)"; }

# build OUT_DIR: the binary plus its build-seconds and packages-compiled.
build() {
  local out=$1 start; start=$(now)
  (cd "$work" && go build -v -trimpath -ldflags "-s -w" -o "$out/bench-peer" . 2>"$out/build.log")
  since "$start" >"$out/build-seconds"
  grep -c . "$out/build.log" >"$out/packages-compiled" || true
  go env GOVERSION >"$out/go-version"
}

case "${1:-}" in
  --check)
    unformatted=$(gofmt -l "$SRC"/*.go)
    [ -z "$unformatted" ] || { log "not gofmt'ed: $unformatted"; exit 1; }
    (cd "$work" && go vet ./... && go test -count=1 ./...)
    log "gofmt, go vet and go test clean"
    exit 0
    ;;
  --cold)
    mkdir -p "$work/out"
    GOCACHE="$work/gocache" build "$work/out"
    log "cold build (empty Go build cache): $(cat "$work/out/build-seconds")s wall," \
      "$(cat "$work/out/packages-compiled") packages compiled"
    exit 0
    ;;
  "") ;;
  *) log "unknown option $1"; exit 2 ;;
esac

# The key: what goes into the binary (tests do not), the Go version, and this script.
sources=$(find "$SRC" -maxdepth 1 -name '*.go' ! -name '*_test.go' | sort)
# shellcheck disable=SC2086
key=$( (go env GOVERSION; cat "$SRC"/go.mod "$SRC"/go.sum $sources "$0") | sha256sum | cut -c1-16)
DIR="$CACHE_ROOT/bench-peer-$key"
mkdir -p "$CACHE_ROOT"
# One build at a time per machine (CI and a developer, or two benchmark runs, may overlap).
exec 9>"$CACHE_ROOT/.bench-peer.lock"
flock 9
if [ ! -x "$DIR/bench-peer" ]; then
  log "building the peer (module downloads + compile, sharing the Go module and build caches)"
  trap 'rm -rf "$work" "$DIR.tmp"' EXIT
  rm -rf "$DIR.tmp"; mkdir -p "$DIR.tmp"
  build "$DIR.tmp"
  rm -rf "$DIR"; mv "$DIR.tmp" "$DIR"
  log "built in $(cat "$DIR/build-seconds")s ($(cat "$DIR/packages-compiled") packages compiled): $DIR/bench-peer"
fi
echo "$DIR/bench-peer"
