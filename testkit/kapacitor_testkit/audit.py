"""Node mode's audit log: who (which ServiceAccount) wrote what.

The e2e suite installs the operator as a Pod and must show that it acts with its own
ServiceAccount token (in-cluster config), not some other credential; the apiserver's
audit log says so directly. Only writes by identities other than ``admin`` (the tests,
kube-controller-manager and kube-scheduler) and the kubelet are recorded, so the log
stays small: in practice, ServiceAccounts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

#: Writes by anyone but the admin identity and the kubelet, at Metadata level.
AUDIT_POLICY = {
    "apiVersion": "audit.k8s.io/v1",
    "kind": "Policy",
    "omitStages": ["RequestReceived"],
    "rules": [
        {"level": "None", "users": ["admin"]},
        {"level": "None", "userGroups": ["system:nodes"]},
        {"level": "Metadata", "verbs": ["create", "update", "patch", "delete", "deletecollection"]},
        {"level": "None"},
    ],
}


@dataclass(frozen=True)
class AuditFiles:
    """Node mode: the audit policy (AUDIT_POLICY as a file) and the log it writes."""

    policy: Path
    log: Path


def write_policy(directory: Path) -> AuditFiles:
    """Write AUDIT_POLICY into ``directory``; return it with the log path beside it."""
    files = AuditFiles(policy=directory / "audit-policy.yaml", log=directory / "audit.log")
    files.policy.write_text(yaml.safe_dump(AUDIT_POLICY, sort_keys=False))
    return files


def read_events(log: Path) -> list[dict[str, Any]]:
    """The events in an audit log (one JSON object per line); none if it does not exist."""
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
