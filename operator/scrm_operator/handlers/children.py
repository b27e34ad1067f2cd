"""Drift: a tenant's Deployments, Services and ConfigMaps are watched, and a hand-made
change to one (or its deletion) is repaired at once by a pass over the tenant, rather than
at the next resync.

Only changes that can be drift count: a Deployment whose ``generation`` did not move only
changed status (the controllers' rollout reports), which needs no repair. Events of the
initial listing and creations are the operator's own work. Secrets are not watched (that
would mean reading every Secret of the cluster); a regenerated Secret is picked up by the
next pass and rolls the pods through the credentials checksum."""

from __future__ import annotations

import threading
from typing import Any

import kopf

from scrm_operator import names
from scrm_operator.handlers.tenant import repair

CHILD_LABELS = {names.PART_OF: "scrm", names.MANAGED_BY: names.FIELD_MANAGER}
_SEEN_GUARD = threading.Lock()


def _owner(body: kopf.Body) -> dict[str, Any] | None:
    return next(
        (
            ref
            for ref in body["metadata"].get("ownerReferences") or []
            if ref.get("controller") and ref.get("kind") == "ScrmTenant"
        ),
        None,
    )


def _moved(memo: kopf.Memo, body: kopf.Body, gone: bool) -> bool:
    """Whether the object's generation changed since the last event (always for kinds
    without one); a deleted object is forgotten."""
    meta = body["metadata"]
    generation = meta.get("generation")
    if generation is None:
        return True
    with _SEEN_GUARD:
        seen: dict[str, int] = memo.setdefault("child_generations", {})
        previous = seen.pop(meta["uid"], None)
        if not gone:
            seen[meta["uid"]] = generation
    return previous != generation


@kopf.on.event("apps", "v1", "deployments", labels=CHILD_LABELS)
@kopf.on.event("", "v1", "services", labels=CHILD_LABELS)
@kopf.on.event("", "v1", "configmaps", labels=CHILD_LABELS)
def child_changed(
    type: str, body: kopf.Body, memo: kopf.Memo, logger: kopf.Logger, **_: Any
) -> None:
    owner = _owner(body)
    moved = _moved(memo, body, gone=type == "DELETED")
    if owner is None or type not in ("MODIFIED", "DELETED") or (type == "MODIFIED" and not moved):
        return
    meta = body["metadata"]
    if repair(memo, meta["namespace"], owner["name"], owner["uid"]):
        logger.info(f"{body['kind']}/{meta['name']} {type.lower()}: the tenant was repaired")
