"""Find the etcd / kube-apiserver / kube-controller-manager / kubectl binaries.

The e2e suite must never skip because a tool is missing: a missing binary is a test
failure that says how to fix it (`hack/provision.sh`). The lookup order mirrors
controller-runtime's envtest so that a developer who already has envtest assets can
point ``KUBEBUILDER_ASSETS`` at them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

#: Directory ``hack/provision.sh`` fills with symlinks to the cached builds.
DEFAULT_BIN_DIR = Path("~/.cache/kapacitor-operator/bin-v1.35.4").expanduser()

#: Overrides every other location; a directory holding all the tools.
BIN_DIR_ENV = "KAPACITOR_OPERATOR_TEST_BIN"

#: The envtest convention; may hold only some of the tools (usually no helm).
ENVTEST_ASSETS_ENV = "KUBEBUILDER_ASSETS"

#: The tools the control plane (and its helpers) execute.
REQUIRED_TOOLS = ("etcd", "kube-apiserver", "kube-controller-manager", "kubectl")


class MissingBinaryError(RuntimeError):
    """A test tool binary could not be found in any of the searched directories."""


@dataclass(frozen=True)
class Binaries:
    """Absolute paths of the tools, resolved once per control plane."""

    etcd: Path
    kube_apiserver: Path
    kube_controller_manager: Path
    kubectl: Path

    @property
    def bin_dir(self) -> Path:
        """Directory of kube-apiserver: the one reported to tests and the CI log."""
        return self.kube_apiserver.parent


def search_dirs(env: dict[str, str] | None = None) -> list[Path]:
    """Directories searched for each tool, most specific first."""
    environ = os.environ if env is None else env
    explicit = environ.get(BIN_DIR_ENV)
    if explicit:
        # An explicit choice is final: silently falling back would test other binaries.
        return [Path(explicit).expanduser()]
    dirs: list[Path] = []
    assets = environ.get(ENVTEST_ASSETS_ENV)
    if assets:
        dirs.append(Path(assets).expanduser())
    dirs.append(DEFAULT_BIN_DIR)
    return dirs


def find_tool(name: str, dirs: list[Path]) -> Path:
    """Return the first executable ``name`` in ``dirs``.

    Raises:
        MissingBinaryError: no directory holds an executable ``name``.
    """
    for directory in dirs:
        candidate = directory / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate.absolute()
    searched = ", ".join(str(d) for d in dirs)
    raise MissingBinaryError(
        f"test binary {name!r} not found (searched: {searched}). "
        f"Run hack/provision.sh to build and cache it, or set {BIN_DIR_ENV} "
        f"(or {ENVTEST_ASSETS_ENV}) to a directory that holds it."
    )


def find_binaries(env: dict[str, str] | None = None) -> Binaries:
    """Resolve every tool the control plane needs.

    Raises:
        MissingBinaryError: one of the tools is missing.
    """
    dirs = search_dirs(env)
    return Binaries(
        etcd=find_tool("etcd", dirs),
        kube_apiserver=find_tool("kube-apiserver", dirs),
        kube_controller_manager=find_tool("kube-controller-manager", dirs),
        kubectl=find_tool("kubectl", dirs),
    )
