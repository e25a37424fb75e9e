#!/usr/bin/env bash
# Build a real kapacitord (InfluxData Kapacitor) from its published Go module, so the HTTP
# contract tests can run against the real server as well as the project's emulator.
#
# kapacitord links Flux, and Flux links `libflux`, a Rust static library, through cgo. The
# library is built by the `github.com/influxdata/pkg-config` wrapper (a pkg-config stand-in
# that runs `cargo build --release` inside the flux module's libflux/ directory). So this
# needs: go (>= the go line of kapacitor's go.mod), a C compiler, a real pkg-config on PATH
# (the wrapper delegates to it) and cargo. Crates come from crates.io.
#
# The result is cached under ~/.cache/kapacitor-operator/, keyed by version and Go version,
# so only the first run on a machine pays for the build (cold: ~8.5 min on 2 cores, ~3 min
# of it Rust and ~5 min Go; see docs/kapacitord.md).
#
# Usage: hack/provision-kapacitord.sh     # prints the kapacitord path on the last line
# Env:   KAPACITOR_VERSION (default v1.8.3), KAPACITOR_OPERATOR_CACHE (cache root),
#        KAPACITORD_RUST_TOOLCHAIN (rustup toolchain for libflux, default "stable").
#
# Workarounds (each is explained where it is applied, and in docs/kapacitord.md):
#  W1 wrapper module: kapacitor's go.mod has replace directives, so `go install ...@v1.8.3`
#     is refused; build from a throw-away module that requires kapacitor and copies them.
#  W2 flux is replaced by a writable copy of its module, so cargo can build in place and
#     the copy can be adjusted (W3) without touching the module cache, and the wrapper
#     does not make (and forever reuse) its own copy under $GOCACHE/pkgconfig/.
#  W3 flux v0.191.0 pins Rust 1.63 in rust-toolchain.toml, which cannot be downloaded
#     here: the pin is removed from the copy and the installed stable toolchain is used.
#  W4 libflux's crates say `#![deny(warnings)]`; lints that did not exist in Rust 1.63
#     (mismatched_lifetime_syntaxes, newer dead_code analysis) turn into hard errors on a
#     new rustc. Lints are capped to warnings for the workspace crates through a
#     RUSTC_WORKSPACE_WRAPPER (RUSTFLAGS would not reach the build-script copy of flux-core,
#     because with `--target` cargo does not apply RUSTFLAGS to host artifacts).
set -euo pipefail

KAPACITOR_VERSION="${KAPACITOR_VERSION:-v1.8.3}"
RUST_TOOLCHAIN="${KAPACITORD_RUST_TOOLCHAIN:-stable}"

CACHE_ROOT="${KAPACITOR_OPERATOR_CACHE:-$HOME/.cache/kapacitor-operator}"
GO_VERSION="$(go env GOVERSION 2>/dev/null || echo nogo)"
OUT_DIR="$CACHE_ROOT/kapacitord-$KAPACITOR_VERSION-$GO_VERSION"
# Kept after a failed build so that a re-run resumes (cargo and go are incremental);
# removed after a successful one.
WORK="$OUT_DIR.work"

log() { printf '[provision-kapacitord %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() {
  log "ERROR: $*"
  if [ -d "$WORK" ]; then
    log "kapacitord $KAPACITOR_VERSION was NOT built (work dir kept for a re-run: $WORK)"
  else
    log "kapacitord $KAPACITOR_VERSION was NOT built"
  fi
  exit 1
}
timed() {
  local label=$1; shift
  local start=$SECONDS
  "$@"
  log "$label took $((SECONDS - start))s"
}

check_tools() {
  command -v go >/dev/null || die "go is required (kapacitor $KAPACITOR_VERSION needs the go version in its go.mod)"
  command -v cargo >/dev/null || die "cargo (Rust) is required: Flux links the Rust static library libflux"
  command -v cc >/dev/null || command -v gcc >/dev/null || die "a C compiler (cc/gcc) is required: Flux uses cgo"
  command -v pkg-config >/dev/null \
    || die "a real pkg-config is required on PATH: the influxdata pkg-config wrapper delegates to it"
  command -v python3 >/dev/null || die "python3 is required (to read 'go mod download -json')"
}

# go mod download -json FIELD... for one module@version, printed one per line.
modinfo() {
  local mod=$1; shift
  (cd "$WORK/mod" && GOFLAGS=-mod=mod GOTOOLCHAIN=local go mod download -json "$mod") \
    | python3 -c 'import json,sys; d=json.load(sys.stdin); [print(d.get(k, "")) for k in sys.argv[1:]]' "$@"
}

setup_module() {
  mkdir -p "$WORK/mod" "$WORK/bin" "$WORK/src"
  # A go.mod is needed for `go mod download` to run in module mode; it is rewritten below.
  [ -f "$WORK/mod/go.mod" ] || printf 'module kapacitor-operator.test/kapacitord\n' >"$WORK/mod/go.mod"

  local kinfo gomod info_file
  kinfo=$(modinfo "github.com/influxdata/kapacitor@$KAPACITOR_VERSION" GoMod Info) \
    || die "cannot download github.com/influxdata/kapacitor@$KAPACITOR_VERSION"
  gomod=$(sed -n 1p <<<"$kinfo"); info_file=$(sed -n 2p <<<"$kinfo")
  KAPACITOR_COMMIT=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("Origin", {}).get("Hash", "unknown"))' \
    "$info_file" 2>/dev/null || echo unknown)

  FLUX_VERSION=$(awk '$1 == "github.com/influxdata/flux" {print $2; exit}' "$gomod")
  local pkgconfig_version
  pkgconfig_version=$(awk '$1 == "github.com/influxdata/pkg-config" {print $2; exit}' "$gomod")
  [ -n "$FLUX_VERSION" ] || die "no github.com/influxdata/flux requirement in kapacitor's go.mod"
  [ -n "$pkgconfig_version" ] || die "no github.com/influxdata/pkg-config requirement in kapacitor's go.mod"

  # W2: a writable copy of the flux module. The directory is named like a module-cache
  # entry (github.com/influxdata/flux@vX.Y.Z) because the pkg-config wrapper reads the Flux
  # version from that path. (The wrapper's own fallback would copy the read-only module to
  # $GOCACHE/pkgconfig/ and reuse that copy forever, even a half-written one.)
  FLUX_SRC="$WORK/src/github.com/influxdata/flux@$FLUX_VERSION"
  if [ ! -f "$FLUX_SRC/.copied" ]; then
    local flux_dir
    flux_dir=$(modinfo "github.com/influxdata/flux@$FLUX_VERSION" Dir) || die "cannot download flux $FLUX_VERSION"
    rm -rf "$FLUX_SRC"
    mkdir -p "$(dirname "$FLUX_SRC")"
    cp -r "$flux_dir" "$FLUX_SRC"
    chmod -R u+w "$FLUX_SRC"
    # W3: flux pins `channel = "1.63"` (+ cross targets) in rust-toolchain.toml; rustup
    # would try to download that toolchain, and only registries are reachable. Drop the
    # pin; RUSTUP_TOOLCHAIN below selects the installed toolchain explicitly as well.
    rm -f "$FLUX_SRC/rust-toolchain.toml" "$FLUX_SRC/rust-toolchain"
    touch "$FLUX_SRC/.copied"
  fi

  # W1: wrapper module. kapacitor's go.mod carries replace directives, which `go install
  # pkg@version` refuses; a main module that requires kapacitor at the tag and copies the
  # replaces builds the same dependency graph (kapacitor's own requirements win by MVS).
  # flux and pkg-config are required directly: the pkg-config wrapper looks for flux in
  # the main module's go.mod (require/replace).
  {
    echo "module kapacitor-operator.test/kapacitord"
    echo
    grep -E '^go [0-9]' "$gomod"
    echo
    echo "require ("
    echo "	github.com/influxdata/kapacitor $KAPACITOR_VERSION"
    echo "	github.com/influxdata/flux $FLUX_VERSION"
    echo "	github.com/influxdata/pkg-config $pkgconfig_version"
    echo ")"
    echo
    grep -E '^replace ' "$gomod" || true
    # W2: build flux (Go and Rust) from the writable copy.
    echo "replace github.com/influxdata/flux => $FLUX_SRC"
  } >"$WORK/mod/go.mod"
  printf 'package tools\n' >"$WORK/mod/tools.go"
  (cd "$WORK/mod" && GOFLAGS=-mod=mod GOTOOLCHAIN=local \
    go get "github.com/influxdata/kapacitor/cmd/kapacitord@$KAPACITOR_VERSION" \
      "github.com/influxdata/pkg-config@$pkgconfig_version") \
    || die "resolving the kapacitor $KAPACITOR_VERSION module graph failed (see above)"

  # The pkg-config wrapper, pointed at by PKG_CONFIG (kapacitor's pkg-config.sh does the same).
  (cd "$WORK/mod" && GOFLAGS=-mod=mod GOTOOLCHAIN=local CGO_ENABLED=0 \
    go build -o "$WORK/bin/pkg-config" github.com/influxdata/pkg-config) \
    || die "building the github.com/influxdata/pkg-config wrapper failed"

  # W4: cap lints for the libflux workspace crates only (see the header).
  cat >"$WORK/bin/rustc-cap-lints" <<'EOF'
#!/bin/sh
# RUSTC_WORKSPACE_WRAPPER: "$1" is rustc. libflux says #![deny(warnings)] and new rustc
# versions added lints, so cap them to warnings (hack/provision-kapacitord.sh, W4).
exec "$@" --cap-lints warn
EOF
  chmod +x "$WORK/bin/rustc-cap-lints"
}

# Environment for both the explicit cargo build and the one the pkg-config wrapper runs.
export_build_env() {
  export PKG_CONFIG="$WORK/bin/pkg-config"
  export PKG_CONFIG_LOG="$WORK/pkg-config.log"
  export RUSTC_WORKSPACE_WRAPPER="$WORK/bin/rustc-cap-lints"
  export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"
  # W3: select the installed toolchain even if a rust-toolchain file were found upward.
  if command -v rustup >/dev/null; then export RUSTUP_TOOLCHAIN="$RUST_TOOLCHAIN"; fi
  export CGO_ENABLED=1
}

# Same triple the pkg-config wrapper passes to `cargo build --target` (dynamic glibc build).
cargo_target() {
  case "$(go env GOOS)/$(go env GOARCH)" in
    linux/amd64) echo x86_64-unknown-linux-gnu ;;
    linux/arm64) echo aarch64-unknown-linux-gnu ;;
    *) echo "" ;;
  esac
}

# Build libflux up front, exactly as the pkg-config wrapper will (it then finds it up to
# date), so a Rust failure is reported here with cargo's own output rather than through
# the wrapper's log inside a cgo error.
build_libflux() {
  local target; target=$(cargo_target)
  if [ -z "$target" ]; then
    log "no known cargo target for $(go env GOOS)/$(go env GOARCH); leaving libflux to the pkg-config wrapper"
    return 0
  fi
  log "building libflux (Rust, flux $FLUX_VERSION) with $(rustc --version 2>/dev/null || echo 'unknown rustc')"
  if ! (cd "$FLUX_SRC/libflux" && cargo build --release --target "$target") >"$WORK/cargo.log" 2>&1; then
    grep -E '^error' -A12 "$WORK/cargo.log" | head -80 >&2 || true
    tail -n 20 "$WORK/cargo.log" >&2
    die "cargo build of libflux failed (full log: $WORK/cargo.log)"
  fi
}

build_kapacitord() {
  log "building kapacitord $KAPACITOR_VERSION (go build, cgo)"
  rm -rf "$OUT_DIR.tmp"; mkdir -p "$OUT_DIR.tmp"
  # -X main.version sets the X-Kapacitor-Version header (empty on a plain go build).
  local ldflags="-s -w -X main.version=${KAPACITOR_VERSION#v} -X main.commit=$KAPACITOR_COMMIT -X main.branch=HEAD"
  if ! (cd "$WORK/mod" && GOFLAGS=-mod=mod GOTOOLCHAIN=local \
      go build -p 2 -trimpath -ldflags "$ldflags" -o "$OUT_DIR.tmp/kapacitord" \
        github.com/influxdata/kapacitor/cmd/kapacitord); then
    [ -f "$PKG_CONFIG_LOG" ] && tail -n 20 "$PKG_CONFIG_LOG" >&2
    die "go build of kapacitord failed (see above; pkg-config wrapper log: $PKG_CONFIG_LOG)"
  fi
  local v
  v=$("$OUT_DIR.tmp/kapacitord" version 2>&1) || die "the built kapacitord does not run: $v"
  case "$v" in
    *"version ${KAPACITOR_VERSION#v} "*) log "built: $v" ;;
    *) die "unexpected 'kapacitord version' output: $v" ;;
  esac
  rm -rf "$OUT_DIR"; mv "$OUT_DIR.tmp" "$OUT_DIR"
  printf '%s %s flux=%s rustc=%s\n' "$KAPACITOR_VERSION" "$GO_VERSION" "$FLUX_VERSION" \
    "$(rustc --version 2>/dev/null | awk '{print $2}')" >"$OUT_DIR/.stamp"
}

main() {
  mkdir -p "$CACHE_ROOT"
  # One kapacitord provisioning at a time per machine. A lock file of its own, not
  # provision.sh's, so that either script may call the other without deadlocking.
  exec 9>"$CACHE_ROOT/.provision-kapacitord.lock"
  flock 9
  if [ ! -f "$OUT_DIR/.stamp" ] || [ ! -x "$OUT_DIR/kapacitord" ]; then
    check_tools
    local start=$SECONDS
    log "kapacitord $KAPACITOR_VERSION not cached: building (cold: several minutes on 2 cores)"
    timed "module setup" setup_module
    export_build_env
    timed "libflux (cargo)" build_libflux
    timed "kapacitord (go build)" build_kapacitord
    rm -rf "$WORK"
    log "total build took $((SECONDS - start))s"
  fi
  log "kapacitord: $("$OUT_DIR/kapacitord" version 2>&1 | head -1)"
  echo "$OUT_DIR/kapacitord"
}

main "$@"
