#!/usr/bin/env bash
# The "run it" command: a local playground with a real control plane (etcd +
# kube-apiserver + kube-controller-manager), the Kapacitor emulator and the operator, with
# examples/ applied. Prints how to point kubectl at it; Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
hack/bootstrap.sh
KAPACITOR_OPERATOR_TEST_BIN="$(hack/provision.sh | tail -n 1)"
export KAPACITOR_OPERATOR_TEST_BIN
exec .venv/bin/python -m kapacitor_testkit.playground "$@"
