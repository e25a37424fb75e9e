"""What a node-mode control plane occupies on the machine, taken and given back whole.

Node mode uses fixed addresses (the ClusterIP on ``lo``, port 443) and shares the machine
with the node's fixed names, so claiming the machine is: be root, take the machine lock
(waiting for another run), clean up whatever a crashed run left, put the ClusterIP on
``lo``. Releasing is the reverse, and cleans up once more in case the node's own stop
never ran (an exception between the two starts, say).
"""

from __future__ import annotations

import os
from collections.abc import Callable

from ..errors import ControlPlaneError
from . import hostnet, layout, leftovers
from .machine_lock import DEFAULT_TIMEOUT, MachineLock


class MachineClaim:
    """The machine lock plus the ClusterIP, for one node-mode control plane."""

    def __init__(self, notify: Callable[[str], None]) -> None:
        self.notify = notify
        self.lock = MachineLock()

    @property
    def held(self) -> bool:
        """Whether this claim holds the machine."""
        return self.lock.held

    def take(self, timeout: float = DEFAULT_TIMEOUT) -> None:
        """Lock the machine, clean up after a crashed run, put the ClusterIP on ``lo``.

        Raises:
            ControlPlaneError: not root (addresses, bridges, cgroups and mounts need it).
            MachineBusyError: another node-mode run held the machine too long.
        """
        if os.geteuid() != 0:
            raise ControlPlaneError(
                "node mode needs root: it puts the ClusterIP on lo, and the node makes a "
                "bridge, cgroups and mounts (see docs/node.md)"
            )
        self.lock.acquire(timeout=timeout, notify=self.notify)
        leftovers.clean(log=self.notify)
        hostnet.add_lo_address(layout.CLUSTER_IP)

    def give_back(self) -> None:
        """Remove the ClusterIP and anything a node left; release the lock."""
        if not self.lock.held:
            return
        hostnet.remove_lo_address(layout.CLUSTER_IP)
        leftovers.clean(log=self.notify)
        self.lock.release()
