"""The sync controller: its work queue, claims, status patches, and one object's life
(finalizer, status over the read version, retries, deletion) with a stand-in kind."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from kapacitor_operator.k8s.errors import KubeConflict
from kapacitor_operator.reconcile.outcome import EventNote, Outcome
from kapacitor_operator.sync.claims import ClaimKey, Claims
from kapacitor_operator.sync.controller import Finalized, SyncController, settled
from kapacitor_operator.sync.queue import WorkQueue
from kapacitor_operator.sync.status_patch import status_patch
from tests.unit.fake_kube import FakeKube

NS = "ns"
FINALIZER = "kapacitor.operator.dev/finalizer"


async def until(check: Callable[[], Any], limit: float = 5.0) -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while not (result := check()):
        assert loop.time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)
    return result


# --- queue, claims, patches ----------------------------------------------------------------


async def test_the_queue_merges_repeated_keys_and_reworks_a_key_added_while_active() -> None:
    queue: WorkQueue[str] = WorkQueue()
    for key in ("a", "b", "a"):
        queue.add(key)
    assert await queue.get() == "a"
    queue.add("a")  # while a is worked on
    assert await queue.get() == "b"
    queue.done("a")
    assert await queue.get() == "a"
    queue.done("a")
    queue.done("b")
    assert queue.idle


async def test_delayed_keys_come_due_in_time_order() -> None:
    queue: WorkQueue[str] = WorkQueue()
    queue.add_after("late", 0.2)
    queue.add_after("soon", 0.05)
    queue.add_after("late", 1.0)  # a later time never postpones an earlier one
    assert await asyncio.wait_for(queue.get(), 1) == "soon"
    assert await asyncio.wait_for(queue.get(), 1) == "late"
    queue.forget("x")
    queue.close()
    assert await queue.get() is None


def test_the_oldest_claimant_holds_a_claim() -> None:
    claims = Claims()
    claim: ClaimKey = ("http://k", "tick", "t")
    claims.hold(("b", "young"), claim, "2026-01-02T00:00:00Z")
    claims.hold(("a", "old"), claim, "2026-01-01T00:00:00Z")
    assert claims.holder(claim) == ("a", "old")
    claims.release(("a", "old"))
    assert claims.holder(claim) == ("b", "young")
    claims.hold(("b", "young"), ("http://k", "tick", "other"), "2026-01-02T00:00:00Z")
    assert claims.holder(claim) is None
    assert claims.claimed("http://k", "tick") == {"other"}


def test_status_patches_carry_only_what_changed() -> None:
    current = {"a": 1, "lastSyncedAt": "t0", "gone": 2, "kopf": {"x": 1}}
    assert status_patch(current, {"a": 1, "lastSyncedAt": "t1"}) == {
        "gone": None,
        "lastSyncedAt": "t1",
    }
    assert status_patch({"a": 1, "lastSyncedAt": "t0"}, {"a": 1, "lastSyncedAt": "t1"}) == {}
    assert status_patch(current, {"a": 2, "gone": 2, "lastSyncedAt": "t1"}) == {
        "a": 2,
        "lastSyncedAt": "t1",
    }


def test_settled_means_this_generation_reached_kapacitor() -> None:
    def body(gen: int, observed: int, synced: str, cond_gen: int) -> dict[str, Any]:
        cond = {"type": "Synced", "status": synced, "observedGeneration": cond_gen}
        return {
            "metadata": {"generation": gen},
            "status": {"observedGeneration": observed, "conditions": [cond]},
        }

    assert settled(body(2, 2, "True", 2))
    assert not settled(body(3, 2, "True", 2))
    assert not settled(body(2, 2, "False", 2))
    assert not settled(body(2, 2, "True", 1))


# --- one object ----------------------------------------------------------------------------


@dataclass
class Kind:
    """A stand-in kind: records calls; outcomes and deletions are scripted."""

    kind: str = "Widget"
    plural: str = "widgets"
    finalizer: str = FINALIZER
    outcomes: list[Outcome[dict[str, Any]]] = field(default_factory=list)
    deletions: list[Finalized] = field(default_factory=list)
    seen: list[tuple[str, Any]] = field(default_factory=list)
    on_reconcile: Callable[[], Any] | None = None
    """Runs during a reconcile (the object changing meanwhile, say)."""

    def claim(self, body: Mapping[str, Any]) -> ClaimKey | None:
        return ("http://k", "tick", str((body.get("spec") or {}).get("id", "")))

    async def reconcile(self, body: Mapping[str, Any], holder: Any) -> Outcome[dict[str, Any]]:
        self.seen.append(("reconcile", holder))
        if self.on_reconcile is not None:
            self.on_reconcile()
        gen = body["metadata"]["generation"]
        if self.outcomes:
            return self.outcomes.pop(0)
        cond = {"type": "Synced", "status": "True", "observedGeneration": gen}
        return Outcome(
            status={"observedGeneration": gen, "conditions": [cond]},
            events=[EventNote("Normal", "Synced", "ok")],
        )

    async def finalize(self, body: Mapping[str, Any], holder: Any) -> Finalized:
        self.seen.append(("finalize", holder))
        return self.deletions.pop(0) if self.deletions else Finalized(done=True)

    def status_dict(self, outcome: Outcome[Any]) -> dict[str, Any]:
        result: dict[str, Any] = outcome.status
        return result


def widget(name: str, created: str = "2026-01-01T00:00:00Z", ident: str = "w") -> dict[str, Any]:
    return {
        "apiVersion": "x/v1",
        "kind": "Widget",
        "metadata": {"name": name, "namespace": NS, "creationTimestamp": created},
        "spec": {"id": ident},
    }


async def controller_for(kube: FakeKube, kind: Kind) -> SyncController:
    ctl = SyncController(kind, kube, workers=2)
    ctl.start()
    await until(lambda: ctl.primed.is_set())
    return ctl


async def test_a_new_object_gets_its_finalizer_and_status_and_then_rests() -> None:
    kube, kind = FakeKube(), Kind()
    ctl = await controller_for(kube, kind)
    ctl.on_event("ADDED", kube.put("widgets", widget("a")))
    obj = await until(lambda: (kube.get("widgets", NS, "a") or {}).get("status"))
    assert obj["observedGeneration"] == 1
    assert (kube.get("widgets", NS, "a") or {})["metadata"]["finalizers"] == [FINALIZER]
    writes = kube.status_writes()
    assert len(writes) == 1, "one status write"
    assert writes[0][3] != "None", "written over the version read"
    # Its own echo (settled) costs nothing.
    ctl.on_event("MODIFIED", kube.get("widgets", NS, "a") or {})
    await until(lambda: ctl.queue.idle)
    assert [s for s in kind.seen if s[0] == "reconcile"] == [("reconcile", None)]
    assert {e["reason"] for e in kube.events} == {"Synced"}
    await ctl.stop()


async def test_an_object_held_at_admission_gets_its_status_and_no_finalizer_write() -> None:
    """The chart's finalizer policy puts our finalizer on at creation: the first reconcile
    then writes only the status (docs/helm.md, "The finalizer policy")."""
    kube, kind = FakeKube(), Kind()
    ctl = await controller_for(kube, kind)
    body = widget("a")
    body["metadata"]["finalizers"] = [FINALIZER]
    ctl.on_event("ADDED", kube.put("widgets", body))
    await until(lambda: (kube.get("widgets", NS, "a") or {}).get("status"))
    await until(lambda: ctl.queue.idle)
    writes = [c[0] for c in kube.calls if not c[0].startswith(("get", "list", "pages"))]
    assert writes == ["patch_status"]
    assert (kube.get("widgets", NS, "a") or {})["metadata"]["finalizers"] == [FINALIZER]
    await ctl.stop()


async def test_a_younger_claimant_held_at_admission_lets_go_without_touching_kapacitor() -> None:
    """Without the policy such an object never gets our finalizer; with it, its deletion
    is finalized with the holder named (the kind leaves the task alone) and lets go."""
    kube, kind = FakeKube(), Kind()
    kube.put("widgets", widget("old", "2026-01-01T00:00:00Z"))
    young = widget("young", "2026-01-02T00:00:00Z")
    young["metadata"]["finalizers"] = [FINALIZER]
    kube.put("widgets", young)
    ctl = await controller_for(kube, kind)
    ctl.on_event(None, kube.get("widgets", NS, "old") or {})
    ctl.on_event(None, kube.get("widgets", NS, "young") or {})
    await until(lambda: len(kind.seen) == 2 and ctl.queue.idle)
    going = kube.get("widgets", NS, "young") or {}
    going["metadata"]["deletionTimestamp"] = "2026-01-03T00:00:00Z"
    ctl.on_event("MODIFIED", kube.put("widgets", going))
    await until(lambda: kube.get("widgets", NS, "young") is None)
    assert kind.seen[-1] == ("finalize", (NS, "old"))
    await ctl.stop()


async def test_a_restart_reconciles_nothing_that_is_settled() -> None:
    kube, kind = FakeKube(), Kind()
    body = widget("a")
    body["metadata"]["finalizers"] = [FINALIZER]
    cond = {"type": "Synced", "status": "True", "observedGeneration": 1}
    body["status"] = {"observedGeneration": 1, "conditions": [cond]}
    kube.put("widgets", body)
    ctl = await controller_for(kube, kind)
    ctl.on_event(None, kube.get("widgets", NS, "a") or {})
    await until(lambda: ctl.queue.idle)
    assert kind.seen == []
    assert kube.status_writes() == []
    await ctl.stop()


async def test_the_younger_of_two_claimants_is_told_who_holds_it_even_if_seen_first() -> None:
    kube, kind = FakeKube(), Kind()
    kube.put("widgets", widget("young", "2026-01-02T00:00:00Z"))
    kube.put("widgets", widget("old", "2026-01-01T00:00:00Z"))
    ctl = await controller_for(kube, kind)
    ctl.on_event(None, kube.get("widgets", NS, "young") or {})
    await until(lambda: kind.seen)
    assert kind.seen[0] == ("reconcile", (NS, "old"))
    assert "finalizers" not in (kube.get("widgets", NS, "young") or {})["metadata"]
    await ctl.stop()


async def test_temporary_failures_are_retried_after_their_delay() -> None:
    kube, kind = FakeKube(), Kind()
    kind.outcomes = [Outcome(status={"observedGeneration": 1}, retry="temporary", delay=0.05)]
    ctl = await controller_for(kube, kind)
    ctl.on_event("ADDED", kube.put("widgets", widget("a")))
    await until(lambda: len(kind.seen) == 2)
    await until(lambda: ctl.queue.idle)
    assert ctl.failures == {}
    await ctl.stop()


async def test_a_conflict_that_left_the_spec_alone_writes_the_status_without_redoing() -> None:
    kube, kind = FakeKube(), Kind()
    kube.status_errors = [KubeConflict("modified", status=409)]  # metadata changed meanwhile
    ctl = await controller_for(kube, kind)
    ctl.on_event("ADDED", kube.put("widgets", widget("a")))
    await until(lambda: (kube.get("widgets", NS, "a") or {}).get("status"))
    assert len(kind.seen) == 1, "Kapacitor was not asked twice"
    await ctl.stop()


async def test_a_status_write_over_a_new_generation_waits_for_its_watch_event() -> None:
    kube, kind = FakeKube(), Kind()
    kube.status_errors = [KubeConflict("modified", status=409)]
    ctl = await controller_for(kube, kind)
    body = kube.put("widgets", widget("a"))
    kind.on_reconcile = lambda: kube.edit_spec("widgets", NS, "a", id="w2")  # a spec change
    ctl.on_event("ADDED", body)
    await until(lambda: ctl.queue.idle and kind.seen)
    assert (kube.get("widgets", NS, "a") or {}).get("status") is None, "never forced"
    kind.on_reconcile = None
    ctl.on_event("MODIFIED", kube.get("widgets", NS, "a") or {})  # the change's watch event
    await until(lambda: (kube.get("widgets", NS, "a") or {}).get("status"))
    assert len(kind.seen) == 2
    await ctl.stop()


def delete_now(kube: FakeKube) -> None:
    del kube.objects[("widgets", NS, "a")]


def start_deleting(kube: FakeKube) -> None:
    obj = kube.objects[("widgets", NS, "a")]
    obj["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:01Z"
    obj["metadata"]["finalizers"] = ["someone.else/finalizer"]
    obj["metadata"]["resourceVersion"] = str(int(obj["metadata"]["resourceVersion"]) + 1)


@pytest.mark.parametrize(
    ("meanwhile", "writes", "undone"),
    [
        (delete_now, 1, True),  # gone before the finalizer patch: NotFound
        (start_deleting, 1, True),  # going (another finalizer holds it): Conflict, then a look
        (delete_now, 0, False),  # nothing was written to Kapacitor: nothing to take back
    ],
)
async def test_an_object_deleted_before_its_finalizer_landed_leaves_nothing_in_kapacitor(
    meanwhile: Callable[[FakeKube], None], writes: int, undone: bool
) -> None:
    kube, kind = FakeKube(), Kind()
    kind.outcomes = [Outcome(status={"observedGeneration": 1}, writes=writes)]
    ctl = await controller_for(kube, kind)
    body = kube.put("widgets", widget("a"))
    kind.on_reconcile = lambda: meanwhile(kube)  # the delete lands while Kapacitor is written
    ctl.on_event("ADDED", body)
    await until(lambda: ctl.queue.idle and kind.seen)
    assert [s[0] for s in kind.seen] == ["reconcile", "finalize"] if undone else ["reconcile"]
    left = kube.objects.get(("widgets", NS, "a"))
    assert left is None or "status" not in left, "no status written over the going object"
    assert left is None or FINALIZER not in left["metadata"]["finalizers"]
    await ctl.stop()


async def test_ready_is_written_before_the_finalizer_and_waits_for_no_other_write() -> None:
    kube, kind = FakeKube(), Kind()
    ctl = await controller_for(kube, kind)
    body = kube.put("widgets", widget("a"))
    ctl.on_event("ADDED", body)
    await until(
        lambda: (
            FINALIZER in ((kube.get("widgets", NS, "a") or {})["metadata"].get("finalizers") or [])
        )
    )
    writes = [c[0] for c in kube.calls if c[0] in ("patch_status", "patch_metadata")]
    assert writes == ["patch_status", "patch_metadata"]
    read = body["metadata"]["resourceVersion"]
    assert kube.status_writes()[0][3] == read, "the status over the version the reconcile read"
    held = ctl.bodies[(NS, "a")]
    assert held.get("status"), "the newest body"
    assert FINALIZER in held["metadata"]["finalizers"]
    await ctl.stop()


async def test_the_echoes_of_our_writes_start_no_work_while_a_retry_waits() -> None:
    """A first reconcile that failed (a retry is due in a minute) writes its status and
    then the finalizer: neither write's watch event reconciles it again before then."""
    kube, kind = FakeKube(), Kind()
    kind.outcomes = [Outcome(status={"observedGeneration": 1}, retry="temporary", delay=60.0)]
    ctl = await controller_for(kube, kind)
    status_answers: list[dict[str, Any]] = []
    real_patch_status = kube.patch_status

    async def keep(*args: Any, **kwargs: Any) -> dict[str, Any] | None:
        answer = await real_patch_status(*args, **kwargs)
        if answer is not None:
            status_answers.append(copy.deepcopy(answer))
        return answer

    kube.patch_status = keep  # type: ignore[method-assign]
    ctl.on_event("ADDED", kube.put("widgets", widget("a")))
    await until(
        lambda: (
            FINALIZER in ((kube.get("widgets", NS, "a") or {})["metadata"].get("finalizers") or [])
        )
    )
    await until(lambda: ctl.queue.idle)
    for echo in (*status_answers, kube.get("widgets", NS, "a") or {}):  # in their order
        ctl.on_event("MODIFIED", echo)
    await until(lambda: ctl.queue.idle)
    assert [s[0] for s in kind.seen] == ["reconcile"], "one reconcile until the retry"
    # A change by someone else still counts.
    ctl.on_event("MODIFIED", kube.edit_spec("widgets", NS, "a", id="w2"))
    await until(lambda: len(kind.seen) == 2)
    await ctl.stop()


def add_foreign_finalizer(kube: FakeKube) -> None:
    obj = kube.objects[("widgets", NS, "a")]
    obj["metadata"]["finalizers"] = ["someone.else/x"]
    obj["metadata"]["resourceVersion"] = str(int(obj["metadata"]["resourceVersion"]) + 100)


async def test_a_metadata_change_before_the_finalizer_lands_keeps_both_finalizers() -> None:
    """Another writer's finalizer lands between our status write and ours: ours is added
    over the fresh object, theirs kept, and Kapacitor is not asked again."""
    kube, kind = FakeKube(), Kind()
    ctl = await controller_for(kube, kind)
    body = kube.put("widgets", widget("a"))
    real_patch_status = kube.patch_status

    async def then_meddle(*args: Any, **kwargs: Any) -> dict[str, Any] | None:
        result = await real_patch_status(*args, **kwargs)
        add_foreign_finalizer(kube)
        return result

    kube.patch_status = then_meddle  # type: ignore[method-assign]
    ctl.on_event("ADDED", body)
    await until(
        lambda: (
            FINALIZER in ((kube.get("widgets", NS, "a") or {})["metadata"].get("finalizers") or [])
        )
    )
    assert (kube.get("widgets", NS, "a") or {})["metadata"]["finalizers"] == [
        "someone.else/x",
        FINALIZER,
    ]
    await until(lambda: ctl.queue.idle)
    assert [s[0] for s in kind.seen] == ["reconcile"]
    await ctl.stop()


async def test_deletion_waits_for_kapacitor_and_says_why_then_lets_go() -> None:
    kube, kind = FakeKube(), Kind()
    why = {"conditions": [{"type": "Ready", "status": "False", "reason": "Deleting"}]}
    kind.deletions = [Finalized(done=False, status=why, delay=0.05)]
    body = widget("a")
    body["metadata"]["finalizers"] = [FINALIZER]
    body["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:01Z"
    ctl = await controller_for(kube, kind)
    ctl.on_event("MODIFIED", kube.put("widgets", body))
    await until(lambda: kube.get("widgets", NS, "a") is None)
    assert [s[0] for s in kind.seen] == ["finalize", "finalize"]
    writes = [c for c in kube.calls if c[0] == "patch_status"]
    assert len(writes) == 1, "while waiting, the status said why"
    await ctl.stop()


async def test_when_the_holder_goes_the_next_claimant_takes_over() -> None:
    kube, kind = FakeKube(), Kind()
    kube.put("widgets", widget("young", "2026-01-02T00:00:00Z"))
    kube.put("widgets", widget("old", "2026-01-01T00:00:00Z"))
    ctl = await controller_for(kube, kind)
    ctl.on_event(None, kube.get("widgets", NS, "young") or {})
    await until(lambda: kind.seen and ctl.queue.idle)
    assert kind.seen == [("reconcile", (NS, "old"))]
    ctl.on_event("DELETED", kube.get("widgets", NS, "old") or {})
    await until(lambda: len(kind.seen) == 2 and ctl.queue.idle)
    assert kind.seen[1] == ("reconcile", None)
    await ctl.stop()


async def test_a_watch_event_older_than_our_status_write_starts_no_work() -> None:
    kube, kind = FakeKube(), Kind()
    ctl = await controller_for(kube, kind)
    first = kube.put("widgets", widget("a"))
    ctl.on_event("ADDED", first)
    await until(lambda: (kube.get("widgets", NS, "a") or {}).get("status"))
    await until(lambda: ctl.queue.idle)
    # The event of the finalizer patch, delivered after our status write: stale.
    stale = {**first, "metadata": {**first["metadata"], "finalizers": [FINALIZER]}}
    ctl.on_event("MODIFIED", stale)
    await until(lambda: ctl.queue.idle)
    assert len(kind.seen) == 1
    assert ctl.bodies[(NS, "a")].get("status"), "the newer body is kept"
    await ctl.stop()


def test_only_integer_resource_versions_are_ordered() -> None:
    from kapacitor_operator.sync.controller import older

    assert older("9", "10")
    assert not older("10", "10")
    assert not older("11", "10")
    assert not older("abc", "10")
    assert not older("9", None)


async def test_work_that_reads_the_status_starts_once_it_is_written() -> None:
    """Outcome.then (a template nudging its tasks): after the status write, not before."""
    kube, kind = FakeKube(), Kind()
    seen_by_then: list[Any] = []

    async def then() -> None:
        seen_by_then.append((kube.get("widgets", NS, "a") or {}).get("status"))

    cond = {"type": "Synced", "status": "True", "observedGeneration": 1}
    kind.outcomes.append(Outcome(status={"observedGeneration": 1, "conditions": [cond]}, then=then))
    ctl = await controller_for(kube, kind)
    ctl.on_event("ADDED", kube.put("widgets", widget("a")))
    await until(lambda: seen_by_then)
    assert seen_by_then == [{"observedGeneration": 1, "conditions": [cond]}]
    await ctl.stop()


# --- rechecks (a kind checked on a schedule: the `Kapacitor` connection kind) ----------------


def settled_widget(name: str) -> dict[str, Any]:
    body = widget(name, ident=name)
    body["metadata"]["finalizers"] = [FINALIZER]
    cond = {"type": "Synced", "status": "True", "observedGeneration": 1}
    body["status"] = {"observedGeneration": 1, "conditions": [cond]}
    return body


async def test_a_settled_object_is_rechecked_each_interval_without_writing() -> None:
    kube, kind = FakeKube(), Kind()
    ctl = SyncController(kind, kube, workers=2, recheck=0.1)
    ctl.start()
    await until(lambda: ctl.primed.is_set())
    ctl.on_event("ADDED", kube.put("widgets", widget("a")))
    await until(lambda: len(kind.seen) >= 4)  # the first reconcile, then three rechecks
    assert len(kube.status_writes()) == 1, "an unchanged status is not written again"
    await ctl.stop()


async def test_a_start_spreads_the_rechecks_of_settled_objects_over_the_first_interval() -> None:
    """No burst of checks at start: each settled object is looked at once, at a random
    point of the first interval (here 1 s), not all at once and not at start."""
    kube, kind = FakeKube(), Kind()
    for index in range(20):
        kube.put("widgets", settled_widget(f"w{index}"))
    ctl = SyncController(kind, kube, workers=4, recheck=1.0)
    ctl.start()
    await until(lambda: ctl.primed.is_set())
    loop = asyncio.get_running_loop()
    started, times = loop.time(), []
    kind.on_reconcile = lambda: times.append(loop.time() - started)
    for body in await kube.list_custom("widgets"):
        ctl.on_event(None, body)
    await until(lambda: len(times) >= 20, limit=10.0)
    assert max(times) - min(times) > 0.2, f"spread over the interval: {sorted(times)}"
    assert sum(1 for t in times if t < 0.05) < 10, "not at start"
    assert kube.status_writes() == []
    await ctl.stop()


async def test_a_recheck_moved_by_a_reconcile_in_between_comes_at_its_new_time() -> None:
    """The timer set for the first recheck fires; a reconcile since then moved it later:
    the settled object is not worked on early, and is at the new time."""
    kube, kind = FakeKube(), Kind()
    kube.put("widgets", settled_widget("a"))
    ctl = SyncController(kind, kube, workers=1, recheck=0.4)
    ctl.start()
    await until(lambda: ctl.primed.is_set())
    loop = asyncio.get_running_loop()
    ctl._recheck_after(("ns", "a"), 0.05)  # an earlier timer already set
    ctl.rechecks[("ns", "a")] = loop.time() + 0.3  # since moved by a reconcile
    ctl.bodies[("ns", "a")] = kube.get("widgets", NS, "a") or {}
    started = loop.time()
    await until(lambda: kind.seen, limit=5.0)
    assert loop.time() - started >= 0.25
    await ctl.stop()


def test_a_kind_may_say_which_condition_settles_an_object() -> None:
    body = {
        "metadata": {"generation": 2},
        "status": {
            "observedGeneration": 2,
            "conditions": [{"type": "Ready", "status": "True", "observedGeneration": 2}],
        },
    }
    assert not settled(body)
    assert settled(body, ("Ready",))


async def test_an_object_going_without_our_finalizer_is_left_alone_even_when_forced() -> None:
    kube, kind = FakeKube(), Kind()
    body = widget("a")
    body["metadata"].update(finalizers=["someone.else/x"], deletionTimestamp="2026-01-01T00:00:00Z")
    kube.put("widgets", body)
    ctl = SyncController(kind, kube, workers=1, recheck=0.05)
    ctl.start()
    await until(lambda: ctl.primed.is_set())
    ctl.on_event("MODIFIED", kube.get("widgets", NS, "a") or {})
    ctl.enqueue((NS, "a"))
    await asyncio.sleep(0.2)  # the forced key and the first recheck have come and gone
    assert kind.seen == []
    assert (kube.get("widgets", NS, "a") or {})["metadata"]["finalizers"] == ["someone.else/x"]
    await ctl.stop()


async def test_the_bodies_held_leave_out_managed_fields() -> None:
    kube, kind = FakeKube(), Kind()
    body = widget("a")
    body["metadata"]["managedFields"] = [{"manager": "kubectl", "fieldsV1": {"f:spec": {}}}]
    kube.put("widgets", body)
    ctl = await controller_for(kube, kind)
    ctl.on_event("ADDED", kube.get("widgets", NS, "a") or {})
    await until(lambda: (kube.get("widgets", NS, "a") or {}).get("status"))
    await until(lambda: ctl.queue.idle)
    held = ctl.bodies[(NS, "a")]["metadata"]
    assert "managedFields" not in held
    assert (held["name"], held["finalizers"]) == ("a", [FINALIZER])
    assert "managedFields" in (kube.get("widgets", NS, "a") or {})["metadata"], "not edited"
    await ctl.stop()
