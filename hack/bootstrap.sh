#!/usr/bin/env bash
# Create (or reuse) the project virtualenv in .venv and install, editable, the operator
# (with its test extras) and the two packages that never ship with it: the Kapacitor
# emulator (emulator/) and the test kit (testkit/). pip's download cache lives under
# ~/.cache/pip, so reruns are quick.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.installed-$(cat pyproject.toml emulator/pyproject.toml testkit/pyproject.toml | sha256sum | cut -c1-16)
if [ ! -f "$stamp" ]; then
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e '.[test,bench]' -e ./emulator -e ./testkit
  # No longer a dependency (issue 14), but kopf imports it whenever it is installed, which
  # costs tens of MiB: drop it from virtualenvs made before.
  .venv/bin/python -m pip uninstall --quiet --yes kubernetes 2>/dev/null || true
  rm -f .venv/.installed-*
  touch "$stamp"
fi
