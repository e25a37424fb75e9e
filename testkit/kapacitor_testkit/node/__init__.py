"""The test node: a real kubelet, containerd and kube-scheduler on this machine.

See :class:`Node` and docs/node.md. Everything it creates on the host has a fixed name
(:mod:`.layout`), so one node runs per machine at a time (:mod:`.machine_lock`) and the
next run can clean up after a crashed one (:mod:`.leftovers`).
"""

from .images import Image, ImagesNotBuiltError, NodeImages, find_images
from .leftovers import Leftovers
from .node import Node, NodeError

__all__ = [
    "Image",
    "ImagesNotBuiltError",
    "Leftovers",
    "Node",
    "NodeError",
    "NodeImages",
    "find_images",
]
