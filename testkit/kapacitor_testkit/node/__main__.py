"""``python -m kapacitor_testkit.node``: a node-mode control plane and the node, until
SIGTERM or Ctrl-C.

For poking at the node by hand, and for the crash test, which SIGKILLs this process to
leave what a crashed run leaves. Prints ``export KUBECONFIG=...`` and then ``READY`` once
the node (and, with ``--pod``, a sleeping busybox Pod in ``default``) is up.
"""

from __future__ import annotations

import argparse
import json
import signal
import tempfile
import threading
from pathlib import Path

from ..controlplane import ControlPlane
from .node import Node


def sleeper_pod(name: str, image: str) -> dict[str, object]:
    """A Pod that sleeps for an hour (its PID 1 ignores SIGTERM, as a stuck one would)."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "terminationGracePeriodSeconds": 1,
            "containers": [
                {
                    "name": "sleep",
                    "image": image,
                    "imagePullPolicy": "Never",
                    "command": ["sleep", "3600"],
                }
            ],
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kapacitor_testkit.node", description=__doc__)
    parser.add_argument("--workdir", type=Path, default=None, help="control plane files here")
    parser.add_argument("--pod", metavar="NAME", help="also run a sleeping Pod called NAME")
    parser.add_argument(
        "--images",
        default="pause,busybox,operator",
        help="images to import (comma-separated: pause, busybox, python, operator)",
    )
    args = parser.parse_args(argv)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    parent = args.workdir or Path(tempfile.mkdtemp(prefix="kapacitor-operator-node-"))
    with (
        ControlPlane(node=True, parent_dir=parent) as cp,
        Node(cp, import_images=args.images.split(",")) as node,
    ):
        if args.pod:
            pod = sleeper_pod(args.pod, node.images.busybox.ref)
            cp.kubectl("apply", "-f", "-", input=json.dumps(pod))
            cp.kubectl("wait", "--for=condition=Ready", f"pod/{args.pod}", "--timeout=120s")
        print(f"export KUBECONFIG={cp.kubeconfig_path}", flush=True)
        print(f"node start-up seconds: {node.startup_seconds}", flush=True)
        print("READY", flush=True)
        try:
            while not stop.wait(1.0):
                pass
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
