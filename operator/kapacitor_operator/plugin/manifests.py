"""Reading `-f FILE` as kubectl does: YAML or JSON, several documents, `List` objects,
`-` for stdin and directories (their .yaml, .yml and .json files)."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from kapacitor_operator import GROUP
from kapacitor_operator.plugin.errors import PluginError

SUFFIXES = (".yaml", ".yml", ".json")


@dataclass(frozen=True)
class Manifest:
    source: str
    body: dict[str, Any]

    @property
    def kind(self) -> str:
        return str(self.body.get("kind") or "")

    @property
    def is_kapacitortask(self) -> bool:
        api_version = str(self.body.get("apiVersion") or "")
        return self.kind == "KapacitorTask" and api_version.split("/")[0] == GROUP

    def describe(self) -> str:
        name = (self.body.get("metadata") or {}).get("name") or "<unnamed>"
        return f"{self.kind or '<no kind>'}/{name}"


def _files(path: str) -> list[Path]:
    p = Path(path)
    if p.is_dir():
        return sorted(f for f in p.iterdir() if f.is_file() and f.suffix in SUFFIXES)
    if not p.exists():
        raise PluginError(f'the path "{path}" does not exist')
    return [p]


def _documents(text: str, source: str) -> list[Manifest]:
    try:
        docs = list(yaml.safe_load_all(text))
    except yaml.YAMLError as exc:
        raise PluginError(f"error parsing {source}: {str(exc).splitlines()[0]}") from exc
    out: list[Manifest] = []
    for doc in docs:
        if doc is None:
            continue
        if not isinstance(doc, dict):
            raise PluginError(f"error parsing {source}: a document is not an object")
        if doc.get("kind") == "List" or str(doc.get("kind", "")).endswith("List"):
            out.extend(
                Manifest(source, item) for item in doc.get("items") or [] if isinstance(item, dict)
            )
        else:
            out.append(Manifest(source, doc))
    return out


def read_manifests(paths: list[str]) -> list[Manifest]:
    """Every object in the files, in order.

    Raises:
        PluginError: a path does not exist or a file does not parse.
    """
    out: list[Manifest] = []
    for path in paths:
        if path == "-":
            out.extend(_documents(sys.stdin.read(), "<stdin>"))
            continue
        for file in _files(path):
            try:
                text = file.read_text()
            except (OSError, UnicodeDecodeError) as exc:
                raise PluginError(f"cannot read {file}: {exc}") from exc
            out.extend(_documents(text, str(file)))
    return out
