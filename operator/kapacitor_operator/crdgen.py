"""Generate the CustomResourceDefinitions in `crds/` from the pydantic models.

The models are the one source of truth; this module turns their JSON Schema into
Kubernetes structural OpenAPI v3 (references inlined, `Optional` unwrapped, titles
dropped, CEL rules kept). `python -m kapacitor_operator.crdgen --write` refreshes `crds/`
and the Helm chart's copy; `--check` fails when either differs from the models.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import yaml

from kapacitor_operator import GROUP, VERSION
from kapacitor_operator.models.resources import ALL_KINDS, CRDKind

_SCALARS = {"string", "integer", "number", "boolean"}
_DROP = {"title"}


class SchemaError(ValueError):
    """A model uses a construct that has no structural-schema equivalent."""


def _resolve(node: Any, defs: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        if "$ref" in node:
            target = defs[node["$ref"].rsplit("/", 1)[-1]]
            merged = {**_resolve(target, defs), **{k: v for k, v in node.items() if k != "$ref"}}
            return merged
        return {k: _resolve(v, defs) for k, v in node.items()}
    if isinstance(node, list):
        return [_resolve(v, defs) for v in node]
    return node


def _unwrap_optional(node: dict[str, Any]) -> dict[str, Any]:
    variants = node.get("anyOf")
    if variants is None:
        return node
    non_null = [v for v in variants if v.get("type") != "null"]
    if len(non_null) != 1:
        raise SchemaError(f"union types are not structural: {variants}")
    outer = {k: v for k, v in node.items() if k != "anyOf"}
    inner = dict(non_null[0])
    # Keys set on the field (description, default, CEL rules) win over the type's own.
    inner.update(outer)
    return inner


def structural(node: dict[str, Any], *, with_defaults: bool) -> dict[str, Any]:
    """Convert one resolved JSON Schema node into a structural schema node.

    Raises:
        SchemaError: the node has no structural equivalent.
    """
    node = _unwrap_optional(node)
    out: dict[str, Any] = {}
    preserve = bool(node.get("x-kubernetes-preserve-unknown-fields"))
    for key, value in node.items():
        if key in _DROP:
            continue
        if key == "default":
            if with_defaults and value is not None and node.get("type") in _SCALARS:
                out[key] = value
            continue
        if key == "const":
            out["enum"] = [value]
            continue
        if key == "properties":
            out[key] = {k: structural(v, with_defaults=with_defaults) for k, v in value.items()}
            continue
        if key == "items":
            out[key] = structural(value, with_defaults=with_defaults)
            continue
        if key == "additionalProperties":
            if isinstance(value, dict) and value and not preserve:
                out[key] = structural(value, with_defaults=with_defaults)
            continue
        out[key] = value
    if "enum" in out and "type" not in out:
        out["type"] = "string"
    if "type" not in out and not preserve:
        raise SchemaError(f"schema node without a type: {node}")
    return out


def model_schema(model: Any, *, with_defaults: bool) -> dict[str, Any]:
    """Structural schema of a pydantic model class."""
    mode = "validation" if with_defaults else "serialization"
    raw = model.model_json_schema(by_alias=True, mode=mode)
    defs = raw.pop("$defs", {})
    return structural(_resolve(raw, defs), with_defaults=with_defaults)


def build_crd(kind: CRDKind) -> dict[str, Any]:
    """The CustomResourceDefinition object for one kind."""
    spec_schema = model_schema(kind.spec_model, with_defaults=True)
    status_schema = model_schema(kind.status_model, with_defaults=False)
    root = {
        "type": "object",
        "description": kind.description,
        "required": ["spec"],
        "properties": {
            "apiVersion": {"type": "string", "description": "APIVersion of this object."},
            "kind": {"type": "string", "description": "Kind of this object."},
            "metadata": {"type": "object"},
            "spec": spec_schema,
            "status": status_schema,
        },
    }
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": kind.crd_name,
            "labels": {"app.kubernetes.io/name": "kapacitor-operator"},
        },
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": kind.kind,
                "listKind": f"{kind.kind}List",
                "plural": kind.plural,
                "singular": kind.singular,
                "shortNames": list(kind.short_names),
                "categories": ["kapacitor"],
            },
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": list(kind.printer_columns),
                    "schema": {"openAPIV3Schema": root},
                }
            ],
        },
    }


def render(kind: CRDKind) -> str:
    """YAML text of one CRD, with a header naming its generator."""
    header = "# Generated by `python -m kapacitor_operator.crdgen --write`; do not edit.\n"
    return header + yaml.safe_dump(build_crd(kind), sort_keys=False, width=100, allow_unicode=True)


def crd_filename(kind: CRDKind) -> str:
    return f"{kind.crd_name}.yaml"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="repository root")
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--write", action="store_true", help="write crds/ and the chart's copy")
    group.add_argument("--check", action="store_true", help="fail if the files are stale")
    args = parser.parse_args(argv)
    targets = [args.root / "crds", args.root / "helm" / "kapacitor-operator" / "crds"]
    stale: list[Path] = []
    for kind in ALL_KINDS:
        text = render(kind)
        for directory in targets:
            path = directory / crd_filename(kind)
            if args.write:
                directory.mkdir(parents=True, exist_ok=True)
                path.write_text(text, encoding="utf-8")
            elif not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(path)
    for path in stale:
        print(f"stale: {path} (run python -m kapacitor_operator.crdgen --write)", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    raise SystemExit(main())
