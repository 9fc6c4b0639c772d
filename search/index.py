"""The expert index on disk: generations, incremental updates, atomic rebuild.

Layout under the index root:
    CURRENT                 name of the generation that answers queries
    gen-<stamp>/            a complete Whoosh index plus state.json
    gen-<stamp>.building/   a rebuild in progress (ignored by readers)

A rebuild writes a new generation aside and then replaces CURRENT in one
`os.replace`, so a reader sees either the old or the new index, never half
of one; a rebuild killed midway leaves only a `.building` directory that the
next rebuild removes. state.json records the last outbox row applied, so a
process that died after the database commit catches up on its next drain.
"""
from __future__ import annotations

import fcntl
import json
import os
import shutil
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

from whoosh import index as whoosh_index
from whoosh.query import Term

from search.bulk import build_generation
from search.schema import SCHEMA_VERSION, expert_schema, to_document

CURRENT_FILE = "CURRENT"
STATE_FILE = "state.json"
BUILDING_SUFFIX = ".building"
WRITER_LOCK_TIMEOUT_SECONDS = 30.0
WRITER_LOCK_POLL_SECONDS = 0.02
# Progress is reported every this many profiles.
REBUILD_BATCH = 2000
# Segments stay separate files: Whoosh copies a compound segment's parts into
# memory (BytesIO) every time a searcher opens it, a cost that grows with the pool.
COMPOUND_SEGMENTS = False

_process_write_lock = threading.Lock()


class IndexMissing(RuntimeError):
    """No generation has been built yet (run `flask search reindex`)."""


@dataclass(frozen=True)
class IndexState:
    generation: str
    applied_outbox_id: int
    doc_count: int


def _write_json_atomically(path: Path, payload: dict) -> None:
    temporary = path.with_name(path.name + f".tmp{os.getpid()}")
    temporary.write_text(json.dumps(payload), encoding="utf-8")
    os.replace(temporary, path)


class ExpertIndex:
    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)

    # ------------------------------------------------------------ generations
    def current_generation(self) -> str | None:
        try:
            name = (self.root / CURRENT_FILE).read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return None
        return name if name and (self.root / name).is_dir() else None

    def exists(self) -> bool:
        return self.current_generation() is not None

    def is_current_schema(self) -> bool:
        """False for a generation built by an older release: it must be rebuilt, not patched."""
        state = json.loads((self._current_dir() / STATE_FILE).read_text(encoding="utf-8"))
        return state.get("schema_version") == SCHEMA_VERSION

    def _current_dir(self) -> Path:
        name = self.current_generation()
        if name is None:
            raise IndexMissing(f"no search index under {self.root}")
        return self.root / name

    def open(self):
        return whoosh_index.open_dir(str(self._current_dir()))

    def state(self) -> IndexState:
        directory = self._current_dir()
        state = json.loads((directory / STATE_FILE).read_text(encoding="utf-8"))
        with self.open().searcher() as searcher:
            count = searcher.doc_count()
        return IndexState(directory.name, int(state["applied_outbox_id"]), count)

    def applied_outbox_id(self) -> int:
        """The newest outbox row applied (asked before every search: state.json alone, no searcher)."""
        if not self.exists():
            return 0
        state = json.loads((self._current_dir() / STATE_FILE).read_text(encoding="utf-8"))
        return int(state["applied_outbox_id"])

    # ---------------------------------------------------------- incremental
    def apply(self, upserts: Iterable[dict], deletes: Iterable[int], applied_outbox_id: int) -> int:
        """Write profile changes; returns documents written. Idempotent."""
        directory = self._current_dir()
        upserts, deletes = list(upserts), list(deletes)
        with _process_write_lock:
            ix = whoosh_index.open_dir(str(directory))
            writer = ix.writer(timeout=WRITER_LOCK_TIMEOUT_SECONDS, delay=WRITER_LOCK_POLL_SECONDS,
                               compound=COMPOUND_SEGMENTS)
            try:
                for expert_id in deletes:
                    writer.delete_by_term("expert_id", str(expert_id))
                for profile in upserts:
                    writer.update_document(**to_document(profile))
            except BaseException:
                writer.cancel()
                raise
            writer.commit()
            previous = json.loads((directory / STATE_FILE).read_text(encoding="utf-8"))
            _write_json_atomically(directory / STATE_FILE, {
                **previous, "applied_outbox_id": max(int(previous["applied_outbox_id"]), int(applied_outbox_id)),
            })
        return len(upserts) + len(deletes)

    # -------------------------------------------------------------- rebuild
    @contextmanager
    def _rebuild_lock(self) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / "rebuild.lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def rebuild(self, profiles: Iterable[dict], applied_outbox_id: int, total: int | None = None,
                progress: Callable[[int], None] | None = None, unless_current: bool = False,
                workers: int = 1) -> IndexState:
        """Build a new generation from `profiles`, then make it current atomically.

        `applied_outbox_id` is the newest outbox row the profiles already
        reflect (read before reading the profiles); rows after it are
        applied by the next drain. With `unless_current`, a current
        generation of this schema found once the lock is held is kept.
        """
        with self._rebuild_lock():
            if unless_current and self.exists() and self.is_current_schema():
                # Another process rebuilt while this one waited for the lock.
                return self.state()
            for stale in self.root.glob(f"gen-*{BUILDING_SUFFIX}"):
                shutil.rmtree(stale, ignore_errors=True)
            name = f"gen-{time.strftime('%Y%m%d%H%M%S')}-{time.monotonic_ns() % 10**9:09d}"
            building = self.root / f"{name}{BUILDING_SUFFIX}"
            building.mkdir(parents=True)
            ix = whoosh_index.create_in(str(building), expert_schema())
            # On failure the folder stays a .building one, removed by the next rebuild.
            build_generation(ix, profiles, workers=workers, total=total, progress=progress,
                             progress_every=REBUILD_BATCH)
            _write_json_atomically(building / STATE_FILE, {"applied_outbox_id": int(applied_outbox_id),
                                                           "schema_version": SCHEMA_VERSION})
            final = self.root / name
            os.replace(building, final)
            previous = self.current_generation()
            temporary = self.root / f"{CURRENT_FILE}.tmp{os.getpid()}"
            temporary.write_text(name, encoding="utf-8")
            os.replace(temporary, self.root / CURRENT_FILE)
            self._remove_old_generations(keep={name, previous})
        return self.state()

    def _remove_old_generations(self, keep: set[str | None]) -> None:
        # The previous generation stays one round: a reader may still hold it open.
        for directory in self.root.glob("gen-*"):
            if directory.is_dir() and directory.name not in keep and not directory.name.endswith(BUILDING_SUFFIX):
                shutil.rmtree(directory, ignore_errors=True)

    # --------------------------------------------------------------- status
    def stored_versions(self) -> dict[int, int]:
        """expert id -> profile version, for comparing the index with the database."""
        with self.open().searcher() as searcher:
            return {int(fields["expert_id"]): int(fields.get("version") or 0)
                    for fields in searcher.all_stored_fields()}

    def contains(self, expert_id: int) -> bool:
        with self.open().searcher() as searcher:
            return searcher.document_number(expert_id=str(expert_id)) is not None

    def has_term(self, field: str, text: str) -> bool:
        with self.open().searcher() as searcher:
            return bool(searcher.search(Term(field, text), limit=1))
