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
# How often a waiting worker checks that its parent (a killed rebuild) is still there.
WORKER_POLL_SECONDS = 1.0
# How often the parent, waiting for segments, checks that no worker died silently.
RESULT_POLL_SECONDS = 1.0
# How long to wait for a worker to exit once it has reported or been terminated.
JOIN_SECONDS = 5.0
# Each worker's segment is one more place for every term lookup to ask:
# more processes than this gain less in building than they cost in searching.
MAX_WORKERS = 4
# Posting blocks stored as they are: most terms are rare and their blocks a
# few bytes, which zlib (Whoosh's default, level 3) cannot shrink but costs
# time on every write and on every read. Each block records its own level,
# so segments written later by Whoosh's writer (compressed) read alongside.
POSTINGS_COMPRESSION = 0
_STOP = None
_SPACE_SEPARATED = SpaceSeparatedTokenizer()


def default_workers() -> int:
    """One per core this process may run on (a container's limit included), at most MAX_WORKERS."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, MAX_WORKERS))


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
        unsupported = [name for name in schema.names() if schema[name].vector or schema[name].separate_spelling()]
        if unsupported:  # term vectors and spelling words are not written here
            raise ValueError(f"bulk build does not write vectors or spelling for {unsupported}")
        self.token_fields = {name for name in schema.names() if schema[name].indexed and _is_token_field(schema[name])}
        # token field -> term -> (document numbers, frequencies)
        self.token_postings: dict[str, dict[str, tuple[array, array]]] = {name: {} for name in self.token_fields}
        # other indexed fields -> term bytes -> [(docnum, weight, value bytes)]
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


def _worker(number: int, parent: int, directory: str, indexname: str, inbox, outbox) -> None:
    from whoosh import index as whoosh_index

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
        outbox.put((number, "segment", builder.finish()))
    except BaseException as error:  # noqa: BLE001 - reported to the parent, which fails the rebuild
        outbox.put((number, "error", f"{type(error).__name__}: {error}"))


class BuildFailed(RuntimeError):
    """A worker could not write its segment."""


def build_generation(ix, profiles: Iterable[dict], workers: int = 1, total: int | None = None,
                     progress: Callable[[int], None] | None = None, progress_every: int = BATCH_SIZE) -> int:
    """Write every profile into the empty index `ix` and commit a table of
    contents listing the segments; returns how many profiles were written.

    In parallel (`workers` > 1 and `total` known and large enough), worker k
    takes the k-th contiguous share of the profiles and the segments are
    listed in that order, so document numbers follow the input's order
    exactly as a single writer's do (stage 1 breaks ties by document number):
    the same profiles give the same index whatever the number of workers.
    `progress` counts profiles read from `profiles`.
    """
    parallel = (workers > 1 and "fork" in multiprocessing.get_all_start_methods()
                and total is not None and total >= PARALLEL_MIN_DOCUMENTS)
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
        segments = _build_in_workers(ix, counted(profiles), workers, share=-(-total // workers))
    segments = [segment for segment in segments if segment.doc_count_all()]
    generation = ix.latest_generation() + 1
    TOC(ix.schema, segments, generation).write(ix.storage, ix.indexname)
    # Files of a segment that received no documents, and the empty index's TOC.
    clean_files(ix.storage, ix.indexname, generation, segments)
    if progress:
        progress(written)
    return written


def _build_in_workers(ix, profiles: Iterable[dict], workers: int, share: int) -> list:
    """Worker k gets profiles k*share .. (k+1)*share - 1 (the last one any beyond).

    The inboxes are unbounded: the reader hands the first share over as fast
    as it reads, so the next worker starts early instead of waiting for the
    first to work through its share (the backlog is held in memory meanwhile).
    Workers are forked while the caller may hold a database connection; they
    never use it and leave through os._exit (multiprocessing's fork start),
    so it is not touched.
    """
    context = multiprocessing.get_context("fork")
    outbox = context.Queue()
    inboxes = [context.Queue() for _ in range(workers)]
    parent = os.getpid()
    processes = [context.Process(target=_worker, args=(number, parent, ix.storage.folder, ix.indexname, inbox, outbox),
                                 daemon=True)
                 for number, inbox in enumerate(inboxes)]
    for process in processes:
        process.start()
    results: dict[int, tuple[str, object]] = {}

    def record(message) -> None:
        number, kind, detail = message
        results[number] = (kind, detail)
        if kind == "error":
            raise BuildFailed(f"search build worker {number}: {detail}")

    def hand_over(owner: int, items: list) -> None:
        inboxes[owner].put(items)
        # A worker that failed says so at once: stop reading the rest of the pool.
        while True:
            try:
                message = outbox.get_nowait()
            except queue.Empty:
                return
            record(message)

    try:
        batch, turn = [], 0
        for position, profile in enumerate(profiles):
            owner = min(position // share, workers - 1)
            if owner != turn and batch:
                hand_over(turn, batch)
                batch = []
            turn = owner
            batch.append(profile)
            if len(batch) >= BATCH_SIZE:
                hand_over(turn, batch)
                batch = []
        if batch:
            hand_over(turn, batch)
        for inbox in inboxes:
            inbox.put(_STOP)
        while len(results) < workers:
            try:
                message = outbox.get(timeout=RESULT_POLL_SECONDS)
            except queue.Empty:
                silent = [n for n, p in enumerate(processes) if not p.is_alive() and n not in results]
                if not silent:
                    continue
                try:  # a result sent just before its worker exited
                    message = outbox.get(timeout=RESULT_POLL_SECONDS)
                except queue.Empty:
                    raise BuildFailed(f"search build workers {silent} ended without writing their segment") from None
            record(message)
    except BaseException:
        for inbox in inboxes:
            # Batches no worker will read must not keep this process from exiting.
            inbox.cancel_join_thread()
        for process in processes:
            if process.is_alive():
                process.terminate()
        raise
    finally:
        for process in processes:
            process.join(timeout=JOIN_SECONDS)
    return [results[number][1] for number in range(workers)]
