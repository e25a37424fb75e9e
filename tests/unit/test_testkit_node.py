"""The test node's pieces that need no root and no cluster: the machine lock, the image
manifest lookup, the Pod network's routes."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from kapacitor_testkit.node import containerd, layout
from kapacitor_testkit.node.images import ImagesNotBuiltError, find_images
from kapacitor_testkit.node.machine_lock import MachineBusyError, MachineLock

HOLD = """
import sys, time
from pathlib import Path
from kapacitor_testkit.node.machine_lock import MachineLock
lock = MachineLock(Path(sys.argv[1]))
lock.acquire(timeout=5)
print("held", flush=True)
time.sleep(float(sys.argv[2]))
"""


def hold_lock(path: Path, seconds: float) -> subprocess.Popen[str]:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(path), str(seconds)], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None
    assert holder.stdout.readline() == "held\n"
    return holder


def test_a_second_run_waits_for_the_lock_and_says_who_holds_it(tmp_path: Path) -> None:
    path = tmp_path / "node.lock"
    holder = hold_lock(path, 1.0)
    told: list[str] = []
    began = time.monotonic()
    lock = MachineLock(path)
    try:
        lock.acquire(timeout=30, notify=told.append, poll=0.05)
        waited = time.monotonic() - began
    finally:
        lock.release()
        holder.wait()
    assert waited > 0.5
    assert f'"pid": {holder.pid}' in told[0]
    assert "waiting" in told[0]


def test_the_lock_is_free_once_its_holder_is_killed(tmp_path: Path) -> None:
    path = tmp_path / "node.lock"
    holder = hold_lock(path, 60.0)
    holder.kill()
    holder.wait()
    lock = MachineLock(path)
    lock.acquire(timeout=1, notify=pytest.fail)
    assert lock.held
    lock.release()


def test_waiting_too_long_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "node.lock"
    holder = hold_lock(path, 5.0)
    try:
        with pytest.raises(MachineBusyError, match="still in use"):
            MachineLock(path).acquire(timeout=0.3, notify=lambda _: None, poll=0.05)
    finally:
        holder.kill()
        holder.wait()


def write_manifest(root: Path, name: str, images: dict[str, str]) -> Path:
    (root / "images").mkdir(parents=True, exist_ok=True)
    doc: dict[str, Any] = {"images": {}}
    for image, ref in images.items():
        archive = root / "images" / f"{image}.tar"
        archive.write_bytes(b"")
        doc["images"][image] = {"ref": ref, "archive": str(archive), "size": 1}
    path = root / "images" / f"manifest-{name}.json"
    path.write_text(json.dumps(doc))
    return path


def test_without_the_variable_the_newest_manifest_with_the_needed_images_is_used(
    tmp_path: Path,
) -> None:
    full = write_manifest(tmp_path, "full", {"pause": "p:1", "operator": "o:1"})
    time.sleep(0.01)
    write_manifest(tmp_path, "small", {"pause": "p:2"})
    env = {"KAPACITOR_OPERATOR_CACHE": str(tmp_path)}

    assert find_images(env, need=["pause"]).pause.ref == "p:2"
    images = find_images(env, need=["pause", "operator"])
    assert (images.manifest, images.operator.ref) == (full, "o:1")
    with pytest.raises(ImagesNotBuiltError, match=r"hack/build-images\.sh"):
        find_images(env, need=["busybox"])
    with pytest.raises(ImagesNotBuiltError, match="has no 'busybox' image"):
        _ = find_images({"KAPACITOR_OPERATOR_IMAGES": str(full)}).busybox


def test_pods_get_no_default_route_only_the_cluster_ip() -> None:
    (plugin,) = json.loads(containerd.render_cni_config())["plugins"]
    assert plugin["isDefaultGateway"] is False
    assert plugin["ipMasq"] is False
    assert plugin["ipam"]["routes"] == [{"dst": f"{layout.CLUSTER_IP}/32", "gw": layout.NODE_IP}]
