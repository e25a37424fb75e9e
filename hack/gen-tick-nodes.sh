#!/usr/bin/env bash
# Regenerate emulator/kapacitor_emulator/tick_nodes.json: the TICKscript chaining methods,
# property methods and fields of every Kapacitor pipeline object, as kapacitord v1.8.3's
# own evaluator sees them (hack/tick-nodes/main.go asks its tick.ReflectionDescriber).
#
# Needs `go` and a C compiler; modules come from the Go module proxy, as for
# hack/provision-kapacitord.sh. The pipeline package links Flux's Rust library (libflux)
# through cgo without ever calling it, so instead of building libflux (minutes of cargo),
# the program is compiled against Flux's C header only and linked with unresolved symbols
# allowed; it runs fine because no Flux code is reached.
set -euo pipefail
cd "$(dirname "$0")/.."
KAPACITOR_VERSION="${KAPACITOR_VERSION:-v1.8.3}"
out=emulator/kapacitor_emulator/tick_nodes.json
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
gomod="$(go mod download -json "github.com/influxdata/kapacitor@${KAPACITOR_VERSION}" \
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["GoMod"])')"
{
  echo "module ticknodes"
  echo
  grep -E '^go [0-9]' "$gomod"
  echo
  echo "require github.com/influxdata/kapacitor ${KAPACITOR_VERSION}"
  echo
  grep -E '^replace ' "$gomod"
} > "$work/go.mod"
cp hack/tick-nodes/main.go "$work/main.go"
cd "$work"
export GOFLAGS=-mod=mod
go mod tidy >/dev/null
flux="$(go list -m -f '{{.Dir}}' github.com/influxdata/flux)"
cat > "$work/pkg-config" <<PC
#!/bin/sh
case "\$*" in
  *--cflags*) echo "-I$flux/libflux/include" ;;
  *) echo "" ;;
esac
PC
chmod +x "$work/pkg-config"
PKG_CONFIG="$work/pkg-config" CGO_ENABLED=1 go build -o tick-nodes \
  -ldflags='-linkmode=external -extldflags=-Wl,--unresolved-symbols=ignore-all' .
cd - >/dev/null
"$work/tick-nodes" > "$out.tmp"
mv "$out.tmp" "$out"
echo "wrote $out"
