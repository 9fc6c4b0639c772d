"""The full build of a generation, written straight through Whoosh's codec.

Whoosh's own writer sends every posting of every document through a sorting
pool (tuples spilled to temporary files and merged) before the codec writes
it. For a rebuild none of that is needed: documents arrive in document-number
order, so the postings of each term only have to be gathered in memory and
handed to the codec's field writer in term order at the end. The files are
the codec's own (the same W3 segment Whoosh would write), so every reader,
the incremental writer and merges work on them unchanged;
tests/test_search_bulk.py checks a bulk-built index against one built by
Whoosh's writer, term by term.

The work is split across worker processes (forked, so they share the
process-wide jieba dictionary the caller loaded): each analyses its share of
the profiles and writes one segment; the caller lists the segments in a new
table of contents. The pre-analysed token fields of search.schema take the
fast path (a Counter of the space-separated tokens); any other indexed
field goes through the field's own `index()`, as in Whoosh.
"""
from __future__ import annotations

import multiprocessing
import os
import queue
from array import array
from collections import Counter
from typing import Callable, Iterable

from whoosh.analysis import SpaceSeparatedTokenizer
from whoosh.codec.whoosh3 import W3Codec
from whoosh.formats import Frequency
from whoosh.index import TOC, clean_files
from whoosh.system import pack_uint
from whoosh.util.numeric import byte_to_length, length_to_byte

from search.schema import to_document

# Profiles per message to a worker: large enough that pickling is cheap per
# profile, small enough that the workers start early and progress is smooth.
BATCH_SIZE = 500
# Below this many documents one process is quicker than starting workers.
PARALLEL_MIN_DOCUMENTS = 4000
# A worker whose parent died (a killed rebuild) stops instead of waiting forever.
WORKER_POLL_SECONDS = 1.0
# The pipe to each worker holds a few batches, so a slow worker throttles the reader.
QUEUE_BATCHES = 4
# Posting blocks stored as they are: most terms are rare and their blocks a
# few bytes, which zlib (Whoosh's default, level 3) cannot shrink but costs
# time on every write and on every read. Each block records its own level,
# so segments written later by Whoosh's writer (compressed) read alongside.
POSTINGS_COMPRESSION = 0
_STOP = None
_SPACE_SEPARATED = SpaceSeparatedTokenizer()


def default_workers() -> int:
    return max(1, os.cpu_count() or 1)


def _is_token_field(field) -> bool:
    """Pre-analysed, space-separated tokens with frequencies: the fast path applies."""
    return (field.analyzer == _SPACE_SEPARATED and type(field.format) is Frequency
            and field.format.field_boost == 1.0 and field.scorable)


class SegmentBuilder:
    """One new segment of an index, from whole documents in document order."""

    def __init__(self, storage, schema, indexname: str):
        self.storage = storage
        self.schema = schema
        self.codec = W3Codec(compression=POSTINGS_COMPRESSION)
        self.segment = self.codec.new_segment(storage, indexname)
        self.perdoc = self.codec.per_document_writer(storage, self.segment)
        self.docnum = 0
        self.token_fields = {name for name in schema.names() if schema[name].indexed and _is_token_field(schema[name])}
        # token field -> term -> (document numbers, frequencies)
        self.token_postings: dict[str, dict[str, tuple[array, array]]] = {name: {} for name in self.token_fields}
        # other indexed fields -> term bytes -> [(docnum, weight, value bytes, length)]
        self.other_postings: dict[str, dict[bytes, list]] = {
            name: {} for name in schema.names() if schema[name].indexed and name not in self.token_fields}
        # field -> stored length of each document (as the per-document reader will report it)
        self.lengths: dict[str, array] = {name: array("I") for name in self.token_fields}

    def add(self, document: dict) -> None:
        docnum = self.docnum
        schema = self.schema
        self.perdoc.start_doc(docnum)
        for lengths in self.lengths.values():
            lengths.append(0)
        for name in sorted(document):
            value = document[name]
            if value is None:
                continue
            field = schema[name]
            length = 0
            if name in self.token_fields:
                tokens = _SPACE_SEPARATED.expression.findall(value)
                length = len(tokens)
                self.lengths[name][docnum] = _stored_length(length)
                table = self.token_postings[name]
                for term, frequency in Counter(tokens).items():
                    entry = table.get(term)
                    if entry is None:
                        entry = table[term] = (array("I"), array("I"))
                    entry[0].append(docnum)
                    entry[1].append(frequency)
            elif field.indexed:
                table = self.other_postings[name]
                for term_bytes, frequency, weight, value_bytes in field.index(value):
                    if field.scorable:
                        length += frequency
                    table.setdefault(term_bytes, []).append((docnum, weight, value_bytes))
            self.perdoc.add_field(name, field, value if field.stored else None, length)
            if field.column_type:
                self.perdoc.add_column_value(name, field.column_type, field.to_column_value(value))
        self.perdoc.finish_doc()
        self.docnum += 1

    def finish(self):
        """Write the postings in field and term order; returns the segment (picklable)."""
        self.perdoc.close()
        writer = self.codec.field_writer(self.storage, self.segment)
        try:
            for name in sorted(self.token_fields | set(self.other_postings)):
                writer.start_field(name, self.schema[name])
                if name in self.token_fields:
                    self._write_token_field(writer, name)
                else:
                    for term_bytes in sorted(self.other_postings[name]):
                        writer.start_term(term_bytes)
                        for docnum, weight, value_bytes in self.other_postings[name][term_bytes]:
                            writer.add(docnum, weight, value_bytes or b"", 0)
                        writer.finish_term()
                writer.finish_field()
        finally:
            writer.close()
        self.segment.set_doc_count(self.docnum)
        return self.segment

    def _write_token_field(self, writer, name: str) -> None:
        lengths = self.lengths[name]
        table = self.token_postings[name]
        encoded: dict[int, bytes] = {}  # frequency -> its value bytes; a handful of distinct values
        for term_bytes, term in sorted((term.encode("utf-8"), term) for term in table):
            documents, frequencies = table[term]
            writer.start_term(term_bytes)
            _add_postings(writer._postwriter, documents, frequencies, lengths, encoded)
            writer.finish_term()


def _add_postings(postings_writer, documents: array, frequencies: array, lengths: array,
                  encoded: dict[int, bytes]) -> None:
    """What W3PostingsWriter.add_posting does once per posting, done a block at a time.

    It fills the writer's block buffers directly (whoosh-reloaded 2.7.5's
    W3PostingsWriter; the version is pinned and tests/test_search_bulk.py
    compares the result with Whoosh's own writer): per posting that loop was
    most of a rebuild's time.
    """
    limit = postings_writer._blocklimit
    for start in range(0, len(documents), limit):
        if len(postings_writer._ids) >= limit:
            postings_writer._write_block()
        block_documents = documents[start:start + limit]
        block_frequencies = frequencies[start:start + limit]
        values = []
        for frequency in block_frequencies:
            value = encoded.get(frequency)
            if value is None:
                value = encoded[frequency] = pack_uint(frequency)
            values.append(value)
        block_lengths = [lengths[docnum] for docnum in block_documents if lengths[docnum]]
        postings_writer._ids.extend(block_documents)
        postings_writer._weights.extend(array("f", block_frequencies))
        postings_writer._values.extend(values)
        postings_writer._maxweight = max(postings_writer._maxweight, float(max(block_frequencies)))
        if block_lengths:
            low, high = min(block_lengths), max(block_lengths)
            if postings_writer._minlength is None or low < postings_writer._minlength:
                postings_writer._minlength = low
            postings_writer._maxlength = max(postings_writer._maxlength, high)


def _stored_length(length: int) -> int:
    # Whoosh keeps a field length as one byte; readers see the rounded value,
    # and the stock writer gives the postings writer that same value.
    return byte_to_length(length_to_byte(length)) if length else 0


def build_segment(storage, schema, indexname: str, profiles: Iterable[dict]):
    builder = SegmentBuilder(storage, schema, indexname)
    for profile in profiles:
        builder.add(to_document(profile))
    return builder.finish()


def _worker(directory: str, indexname: str, inbox, outbox) -> None:
    from whoosh import index as whoosh_index

    parent = os.getppid()
    try:
        ix = whoosh_index.open_dir(directory, indexname=indexname)
        builder = SegmentBuilder(ix.storage, ix.schema, indexname)
        while True:
            try:
                batch = inbox.get(timeout=WORKER_POLL_SECONDS)
            except queue.Empty:
                if os.getppid() != parent:
                    return  # the rebuild was killed; its folder is removed by the next one
                continue
            if batch is _STOP:
                break
            for profile in batch:
                builder.add(to_document(profile))
        outbox.put(("segment", builder.finish()))
    except BaseException as error:  # noqa: BLE001 - reported to the parent, which fails the rebuild
        outbox.put(("error", f"{type(error).__name__}: {error}"))


class BuildFailed(RuntimeError):
    """A worker could not write its segment."""


def build_generation(ix, profiles: Iterable[dict], workers: int = 1, total: int | None = None,
                     progress: Callable[[int], None] | None = None, progress_every: int = BATCH_SIZE) -> int:
    """Write every profile into the empty index `ix` (one segment per worker)
    and commit a table of contents listing the segments. Returns the documents written."""
    parallel = (workers > 1 and "fork" in multiprocessing.get_all_start_methods()
                and (total is None or total >= PARALLEL_MIN_DOCUMENTS))
    written = 0

    def counted(items):
        nonlocal written
        for item in items:
            yield item
            written += 1
            if progress and written % progress_every == 0:
                progress(written)

    if not parallel:
        segments = [build_segment(ix.storage, ix.schema, ix.indexname, counted(profiles))]
    else:
        segments = _build_in_workers(ix, counted(profiles), workers)
    segments = [segment for segment in segments if segment.doc_count_all()]
    generation = ix.latest_generation() + 1
    TOC(ix.schema, segments, generation).write(ix.storage, ix.indexname)
    # Files of a segment that received no documents, and the empty index's TOC.
    clean_files(ix.storage, ix.indexname, generation, segments)
    if progress:
        progress(written)
    return written


def _build_in_workers(ix, profiles: Iterable[dict], workers: int) -> list:
    context = multiprocessing.get_context("fork")
    outbox = context.Queue()
    inboxes = [context.Queue(maxsize=QUEUE_BATCHES) for _ in range(workers)]
    processes = [context.Process(target=_worker, args=(ix.storage.folder, ix.indexname, inbox, outbox), daemon=True)
                 for inbox in inboxes]
    for process in processes:
        process.start()

    def alive_or_fail() -> None:
        dead = [p.exitcode for p in processes if not p.is_alive()]
        if dead:
            try:  # a worker that failed said why before it ended
                kind, detail = outbox.get(timeout=WORKER_POLL_SECONDS)
            except queue.Empty:
                kind, detail = "error", f"exit codes {dead}"
            raise BuildFailed(f"a search build worker ended early: {detail if kind == 'error' else dead}")

    def send(turn: int, item) -> None:
        while True:
            try:
                inboxes[turn % workers].put(item, timeout=WORKER_POLL_SECONDS)
                return
            except queue.Full:
                alive_or_fail()

    results = []
    try:
        batch, turn = [], 0
        for profile in profiles:
            batch.append(profile)
            if len(batch) >= BATCH_SIZE:
                # Whole batches in turn, so both workers are busy from the start.
                send(turn, batch)
                batch, turn = [], turn + 1
        if batch:
            send(turn, batch)
        for number in range(workers):
            send(number, _STOP)
        while len(results) < workers:
            try:
                results.append(outbox.get(timeout=WORKER_POLL_SECONDS))
            except queue.Empty:
                # A worker that reported and exited is fine; one that died silently is not.
                if sum(1 for p in processes if p.is_alive()) < workers - len(results):
                    try:  # a result sent just before its worker exited
                        results.append(outbox.get(timeout=WORKER_POLL_SECONDS))
                    except queue.Empty:
                        raise BuildFailed("a search build worker ended without writing its segment") from None
    finally:
        for process in processes:
            process.join(timeout=WORKER_POLL_SECONDS)
            if process.is_alive():
                process.terminate()
    errors = [detail for kind, detail in results if kind == "error"]
    if errors:
        raise BuildFailed("; ".join(errors))
    return [segment for kind, segment in results]
