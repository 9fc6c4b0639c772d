"""Connects the database to the `search` package: profiles, outbox drain,
rebuild, status and text relevance for the matcher."""
from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import Session, selectinload

from search import query as search_query
from search.analysis import add_vocabulary
from search.index import ExpertIndex

log = logging.getLogger(__name__)
DRAIN_BATCH = 500


@dataclass(frozen=True)
class TextHit:
    expert_id: int
    score: float
    raw_score: float
    standard_score: float
    standard_floor: float
    matched_terms: tuple[str, ...]
    highlights: dict[str, str]


def expert_index(app=None) -> ExpertIndex:
    app = app or current_app
    return ExpertIndex(app.config["SEARCH_INDEX_DIR"])


def profile_of(expert) -> dict:
    """The plain data the index holds for one expert."""
    return {
        "expert_id": expert.id,
        "version": expert.version_id,
        "name": expert.name,
        "keywords": list(expert.keywords or []),
        "domains": [d.name for d in expert.all_domains] + [d.parent.name for d in expert.all_domains if d.parent],
        "domain_ids": [d.id for d in expert.all_domains],
        "title": expert.title_name or "",
        "position": expert.position or "",
        "employer": expert.employer.name if expert.employer else "",
        "bio": expert.bio or "",
        "achievements": [a.get("title", "") for a in expert.achievements or []],
    }


def _session(app) -> Session:
    # A plain session of its own: never the request's (this runs after its commit).
    from experts_service.extensions import db

    return Session(bind=db.engine, expire_on_commit=False)


def _load_vocabulary(session: Session) -> None:
    """Domain names and expert keywords stay whole in jieba's segmentation."""
    from experts_service.experts.models import Expert
    from experts_service.reference.models import Domain

    add_vocabulary(session.execute(sa.select(Domain.name)).scalars())
    for keywords in session.execute(sa.select(Expert.keywords)).scalars():
        add_vocabulary(keywords or [])


def _profiles(session: Session, ids: Collection[int] | None = None):
    from experts_service.experts.models import Expert

    statement = sa.select(Expert).options(selectinload(Expert.secondary_domains)).order_by(Expert.id)
    if ids is not None:
        statement = statement.where(Expert.id.in_(list(ids)))
    for expert in session.execute(statement.execution_options(yield_per=1000)).scalars():
        yield profile_of(expert)


def rebuild(app=None, progress=None, unless_current: bool = False, workers: int = 1) -> dict:
    """Build the whole index aside and swap it in (`flask search reindex`).

    `workers` > 1 forks that many build processes (search/bulk.py): for the
    command line, not for a web worker with threads of its own.
    """
    from experts_service.core.outbox import SearchOutbox
    from experts_service.experts.models import Expert

    app = app or current_app
    session = _session(app)
    try:
        _load_vocabulary(session)
        # Read the outbox position first: later changes are re-applied by the next drain.
        position = session.execute(sa.select(sa.func.coalesce(sa.func.max(SearchOutbox.id), 0))).scalar_one()
        total = session.execute(sa.select(sa.func.count(Expert.id))).scalar_one()
        state = expert_index(app).rebuild(_profiles(session), position, total=total, progress=progress,
                                          unless_current=unless_current, workers=workers)
    finally:
        session.close()
    drain(app)
    return {"generation": state.generation, "documents": state.doc_count, "applied_outbox_id": state.applied_outbox_id}


def drain(app=None) -> int:
    """Apply outbox rows the index has not seen; returns how many rows were applied."""
    from experts_service.core.outbox import OutboxOp, SearchOutbox

    app = app or current_app
    index = expert_index(app)
    if not index.exists() or not index.is_current_schema():
        # Callers that queued behind one rebuild must not each build again.
        rebuild(app, unless_current=True)
        return 0
    session = _session(app)
    applied = 0
    try:
        position = index.applied_outbox_id()
        while True:
            rows = session.execute(
                sa.select(SearchOutbox).where(SearchOutbox.id > position).order_by(SearchOutbox.id).limit(DRAIN_BATCH)
            ).scalars().all()
            if not rows:
                break
            upsert_ids = {row.expert_id for row in rows if row.op is OutboxOp.UPSERT}
            delete_ids = {row.expert_id for row in rows if row.op is OutboxOp.DELETE} - upsert_ids
            profiles = list(_profiles(session, upsert_ids))
            add_vocabulary(keyword for profile in profiles for keyword in profile["keywords"])
            missing = upsert_ids - {profile["expert_id"] for profile in profiles}
            position = rows[-1].id
            index.apply(profiles, delete_ids | missing, position)
            applied += len(rows)
    finally:
        session.close()
    return applied


def drain_quietly(app) -> None:
    """After a commit: a failure here must not fail the request; the next drain retries."""
    try:
        drain(app)
    except Exception:  # noqa: BLE001 - logged, retried by the next drain or search
        log.exception("search index update failed; it will be retried")


def status(app=None) -> dict:
    """Index against database: documents, missing, stale, extra, outbox lag."""
    from experts_service.core.outbox import SearchOutbox
    from experts_service.experts.models import Expert

    app = app or current_app
    index = expert_index(app)
    session = _session(app)
    try:
        database = dict(session.execute(sa.select(Expert.id, Expert.version_id)).all())
        newest = session.execute(sa.select(sa.func.coalesce(sa.func.max(SearchOutbox.id), 0))).scalar_one()
    finally:
        session.close()
    if not index.exists():
        return {"exists": False, "database_experts": len(database), "outbox_newest": newest}
    state = index.state()
    stored = index.stored_versions()
    return {
        "exists": True,
        "generation": state.generation,
        "schema_current": index.is_current_schema(),
        "documents": state.doc_count,
        "database_experts": len(database),
        "missing": sorted(set(database) - set(stored)),
        "stale": sorted(i for i, version in stored.items() if i in database and database[i] != version),
        "extra": sorted(set(stored) - set(database)),
        "applied_outbox_id": state.applied_outbox_id,
        "outbox_newest": newest,
        "lag": newest - state.applied_outbox_id,
    }


def text_relevance(query_text: str, *, keywords: Sequence[str] = (), domains: Sequence[str] = (),
                   candidate_ids: Collection[int] | None = None, limit: int = 1000) -> dict[int, TextHit]:
    """Experts whose profiles match the item's text (and domain names), best first (dict keeps order)."""
    app = current_app
    drain(app)  # a search never answers from behind the committed data
    hits = search_query.search(expert_index(app).open(), query_text, keywords, domains, limit=limit)
    allowed = None if candidate_ids is None else set(candidate_ids)
    return {
        hit.expert_id: TextHit(hit.expert_id, hit.score, hit.raw_score, hit.standard_score, hit.standard_floor,
                               hit.matched_terms, hit.highlights)
        for hit in hits if allowed is None or hit.expert_id in allowed
    }


_installed = False


def install() -> None:
    """Outbox rows in every transaction; a drain after every commit that wrote some."""
    global _installed
    if _installed:
        return
    from flask_sqlalchemy.session import Session as FlaskSession

    from experts_service.core import outbox

    outbox.install(FlaskSession)

    @sa.event.listens_for(FlaskSession, "after_commit")
    def _drain_after_commit(session) -> None:
        if session.info.pop("outbox_dirty", False) and current_app.config["SEARCH_SYNC_ON_COMMIT"]:
            drain_quietly(current_app._get_current_object())

    @sa.event.listens_for(FlaskSession, "after_rollback")
    def _forget(session) -> None:
        session.info.pop("outbox_dirty", None)

    _installed = True
