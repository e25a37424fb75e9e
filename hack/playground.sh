#!/usr/bin/env bash
# The "run it" command: a local playground with a real cluster (etcd, kube-apiserver,
# kube-controller-manager, and a node: kube-scheduler, containerd, a kubelet), a real
# kapacitord (built once by hack/provision-kapacitord.sh, then cached) fed with metrics by
# a small data writer, and the operator, with examples/ applied; Job-backed TaskRuns run
# as real Pods. `--emulator` runs the project's Kapacitor emulator instead (no kapacitord
# build). Prints how to point kubectl at it; Ctrl-C stops everything (and a crashed run is
# cleaned up by the next start). Needs root: the node makes a bridge, cgroups and mounts
# (see docs/node.md).
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "hack/playground.sh must run as root (the test node needs it)" >&2; exit 1; }
emulator=false
for arg in "$@"; do
  case "$arg" in
    --emulator) emulator=true ;;
    -h|--help) hack/bootstrap.sh && exec .venv/bin/python -m kapacitor_testkit.playground --help ;;
  esac
done
start=$SECONDS
hack/bootstrap.sh
KAPACITOR_OPERATOR_TEST_BIN="$(hack/provision.sh | tail -n 1)"
export KAPACITOR_OPERATOR_TEST_BIN
if [ "$emulator" = false ]; then
  KAPACITORD_BIN="$(hack/provision-kapacitord.sh | tail -n 1)"
  export KAPACITORD_BIN
fi
hack/provision-node.sh
# The operator runs on the host: the node needs only the sandbox and busybox images.
KAPACITOR_OPERATOR_IMAGES="$(hack/build-images.sh pause busybox | tail -n 1)"
export KAPACITOR_OPERATOR_IMAGES
echo "provisioned in $((SECONDS - start))s"
exec .venv/bin/python -m kapacitor_testkit.playground "$@"
