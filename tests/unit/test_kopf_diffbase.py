"""The slim diff base builds exactly kopf's essence, without copying what it drops."""

from __future__ import annotations

import copy
from typing import Any, cast

import kopf

from kapacitor_operator.kopf_diffbase import SlimStatusDiffBaseStorage, slim_body

FIELD = "status.kopf.last-handled-configuration"


def as_body(raw: dict[str, Any]) -> kopf.Body:
    return kopf.Body(cast(kopf.RawBody, raw))


def body() -> dict[str, Any]:
    return {
        "apiVersion": "kapacitor.operator.dev/v1alpha1",
        "kind": "KapacitorTask",
        "metadata": {
            "name": "t",
            "namespace": "ns",
            "uid": "u-1",
            "resourceVersion": "42",
            "generation": 3,
            "finalizers": ["kapacitor.operator.dev/finalizer"],
            "managedFields": [{"manager": "m", "fieldsV1": {"f:spec": {}}}],
            "labels": {"app": "a"},
            "annotations": {
                "kubectl.kubernetes.io/last-applied-configuration": "{}",
                "note": "kept",
                "kopf.zalando.org/last-handled-configuration": "{}",
            },
        },
        "spec": {"type": "stream", "script": "stream", "dbrps": [{"db": "d", "rp": "r"}]},
        "status": {"conditions": [{"type": "Ready"}], "kopf": {"progress": {}}},
    }


def test_same_essence_as_kopf() -> None:
    ours = SlimStatusDiffBaseStorage(field=FIELD)
    theirs = kopf.StatusDiffBaseStorage(field=FIELD)
    raw = body()
    expected = theirs.build(body=as_body(copy.deepcopy(raw)))
    assert ours.build(body=as_body(raw)) == expected
    assert ours.build(body=as_body(raw), extra_fields=set()) == expected


def test_essence_without_labels_or_annotations() -> None:
    raw = body()
    del raw["metadata"]["labels"], raw["metadata"]["annotations"]
    ours = SlimStatusDiffBaseStorage(field=FIELD).build(body=as_body(raw))
    assert ours == kopf.StatusDiffBaseStorage(field=FIELD).build(body=as_body(raw))


def test_extra_fields_get_kopfs_build() -> None:
    raw = body()
    extra = {"status.conditions"}
    ours = SlimStatusDiffBaseStorage(field=FIELD).build(body=as_body(raw), extra_fields=extra)
    theirs = kopf.StatusDiffBaseStorage(field=FIELD).build(body=as_body(raw), extra_fields=extra)
    assert ours == theirs
    assert ours["status"] == {"conditions": [{"type": "Ready"}]}


def test_the_essence_shares_nothing_with_the_body() -> None:
    raw = body()
    essence: Any = SlimStatusDiffBaseStorage(field=FIELD).build(body=as_body(raw))
    essence["spec"]["dbrps"][0]["db"] = "changed"
    essence["metadata"]["labels"]["app"] = "changed"
    assert raw["spec"]["dbrps"][0]["db"] == "d"
    assert raw["metadata"]["labels"]["app"] == "a"


def test_slim_body_drops_status_and_system_metadata() -> None:
    slim = slim_body(as_body(body()))
    assert set(slim) == {"apiVersion", "kind", "metadata", "spec"}
    assert set(slim["metadata"]) == {"labels", "annotations"}
