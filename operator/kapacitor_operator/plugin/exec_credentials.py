"""kubeconfig `exec` credential plugins (EKS, GKE, OIDC via kubelogin...), run as kubectl
runs them.

The operator refuses them (it runs in-cluster and never starts other programs), but a
kubectl plugin on a user's machine must work with the user's kubeconfig as it is, so
here the plugin's command runs once per invocation: `KUBERNETES_EXEC_INFO` in its
environment, the user's terminal on stdin/stderr for prompts, an `ExecCredential` JSON
document on stdout with a token or a client certificate.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from kapacitor_operator.k8s.credentials import CredentialsError, ExecResult

API_VERSIONS = ("client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1")
TIMEOUT = 120.0


def _command(block: dict[str, Any], directory: Path) -> str:
    command = str(block.get("command") or "")
    if not command:
        raise CredentialsError("the kubeconfig user's exec block has no command")
    if os.sep in command and not os.path.isabs(command):
        return str(directory / command)  # relative to the kubeconfig, as client-go does
    return command


def _exec_info(block: dict[str, Any], cluster: dict[str, Any], interactive: bool) -> str:
    spec: dict[str, Any] = {"interactive": interactive}
    if block.get("provideClusterInfo"):
        keys = ("server", "certificate-authority-data", "insecure-skip-tls-verify")
        info = {k: cluster[k] for k in keys if k in cluster}
        if cluster.get("tls-server-name"):
            info["tls-server-name"] = cluster["tls-server-name"]
        spec["cluster"] = info
    doc = {"apiVersion": block.get("apiVersion"), "kind": "ExecCredential", "spec": spec}
    return json.dumps(doc)


def run_exec(block: dict[str, Any], directory: Path, cluster: dict[str, Any]) -> ExecResult:
    """Run the exec plugin and read its credential.

    Raises:
        CredentialsError: unknown apiVersion, the command is missing or fails, or its
            output is not an ExecCredential with a token or a client certificate. The
            message never holds the credential.
    """
    api_version = block.get("apiVersion")
    if api_version not in API_VERSIONS:
        raise CredentialsError(f"exec plugin apiVersion {api_version!r} is not supported")
    command = _command(block, directory)
    interactive = block.get("interactiveMode") != "Never" and sys.stdin.isatty()
    env = dict(os.environ)
    env.update({str(e.get("name")): str(e.get("value", "")) for e in block.get("env") or []})
    env["KUBERNETES_EXEC_INFO"] = _exec_info(block, cluster, interactive)
    argv = [command, *(str(a) for a in block.get("args") or [])]
    try:
        done = subprocess.run(
            argv,
            env=env,
            stdin=None if interactive else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=None,  # prompts and errors go to the user's terminal
            timeout=TIMEOUT,
            check=False,
        )
    except FileNotFoundError as exc:
        hint = block.get("installHint")
        raise CredentialsError(
            f"exec plugin {command!r} not found" + (f": {hint}" if hint else "")
        ) from exc
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise CredentialsError(f"exec plugin {command!r} failed: {type(exc).__name__}") from exc
    if done.returncode != 0:
        raise CredentialsError(f"exec plugin {command!r} exited with code {done.returncode}")
    return _parse(done.stdout, command, str(api_version))


def _parse(output: bytes, command: str, api_version: str) -> ExecResult:
    try:
        doc = json.loads(output)
    except ValueError as exc:
        raise CredentialsError(f"exec plugin {command!r} printed no ExecCredential") from exc
    if not isinstance(doc, dict) or doc.get("kind") != "ExecCredential":
        raise CredentialsError(f"exec plugin {command!r} printed no ExecCredential")
    if doc.get("apiVersion") != api_version:
        raise CredentialsError(
            f"exec plugin {command!r} answered {doc.get('apiVersion')!r}, not {api_version!r}"
        )
    status = doc.get("status") or {}
    token = status.get("token") or None
    cert, key = status.get("clientCertificateData"), status.get("clientKeyData")
    if not token and not (cert and key):
        raise CredentialsError(
            f"exec plugin {command!r} returned neither a token nor a client certificate"
        )
    return ExecResult(token=token, client_cert_data=cert or None, client_key_data=key or None)
