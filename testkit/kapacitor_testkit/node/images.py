"""The container images of the test node, as built by ``hack/build-images.sh``.

No registry is reachable, so the node imports every image it will run from a tarball.
The build script writes a JSON manifest (image reference, tarball, size per image) and
prints its path; ``hack/test.sh`` exports it as ``KAPACITOR_OPERATOR_IMAGES``. Without
the variable the newest manifest in the cache with the images needed is used, which may
describe an operator image built from another checkout: fine for trying things, and
hack/test.sh always sets it. A missing manifest is an error naming the script, never a
reason to skip.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

#: Path of the manifest printed by hack/build-images.sh; an explicit choice is final.
IMAGES_ENV = "KAPACITOR_OPERATOR_IMAGES"
CACHE_ENV = "KAPACITOR_OPERATOR_CACHE"
DEFAULT_CACHE_ROOT = Path("~/.cache/kapacitor-operator")
BUILD_HINT = (
    "run hack/provision-node.sh and hack/build-images.sh (as root) and export "
    f"{IMAGES_ENV}=<the manifest path it prints>"
)


class ImagesNotBuiltError(RuntimeError):
    """No image manifest, or one naming a tarball that is gone."""


@dataclass(frozen=True)
class Image:
    """One image: what Pods name it, and the tarball the node imports it from."""

    ref: str
    archive: Path
    size: int


@dataclass(frozen=True)
class NodeImages:
    """The images of one manifest; the build may have made only some of them
    (``hack/build-images.sh pause busybox`` for the playground)."""

    by_name: dict[str, Image]
    manifest: Path

    def get(self, name: str) -> Image:
        """The image called ``name``.

        Raises:
            ImagesNotBuiltError: the manifest has no such image.
        """
        image = self.by_name.get(name)
        if image is None:
            raise ImagesNotBuiltError(
                f"{self.manifest} has no {name!r} image (it has {sorted(self.by_name)}); "
                f"{BUILD_HINT}"
            )
        return image

    @property
    def pause(self) -> Image:
        """The sandbox image (hack/images/pause.c)."""
        return self.get("pause")

    @property
    def busybox(self) -> Image:
        """For test Pods: sh, echo, sleep, head, tail, cat, nc, httpd (hack/build-images.sh)."""
        return self.get("busybox")

    @property
    def python(self) -> Image:
        """The Debian Python base the operator image is built on."""
        return self.get("python")

    @property
    def operator(self) -> Image:
        """The operator, built from the repository's Dockerfile."""
        return self.get("operator")


def _image(entry: object, manifest: Path) -> Image:
    if not isinstance(entry, dict):
        raise ImagesNotBuiltError(f"{manifest}: malformed entry {entry!r}; {BUILD_HINT}")
    archive = Path(str(entry["archive"]))
    if not archive.is_file():
        raise ImagesNotBuiltError(f"{manifest}: {archive} is missing; {BUILD_HINT}")
    return Image(ref=str(entry["ref"]), archive=archive, size=int(str(entry["size"])))


def _names(manifest: Path) -> set[str]:
    try:
        return set(json.loads(manifest.read_text())["images"])
    except (OSError, ValueError, KeyError):
        return set()


def _manifest_path(environ: Mapping[str, str], need: Iterable[str]) -> Path:
    explicit = environ.get(IMAGES_ENV)
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise ImagesNotBuiltError(f"${IMAGES_ENV}={explicit!r} is not a file; {BUILD_HINT}")
        return path
    root = Path(environ.get(CACHE_ENV) or DEFAULT_CACHE_ROOT).expanduser() / "images"
    wanted = set(need)
    manifests = [m for m in root.glob("manifest-*.json") if wanted <= _names(m)]
    if not manifests:
        raise ImagesNotBuiltError(
            f"no image manifest with {sorted(wanted)} in {root}; {BUILD_HINT}"
        )
    return max(manifests, key=lambda p: p.stat().st_mtime)


def find_images(env: Mapping[str, str] | None = None, need: Iterable[str] = ()) -> NodeImages:
    """Read the image manifest: ``$KAPACITOR_OPERATOR_IMAGES``, or else the newest one in
    the cache that has every image in ``need``.

    Raises:
        ImagesNotBuiltError: no manifest, or a tarball it names is gone.
    """
    manifest = _manifest_path(os.environ if env is None else env, need)
    doc = json.loads(manifest.read_text())["images"]
    return NodeImages({name: _image(entry, manifest) for name, entry in doc.items()}, manifest)
