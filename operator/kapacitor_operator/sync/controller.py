"""A controller for one kind that mirrors Kapacitor objects (KapacitorTask, and the kinds
that follow it): watch events feed a work queue of keys; workers reconcile a key at a
time, write status over the version they read, and manage the finalizer.

Nothing here knows a kind's details: a `SyncKind` turns an object into an outcome (the
status to write, Events, whether and when to try again) and deletes what it owns in
Kapacitor. An object whose spec was handled and whose last reconcile reached Kapacitor
is not worked on again until it changes, or until drift detection (one list per
Kapacitor server, sync/drift.py) or a retry asks for it: a restart costs no Kapacitor
call and no write. A kind that must be looked at on a schedule even when settled (the
`Kapacitor` connection kind checks its server) sets `recheck`: every object is
reconciled again about that often, jittered, and after a start first at a random point
of the first interval, so a restart makes no burst of checks.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from kapacitor_operator import metrics
from kapacitor_operator.k8s.errors import KubeConflict, KubeError, KubeNotFound
from kapacitor_operator.reconcile.outcome import EventNote, Outcome
from kapacitor_operator.sync.claims import ClaimKey, Claims
from kapacitor_operator.sync.compact import compact
from kapacitor_operator.sync.queue import WorkQueue
from kapacitor_operator.sync.status_patch import status_patch

log = logging.getLogger(__name__)
Key = tuple[str, str]
BACKOFF_BASE = 5.0
BACKOFF_MAX = 300.0


class SyncKube(Protocol):
    """The Kubernetes calls of a sync controller (k8s/api.py)."""

    async def patch_status(
        self,
        namespace: str,
        plural: str,
        name: str,
        status: dict[str, Any],
        *,
        resource_version: str | None = None,
    ) -> dict[str, Any] | None: ...

    async def patch_metadata(
        self, namespace: str, plural: str, name: str, metadata: dict[str, Any]
    ) -> dict[str, Any] | None: ...

    def pages_custom(
        self, plural: str, namespace: str | None = None
    ) -> AsyncIterator[list[dict[str, Any]]]: ...

    async def get_custom(self, namespace: str, plural: str, name: str) -> dict[str, Any] | None: ...

    async def create_event(
        self,
        namespace: str,
        involved: dict[str, Any],
        type: str,
        reason: str,
        message: str,
        *,
        component: str,
    ) -> dict[str, Any]: ...


@dataclass(frozen=True)
class Finalized:
    """What deleting an object's Kapacitor side did."""

    done: bool
    events: tuple[EventNote, ...] = ()
    status: dict[str, Any] | None = None
    """Status to write while the deletion waits (done=False): why it waits."""
    delay: float | None = None


class SyncKind(Protocol):
    """What the controller needs from a kind."""

    @property
    def kind(self) -> str: ...

    @property
    def plural(self) -> str: ...

    @property
    def finalizer(self) -> str: ...

    def claim(self, body: Mapping[str, Any]) -> ClaimKey | None:
        """The Kapacitor object this resource claims (None: claims nothing)."""

    async def reconcile(self, body: Mapping[str, Any], holder: Key | None) -> Outcome[Any]:
        """Make Kapacitor match; `holder` is the resource that owns the claim if not this
        one. Never raises for Kapacitor or reference failures (they are outcomes)."""

    async def finalize(self, body: Mapping[str, Any], holder: Key | None) -> Finalized:
        """Delete the object's Kapacitor side (per its deletionPolicy)."""

    def status_dict(self, outcome: Outcome[Any]) -> dict[str, Any]:
        """The outcome's status as the object carries it."""


def older(version: str, than: str | None) -> bool:
    """Whether resourceVersion `version` is older than `than`. Kubernetes calls them
    opaque; etcd's are integers, and only those are compared (else: not older)."""
    if not than or not version.isdigit() or not than.isdigit():
        return False
    return int(version) < int(than)


def key_of(body: Mapping[str, Any]) -> Key:
    meta = body.get("metadata") or {}
    return str(meta.get("namespace", "")), str(meta.get("name", ""))


SETTLED_ON = ("Synced", "Stalled")


def settled(body: Mapping[str, Any], on: tuple[str, ...] = SETTLED_ON) -> bool:
    """The spec was handled and the last reconcile reached Kapacitor (or failed in a way
    only a change of the spec can fix: Stalled): nothing to do. `on`: the condition
    types of which one True (for this generation) means so."""
    meta = body.get("metadata") or {}
    status = body.get("status") or {}
    generation = meta.get("generation")
    if status.get("observedGeneration") != generation:
        return False
    conditions = {c.get("type"): c for c in status.get("conditions") or []}
    return any(
        (cond := conditions.get(kind)) is not None
        and cond.get("status") == "True"
        and cond.get("observedGeneration") == generation
        for kind in on
    )


def jittered(seconds: float, spread: float = 0.1) -> float:
    """`seconds`, give or take `spread` of it (as drift passes are spread)."""
    return seconds * random.uniform(1 - spread, 1 + spread)


STATUS_ATTEMPTS = 3
"""Status writes over a version that changed only in metadata or other status fields."""


@dataclass
class SyncController:
    """Workers that reconcile one kind's objects, keyed by (namespace, name)."""

    kind: SyncKind
    kube: SyncKube
    namespaces: tuple[str, ...] = ()
    workers: int = 50
    """Keys reconciled at once. A reconcile mostly waits (Kapacitor, then two API writes),
    so with 16 a bulk apply left the operator at half a core with its workers the limit;
    as many as the benchmark's creates in flight (issue 14)."""
    component: str = "kapacitor-operator"
    bodies: dict[Key, dict[str, Any]] = field(default_factory=dict)
    claims: Claims = field(default_factory=Claims)
    queue: WorkQueue[Key] = field(default_factory=WorkQueue)
    failures: dict[Key, int] = field(default_factory=dict)
    primed: asyncio.Event = field(default_factory=asyncio.Event)
    locks: dict[str, asyncio.Lock] = field(default_factory=dict)
    watched: set[Key] = field(default_factory=set)
    """Keys whose watch events this process received: an object known only from priming
    is left to drift until its watch event (kopf runs only while this replica leads)."""
    forced: set[Key] = field(default_factory=set)
    """Keys drift detection asked for: worked on even when settled."""
    nudge_annotation: str | None = None
    """An annotation other objects write to say something this object names changed
    (reconcile/template_users.py): a new value makes even a settled object work."""
    settled_on: tuple[str, ...] = SETTLED_ON
    """Condition types of which one True for the generation means settled (`settled`)."""
    recheck: float | None = None
    """Seconds (±10 %) after which an object is reconciled again even when settled, after
    each reconcile that ends without a retry; None: only events, drift and retries."""
    rechecks: dict[Key, float] = field(default_factory=dict)
    """Loop time at which each key's recheck is due."""
    written: dict[Key, str] = field(default_factory=dict)
    """resourceVersion of each object's last status write: its watch event is our echo."""
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    # --- events --------------------------------------------------------------------------

    def on_event(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        """A watch event of the kind."""
        key = key_of(body)
        metrics.WATCH_EVENTS.labels(self.kind.kind).inc()
        if event_type == "DELETED":
            self.bodies.pop(key, None)
            self.written.pop(key, None)
            self.forced.discard(key)
            self.watched.discard(key)
            self.rechecks.pop(key, None)
            claim = self.claims.by_key.get(key)
            self.claims.release(key)
            self.queue.forget(key)
            self.failures.pop(key, None)
            # The next oldest claimant (told Conflict so far) takes over.
            heir = self.claims.holder(claim)
            if heir is not None:
                self.enqueue(heir)
            return
        version = str((body.get("metadata") or {}).get("resourceVersion") or "")
        if older(version, self.written.get(key)):
            # Watch events come in order: this one predates our last status write, whose
            # body we hold already (it was written over the version it was computed from).
            return
        before = self.bodies.get(key)
        # Held compact (sync/compact.py): about 40 µs per event, against copy.deepcopy's
        # about 7% of the CPU per created object (profiled), for half the memory.
        self.bodies[key] = compact(dict(body))
        if key not in self.watched and self.recheck is not None and key not in self.rechecks:
            # First seen by this process (a start, or a new object): a settled object is
            # checked at a random point of the first interval, so a start makes no burst.
            self._recheck_after(key, random.uniform(0.0, 1.0) * self.recheck)
        self.watched.add(key)
        if before is not None and self._nudged(before, body):
            self.forced.add(key)
        self._claim(key, body)
        if version and self.written.pop(key, None) == version:
            return  # the echo of our own status write: the reconcile that wrote it decided
        if self.needs_work(body) or key in self.forced:
            self.queue.add(key)

    def _nudged(self, before: Mapping[str, Any], after: Mapping[str, Any]) -> bool:
        if self.nudge_annotation is None:
            return False

        def token(body: Mapping[str, Any]) -> str | None:
            annotations = (body.get("metadata") or {}).get("annotations") or {}
            value = annotations.get(self.nudge_annotation)
            return None if value is None else str(value)

        return token(before) != token(after)

    def _claim(self, key: Key, body: Mapping[str, Any]) -> None:
        claim = self.kind.claim(body)
        created = str((body.get("metadata") or {}).get("creationTimestamp", ""))
        self.claims.hold(key, claim, created)

    def needs_work(self, body: Mapping[str, Any]) -> bool:
        meta = body.get("metadata") or {}
        finalizers = meta.get("finalizers") or []
        if meta.get("deletionTimestamp"):
            return self.kind.finalizer in finalizers
        return self.kind.finalizer not in finalizers or not settled(body, self.settled_on)

    def enqueue(self, key: Key) -> None:
        """Reconcile `key` even if settled (drift detection found it differs from
        Kapacitor)."""
        if key in self.bodies:
            self.forced.add(key)
            self.queue.add(key)

    def lock(self, uid: str) -> asyncio.Lock:
        return self.locks.setdefault(uid, asyncio.Lock())

    # --- running -------------------------------------------------------------------------

    def start(self) -> None:
        metrics.OBJECTS.labels(self.kind.kind).set_function(lambda: len(self.bodies))
        metrics.PENDING.labels(self.kind.kind).set_function(lambda: self.queue.pending)
        self._tasks.append(asyncio.create_task(self._prime(), name=f"{self.kind.plural} prime"))
        for index in range(self.workers):
            name = f"{self.kind.plural} worker {index}"
            self._tasks.append(asyncio.create_task(self._work(), name=name))

    async def stop(self) -> None:
        self.queue.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _prime(self) -> None:
        """Know every object's claim before reconciling any: the oldest claimant must win
        even when a newer one's event comes first."""
        pause = 1.0
        scopes: list[str | None] = [*self.namespaces] or [None]
        while True:
            try:
                for namespace in scopes:
                    # A page at a time: the listed bodies carry managedFields, which the
                    # held ones do not, so all of them at once would double the peak.
                    async for page in self.kube.pages_custom(self.kind.plural, namespace):
                        for body in page:
                            key = key_of(body)
                            self.bodies.setdefault(key, compact(body))
                            self._claim(key, body)
            except KubeError as exc:
                log.warning(
                    "cannot list %s yet, retrying in %.0fs: %s", self.kind.plural, pause, exc
                )
                await asyncio.sleep(pause)
                pause = min(pause * 2, 30.0)
                continue
            self.primed.set()
            return

    async def _work(self) -> None:
        await self.primed.wait()
        while (key := await self.queue.get()) is not None:
            await asyncio.sleep(0)  # fair to everything else on the loop
            try:
                await self.process(key)
            except Exception:  # a bug must not kill the worker; it is retried with backoff
                log.exception("%s %s/%s: reconcile failed", self.kind.kind, *key)
                self._retry(key, None)
            finally:
                self.queue.done(key)

    def _retry(self, key: Key, delay: float | None) -> None:
        count = self.failures.get(key, 0) + 1
        self.failures[key] = count
        if delay is None:
            cap = min(BACKOFF_MAX, BACKOFF_BASE * 2 ** min(count, 10))
            delay = random.uniform(cap / 2, cap)
        self.queue.add_after(key, delay)

    def _recheck_after(self, key: Key, delay: float) -> None:
        self.rechecks[key] = asyncio.get_running_loop().time() + delay
        self.queue.add_after(key, delay)

    def _recheck_due(self, key: Key) -> bool:
        """Whether `key`'s recheck is due (and then it is taken). A timer set for an
        earlier recheck, since moved by a reconcile in between, is set again."""
        due = self.rechecks.get(key)
        if due is None:
            return False
        left = due - asyncio.get_running_loop().time()
        if left > 0:
            self.queue.add_after(key, left)
            return False
        del self.rechecks[key]
        return True

    # --- one object ----------------------------------------------------------------------

    async def process(self, key: Key) -> None:
        body = self.bodies.get(key)
        if body is None:
            return
        due = self._recheck_due(key)
        forced = key in self.forced or due
        self.forced.discard(key)
        if not forced and not self.needs_work(body):
            return  # settled meanwhile (e.g. by the run that made the key dirty)
        meta = body.get("metadata") or {}
        if meta.get("deletionTimestamp") and self.kind.finalizer not in (
            meta.get("finalizers") or []
        ):
            return  # going, and not held by us: nothing to do (even when forced)
        uid = str(meta.get("uid", ""))
        async with self.lock(uid):
            if meta.get("deletionTimestamp"):
                await self._finalize(key, body)
            else:
                await self._reconcile(key, body)

    def _holder(self, key: Key, body: Mapping[str, Any]) -> Key | None:
        holder = self.claims.holder(self.kind.claim(body))
        return holder if holder is not None and holder != key else None

    async def _reconcile(self, key: Key, body: dict[str, Any]) -> None:
        ns, name = key
        meta = body.get("metadata") or {}
        version = str(meta.get("resourceVersion") or "") or None
        holder = self._holder(key, body)
        adding = self.kind.finalizer not in (meta.get("finalizers") or []) and holder is None
        outcome = await self.kind.reconcile(body, holder)
        result = {"none": "ok", "temporary": "temporary_error", "permanent": "permanent_error"}
        metrics.RECONCILES.labels(self.kind.kind, result[outcome.retry]).inc()
        if outcome.writes:
            metrics.KAPACITOR_WRITES.labels(self.kind.kind).inc(outcome.writes)
        # The status goes first and the finalizer after it, so Ready waits for one write,
        # not two (the status is written over the version read, and the finalizer patch
        # would change that version). An object deleted before the finalizer landed has
        # this reconcile's Kapacitor writes taken back (`_hold`).
        latest: Mapping[str, Any] = body
        patch = status_patch(body.get("status") or {}, self.kind.status_dict(outcome))
        if patch:
            try:
                written = await self._patch_status(key, body, patch, version)
            except KubeConflict:
                # The spec changed (or the object is going) meanwhile: the change's watch
                # event brings the key back. What Kapacitor was told is still ours to
                # delete, so the finalizer goes on all the same.
                if adding:
                    await self._hold(key, body, holder, outcome)
                return
            except KubeError as exc:
                log.warning("%s %s/%s: status not written: %s", self.kind.kind, ns, name, exc)
                if adding:
                    await self._hold(key, body, holder, outcome)
                self._retry(key, None)
                return
            if written is not None:
                latest = written
                self._keep(key, written)
                version = (written.get("metadata") or {}).get("resourceVersion")
                if version:
                    self.written[key] = str(version)
        if adding and not await self._hold(key, latest, holder, outcome):
            return  # gone, or going, before our finalizer: undone
        if outcome.then is not None:
            self._spawn(outcome.then())  # the status it relies on is written
        self._emit(body, outcome.events)
        if outcome.retry == "temporary":
            self._retry(key, outcome.delay)
        else:
            self.failures.pop(key, None)
            if outcome.retry == "none" and self.recheck is not None:
                self._recheck_after(key, jittered(self.recheck))

    def _keep(self, key: Key, body: dict[str, Any]) -> None:
        """Hold `body` (a write's answer) unless a watch event brought a newer one."""
        held = self.bodies.get(key)
        version = str((body.get("metadata") or {}).get("resourceVersion") or "")
        if held is None or not older(version, (held.get("metadata") or {}).get("resourceVersion")):
            self.bodies[key] = compact(body)

    async def _hold(
        self, key: Key, body: Mapping[str, Any], holder: Key | None, outcome: Outcome[Any]
    ) -> bool:
        """Put our finalizer on the object after its first reconcile; False when it went
        (or started going) before that, and what the reconcile wrote was taken back. A
        conflict on a live object is not a failure: whatever changed it comes back as a
        watch event, and an object without our finalizer is worked on again."""
        try:
            await self._add_finalizer(key, body, echo=True)
            return True
        except KubeNotFound:
            pass
        except KubeConflict:
            fresh = await self.kube.get_custom(key[0], self.kind.plural, key[1])
            if fresh is not None and not (fresh.get("metadata") or {}).get("deletionTimestamp"):
                try:
                    await self._add_finalizer(key, fresh, echo=False)
                except KubeConflict:
                    pass  # changed again: its watch event brings the key back
                except KubeNotFound:
                    await self._undo(key, body, holder, outcome)
                    return False
                return True
        except KubeError as exc:  # the object is there: try again later
            log.warning("%s %s/%s: finalizer not added: %s", self.kind.kind, *key, exc)
            self._retry(key, None)
            return True
        await self._undo(key, body, holder, outcome)
        return False

    async def _undo(
        self, key: Key, body: Mapping[str, Any], holder: Key | None, outcome: Outcome[Any]
    ) -> None:
        """The object was deleted before our finalizer was on it, after its first reconcile
        wrote to Kapacitor (the finalizer is added after the status, not before, to save a
        round trip): take those writes back as its deletion would have (deletionPolicy, claims),
        so a create-then-delete leaves nothing in Kapacitor. Nothing holds the object for a
        retry: a failure is logged, and the drift pass counts what was left as unmanaged."""
        if not outcome.writes:
            return
        ns, name = key
        try:
            result = await self.kind.finalize(body, holder)
        except Exception:  # nothing to retry on: say so and move on
            log.exception("%s %s/%s: deleted meanwhile; undo failed", self.kind.kind, ns, name)
            return
        if result.done:
            log.info("%s %s/%s: deleted meanwhile; undone in Kapacitor", self.kind.kind, ns, name)
        else:
            log.warning(
                "%s %s/%s: deleted meanwhile; left in Kapacitor (could not delete it)",
                self.kind.kind,
                ns,
                name,
            )

    async def _same_generation(self, key: Key, body: Mapping[str, Any]) -> dict[str, Any] | None:
        """The object as it is now, if it still has the generation `body` had and is not
        being deleted; else None."""
        fresh = await self.kube.get_custom(key[0], self.kind.plural, key[1])
        if fresh is None:
            return None
        meta, old = fresh.get("metadata") or {}, body.get("metadata") or {}
        if meta.get("generation") != old.get("generation") or meta.get("deletionTimestamp"):
            return None
        return fresh

    async def _patch_status(
        self, key: Key, body: Mapping[str, Any], patch: dict[str, Any], version: str | None
    ) -> dict[str, Any] | None:
        """Write the reconcile's status changes over the version read. A conflict from a
        change that left the generation alone (metadata, another status field) is not a
        reason to reconcile again: the same changes go over the new version.

        Raises:
            KubeConflict: the spec changed (or kept changing); KubeError: any other failure.
        """
        for _ in range(STATUS_ATTEMPTS - 1):
            try:
                return await self.kube.patch_status(
                    key[0], self.kind.plural, key[1], patch, resource_version=version
                )
            except KubeConflict:
                fresh = await self._same_generation(key, body)
                if fresh is None:
                    raise
                version = str((fresh.get("metadata") or {}).get("resourceVersion") or "") or None
        return await self.kube.patch_status(
            key[0], self.kind.plural, key[1], patch, resource_version=version
        )

    async def _add_finalizer(self, key: Key, body: Mapping[str, Any], *, echo: bool) -> None:
        """Add our finalizer (over the version `body` has). `echo`: every earlier version
        of the object is known here (`body` is the one reconciled, or our own status
        write's answer), so the write's watch event is only our echo and starts no work
        (an object that is not settled, waiting for a retry, would otherwise be
        reconciled again at once). Not after a fresh read: the versions in between may
        hold changes whose events are still to come.

        Raises:
            KubeNotFound: the object is gone. KubeConflict: it changed meanwhile.
        """
        meta = body.get("metadata") or {}
        finalizers = [*(meta.get("finalizers") or []), self.kind.finalizer]
        written = await self.kube.patch_metadata(
            key[0],
            self.kind.plural,
            key[1],
            {"finalizers": finalizers, "resourceVersion": meta.get("resourceVersion")},
        )
        if written is None:
            raise KubeNotFound("gone")
        self._keep(key, written)
        version = str((written.get("metadata") or {}).get("resourceVersion") or "")
        if echo and version:
            self.written[key] = version

    async def _finalize(self, key: Key, body: dict[str, Any]) -> None:
        ns, name = key
        result = await self.kind.finalize(body, self._holder(key, body))
        self._emit(body, list(result.events))
        if not result.done:
            if result.status:
                patch = status_patch(body.get("status") or {}, result.status)
                if patch:
                    try:
                        written = await self.kube.patch_status(ns, self.kind.plural, name, patch)
                        if written is not None:
                            self.bodies[key] = compact(written)
                    except KubeError as exc:  # the retry below tries again
                        log.warning(
                            "%s %s/%s: status not written: %s", self.kind.kind, ns, name, exc
                        )
            self._retry(key, result.delay)
            return
        meta = body.get("metadata") or {}
        remaining = [f for f in meta.get("finalizers") or [] if f != self.kind.finalizer]
        try:
            await self.kube.patch_metadata(
                ns,
                self.kind.plural,
                name,
                {"finalizers": remaining, "resourceVersion": meta.get("resourceVersion")},
            )
        except KubeConflict:
            pass  # it changed meanwhile: its watch event brings the key back
        except KubeError as exc:
            log.warning("%s %s/%s: finalizer not removed: %s", self.kind.kind, ns, name, exc)
            self._retry(key, None)
        else:
            self.locks.pop(str(meta.get("uid", "")), None)
            self.failures.pop(key, None)

    def _emit(self, body: Mapping[str, Any], notes: list[EventNote]) -> None:
        meta = body.get("metadata") or {}
        involved = {
            "apiVersion": body.get("apiVersion"),
            "kind": body.get("kind") or self.kind.kind,
            "name": meta.get("name"),
            "namespace": meta.get("namespace"),
            "uid": meta.get("uid"),
        }
        for note in notes:
            self._spawn(self._post(involved, note))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run `work` beside the workers (cancelled by stop())."""
        task = asyncio.create_task(work)
        self._tasks.append(task)
        task.add_done_callback(self._tasks.remove)

    async def _post(self, involved: dict[str, Any], note: EventNote) -> None:
        try:
            await self.kube.create_event(
                str(involved.get("namespace", "")),
                involved,
                note.type,
                note.reason,
                note.message,
                component=self.component,
            )
        except KubeError as exc:
            log.warning("Event %s on %s not posted: %s", note.reason, involved.get("name"), exc)
