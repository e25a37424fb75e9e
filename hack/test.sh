#!/usr/bin/env bash
# The test command: installs everything it needs (virtualenv, test binaries, the test
# node's packages and images), runs the static checks, then every test suite (unit,
# emulator integration, end to end on a real cluster whose node runs Pods). CI runs
# exactly this (.ci/run), as root (the node needs it; see docs/node.md).
set -euo pipefail
cd "$(dirname "$0")/.."
start=$SECONDS
section() { printf '\n==> %s (t=%ss)\n' "$*" "$((SECONDS - start))"; }

section "python environment"
hack/bootstrap.sh

section "test binaries (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubelet, kubectl, helm)"
KAPACITOR_OPERATOR_TEST_BIN="$(hack/provision.sh | tail -n 1)"
export KAPACITOR_OPERATOR_TEST_BIN

section "real kapacitord v1.8.3 for the contract tests (cold build ~9 min, then cached)"
KAPACITORD_BIN="$(hack/provision-kapacitord.sh | tail -n 1)"
export KAPACITORD_BIN

section "test node packages (containerd, runc, CNI plugins, iptables, docker.io, debootstrap)"
hack/provision-node.sh

section "test node images (pause, busybox, Python base, the operator from the Dockerfile)"
KAPACITOR_OPERATOR_IMAGES="$(hack/build-images.sh | tail -n 1)"
export KAPACITOR_OPERATOR_IMAGES

section "static checks"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
.venv/bin/lint-imports
.venv/bin/python -m kapacitor_operator.crdgen --check
# The benchmark's Go peer: gofmt, go vet, go test (the first run type-checks client-go).
bench/peer/build.sh --check

section "tests"
.venv/bin/pytest -p no:cacheprovider "$@"
section "done"
