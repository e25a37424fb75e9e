"""Test support: a real local Kubernetes control plane for the e2e suite.

Lives in the package (not under tests/) so hack/ scripts and the e2e conftest share one
implementation; nothing in the operator imports it at runtime.
"""

from .binaries import Binaries, MissingBinaryError, find_binaries
from .controlplane import ControlPlane
from .crds import CrdNotReadyError
from .errors import ControlPlaneError, KubectlError
from .kubeconfig import KubeEnvSnapshot, restore_kube_env, setup_kube_env

__all__ = [
    "Binaries",
    "ControlPlane",
    "ControlPlaneError",
    "CrdNotReadyError",
    "KubeEnvSnapshot",
    "KubectlError",
    "MissingBinaryError",
    "find_binaries",
    "restore_kube_env",
    "setup_kube_env",
]
