"""Which resource manages which Kapacitor object: the oldest claimant wins.

Two resources may name the same Kapacitor object (same server, same ID). The older one
(by creationTimestamp, then namespace and name) manages it; the other is told so in its
status and changes nothing, and deleting it never deletes the object.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

ClaimKey = tuple[str, str, str]
"""(server URL, API, identity): e.g. ("http://kapacitor:9092", "tick", "ns.cpu")."""
Key = tuple[str, str]
"""(namespace, name) of a resource."""


@dataclass
class Claims:
    """Claimants per Kapacitor object."""

    by_claim: dict[ClaimKey, dict[Key, str]] = field(default_factory=lambda: defaultdict(dict))
    by_key: dict[Key, ClaimKey] = field(default_factory=dict)

    def hold(self, key: Key, claim: ClaimKey | None, created: str) -> None:
        """`key` (created at `created`) now claims `claim` (and nothing else)."""
        previous = self.by_key.get(key)
        if previous is not None and previous != claim:
            self.release(key)
        if claim is not None:
            self.by_claim[claim][key] = created
            self.by_key[key] = claim

    def release(self, key: Key) -> None:
        claim = self.by_key.pop(key, None)
        if claim is None:
            return
        holders = self.by_claim.get(claim)
        if holders is not None:
            holders.pop(key, None)
            if not holders:
                del self.by_claim[claim]

    def holder(self, claim: ClaimKey | None) -> Key | None:
        """The resource managing `claim`: the oldest claimant."""
        holders = self.by_claim.get(claim) if claim is not None else None
        if not holders:
            return None
        return min(holders, key=lambda k: (holders[k], k))

    def claimed(self, server: str, api: str) -> set[str]:
        """Identities of one server and API that some resource claims."""
        return {ident for (url, kind, ident) in self.by_claim if url == server and kind == api}
