"""The CRDs in crds/ (and the Helm chart's copy) are generated from the models and agree."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from kapacitor_operator import crdgen
from kapacitor_operator.models.resources import ALL_KINDS, KAPACITORTASK, TASKRUN

ROOT = Path(__file__).resolve().parents[2]


def test_committed_crds_match_models() -> None:
    assert crdgen.main(["--root", str(ROOT), "--check"]) == 0, (
        "crds/ is stale: run python -m kapacitor_operator.crdgen --write"
    )


def test_helm_chart_carries_the_same_crds() -> None:
    for kind in ALL_KINDS:
        name = crdgen.crd_filename(kind)
        top = (ROOT / "crds" / name).read_text()
        chart = (ROOT / "helm" / "kapacitor-operator" / "crds" / name).read_text()
        assert top == chart


def _walk(node: dict[str, Any], path: str = "") -> list[tuple[str, dict[str, Any]]]:
    out = [(path, node)]
    for key, child in (node.get("properties") or {}).items():
        out.extend(_walk(child, f"{path}.{key}"))
    if isinstance(node.get("items"), dict):
        out.extend(_walk(node["items"], f"{path}[]"))
    if isinstance(node.get("additionalProperties"), dict):
        out.extend(_walk(node["additionalProperties"], f"{path}{{}}"))
    return out


@pytest.mark.parametrize("kind", ALL_KINDS, ids=lambda k: k.kind)
def test_schema_is_structural_and_described(kind: Any) -> None:
    crd = yaml.safe_load((ROOT / "crds" / crdgen.crd_filename(kind)).read_text())
    root = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    for path, node in _walk(root["properties"]["spec"], ".spec"):
        assert "type" in node or node.get("x-kubernetes-preserve-unknown-fields"), path
        assert node.get("description") or path.endswith("[]"), f"{path} has no description"
        for banned in ("anyOf", "oneOf", "allOf", "$ref", "title"):
            assert banned not in node, f"{path} uses {banned}"
    for path, node in _walk(root["properties"]["status"], ".status"):
        assert node.get("description") or path.endswith("[]"), f"{path} has no description"


def test_every_model_field_is_in_the_schema() -> None:
    for kind in (KAPACITORTASK, TASKRUN):
        crd = crdgen.build_crd(kind)
        props = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]
        for section, model in (("spec", kind.spec_model), ("status", kind.status_model)):
            schema_fields = set(props[section]["properties"])
            model_fields = {f.alias or n for n, f in model.model_fields.items()}
            assert schema_fields == model_fields


def test_crd_names_and_columns() -> None:
    crd = crdgen.build_crd(KAPACITORTASK)
    names = crd["spec"]["names"]
    assert names["categories"] == ["kapacitor"]
    assert "ktask" in names["shortNames"]
    version = crd["spec"]["versions"][0]
    assert version["subresources"] == {"status": {}}
    assert any(c["name"] == "Ready" for c in version["additionalPrinterColumns"])
    run_cols = [
        c["name"]
        for c in crdgen.build_crd(TASKRUN)["spec"]["versions"][0]["additionalPrinterColumns"]
    ]
    assert run_cols == ["Phase", "Attempt", "Target", "EndReason", "Age"]
