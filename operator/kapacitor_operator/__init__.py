"""kapacitor-operator: manage Kapacitor tasks and runs as Kubernetes resources."""

__version__ = "0.1.0"

GROUP = "kapacitor.operator.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
