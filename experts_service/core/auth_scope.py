"""Department scope: an organisation together with everything below it."""
from __future__ import annotations

import sqlalchemy as sa
from flask import g, has_app_context

from experts_service.extensions import db


def organisation_subtree_ids(root_id: int | None) -> frozenset[int]:
    if root_id is None:
        return frozenset()
    cache = g.setdefault("subtree_cache", {}) if has_app_context() else {}
    if root_id in cache:
        return cache[root_id]
    from experts_service.reference.models import Organisation

    tree = sa.select(Organisation.id).where(Organisation.id == root_id).cte("tree", recursive=True)
    tree = tree.union_all(sa.select(Organisation.id).where(Organisation.parent_id == tree.c.id))
    ids = frozenset(db.session.execute(sa.select(tree.c.id)).scalars())
    cache[root_id] = ids
    return ids
