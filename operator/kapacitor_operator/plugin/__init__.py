"""`kubectl kapacitor`: a kubectl plugin that shows what Kapacitor itself says about the
operator's resources, and does the few things `kubectl` alone cannot (read a run's logs,
retry failed runs, validate a script before applying it).

It acts with the user's own Kubernetes rights, never the operator's: it reads objects and
Secrets with the user's kubeconfig and stops when it may not. Nothing in the operator
imports this package, and it never imports kopf (import-linter contracts).
"""
