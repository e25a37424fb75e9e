#!/usr/bin/env bash
# The "run it" command: a local playground with a real cluster (etcd, kube-apiserver,
# kube-controller-manager, and a node: kube-scheduler, containerd, a kubelet), the
# Kapacitor emulator and the operator, with examples/ applied; Job-backed TaskRuns run
# as real Pods. Prints how to point kubectl at it; Ctrl-C stops everything (and a crashed
# run is cleaned up by the next start). Needs root: the node makes a bridge, cgroups and
# mounts (see docs/node.md).
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "hack/playground.sh must run as root (the test node needs it)" >&2; exit 1; }
hack/bootstrap.sh
KAPACITOR_OPERATOR_TEST_BIN="$(hack/provision.sh | tail -n 1)"
export KAPACITOR_OPERATOR_TEST_BIN
hack/provision-node.sh
# The operator runs on the host: the node needs only the sandbox and busybox images.
KAPACITOR_OPERATOR_IMAGES="$(hack/build-images.sh pause busybox | tail -n 1)"
export KAPACITOR_OPERATOR_IMAGES
exec .venv/bin/python -m kapacitor_testkit.playground "$@"
