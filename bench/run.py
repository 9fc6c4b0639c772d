"""Search performance at pool sizes of up to 100,000 experts, ours against the stock baseline.

    python -m bench.run --sizes 10000 100000 --queries 200 --out bench/results/RESULTS.json

For every size, and for OUR index (search.index.ExpertIndex + search.query.search)
and the STOCK baseline (shared/eval/baseline.py's Chinese BM25F: one document per
expert, fields `titles` = all profile text and `disciplines` = domain names, the
stock jieba ChineseAnalyzer, the query's distinct terms OR-ed over both fields,
limit 100), it measures:

- full build: ours ExpertIndex.rebuild into a temporary folder (including the
  jieba vocabulary the service loads first); stock create_in + add_document + commit;
- query latency p50/p95/p99 over the decision items (warm-up queries excluded);
  ours search(ix, text, keywords, domains, limit=1000), stock as baseline.py;
- update latency: from "commit" (ours ExpertIndex.apply with one changed
  profile, as the outbox drain does; stock update_document + commit) until a
  search finds the change;
- ours only, when experts_service/panels/matcher.py exists: the full
  recommendation on plain data (bench.recommendation): filters, text
  relevance of the qualified experts, rank, compose.

Each (system, size) runs in a child process of its own, so memory is returned
and jieba's process-wide dictionary (ours adds the domain vocabulary to it)
never leaks into the stock measurement. The profiles and decision items come
from `bench.generate` (deterministic for --seed).
"""
from __future__ import annotations

import argparse
import gc
import inspect
import json
import logging
import math
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import recommendation
from bench.generate import DEFAULT_SEED, DOMAINS, generate_profiles, generate_queries, load_corpus

OURS, STOCK = "ours", "stock"
SYSTEMS = (OURS, STOCK)
DEFAULT_SIZES = (10_000, 100_000)
DEFAULT_QUERIES = 200
WARMUP_QUERIES = 10
DEFAULT_UPDATES = 30
# Full recommendations (matcher + text relevance) per size; each walks the whole pool.
DEFAULT_RECOMMENDATIONS = 50
WARMUP_RECOMMENDATIONS = 2
RECOMMENDATION_PARTS = ("filters", "text", "rank", "compose", "total")
RECOMMENDATION_PATHS = (recommendation.COLUMNS, recommendation.PROFILES)
OUR_RESULT_LIMIT = 1000
STOCK_RESULT_LIMIT = 100
STOCK_FIELDS = ("titles", "disciplines")
STOCK_WRITER_LIMIT_MB = 512  # as baseline.py
# How long an update may take to become searchable before it counts as never.
UPDATE_VISIBILITY_TIMEOUT_SECONDS = 10.0
UPDATE_POLL_SECONDS = 0.005
PERCENTILES = (50, 95, 99)
PROGRESS_EVERY = 20_000
BYTES_PER_MB = 1024 * 1024
KB_PER_MB = 1024

# Targets of the issue, checked at this pool size.
TARGET_POOL_SIZE = 100_000
TARGET_QUERY_P95_MS = 100.0
TARGET_FULL_BUILD_SECONDS = 120.0
TARGET_UPDATE_VISIBLE_P95_MS = 1000.0

# Marker words for updates: unique, so a search finds exactly the changed expert.
MARKER_PREFIX = "评审验证"
HEAVENLY_STEMS = "甲乙丙丁戊己庚辛壬癸"
EARTHLY_BRANCHES = "子丑寅卯辰巳午未申酉戌亥"

log = logging.getLogger("bench")


# ----------------------------------------------------------------------------- statistics
def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def summary_ms(seconds: list[float]) -> dict:
    milliseconds = [s * 1000 for s in seconds]
    result = {f"p{p}_ms": round(percentile(milliseconds, p), 2) for p in PERCENTILES}
    result["mean_ms"] = round(sum(milliseconds) / len(milliseconds), 2) if milliseconds else float("nan")
    result["max_ms"] = round(max(milliseconds), 2) if milliseconds else float("nan")
    result["count"] = len(milliseconds)
    return result


def directory_mb(path: Path) -> float:
    return round(sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / BYTES_PER_MB, 1)


def marker_word(number: int) -> str:
    cycle = len(HEAVENLY_STEMS) * len(EARTHLY_BRANCHES)
    stem = HEAVENLY_STEMS[number % len(HEAVENLY_STEMS)]
    branch = EARTHLY_BRANCHES[number % len(EARTHLY_BRANCHES)]
    return f"{MARKER_PREFIX}{stem}{branch}" + ("" if number < cycle else str(number // cycle))


def changed_profile(profile: dict, marker: str) -> dict:
    """The profile after an edit: a new keyword, the version bumped."""
    return {**profile, "version": int(profile.get("version") or 0) + 1,
            "keywords": [*profile.get("keywords", []), marker]}


# ----------------------------------------------------------------------------- our index
class OurSystem:
    name = OURS

    def __init__(self, root: Path):
        from search.analysis import add_vocabulary
        from search.index import ExpertIndex
        from search.query import search

        self.index = ExpertIndex(root)
        self.search = search
        self.add_vocabulary = add_vocabulary
        self.ix = None

    def build(self, profiles: list[dict]) -> dict:
        started = time.perf_counter()
        # As search_bridge.rebuild: domain names and every expert keyword stay whole.
        self.add_vocabulary(DOMAINS)
        self.add_vocabulary(keyword for profile in profiles for keyword in profile["keywords"])
        vocabulary_done = time.perf_counter()
        options = {"applied_outbox_id": 0}
        parameters = inspect.signature(self.index.rebuild).parameters
        if "total" in parameters:
            options["total"] = len(profiles)
        if "progress" in parameters:
            options["progress"] = lambda written: (written % PROGRESS_EVERY == 0) and log.info("  %d written", written)
        if "workers" in parameters:
            from search.bulk import default_workers

            options["workers"] = default_workers()  # as `flask search reindex`
        state = self.index.rebuild(iter(profiles), **options)
        finished = time.perf_counter()
        self.ix = self.index.open()
        return {"build_s": round(finished - started, 2), "vocabulary_s": round(vocabulary_done - started, 2),
                "rebuild_s": round(finished - vocabulary_done, 2), "documents": state.doc_count,
                "index_mb": directory_mb(self.index.root)}

    def query(self, item: dict) -> list[int]:
        # As search_bridge.text_relevance calls it: the item's text, keywords and domain names.
        hits = self.search(self.ix, item["text"], item["keywords"], item["domains"], limit=OUR_RESULT_LIMIT)
        return [hit.expert_id for hit in hits]

    def service_overhead(self) -> None:
        """What search_bridge.text_relevance does per query besides search(): the
        outbox position check of drain() and opening the current generation."""
        self.index.applied_outbox_id()
        self.index.open()

    def text_relevance(self, text: str, keywords: list[str], domains: list[str], limit: int):
        """search_bridge.text_relevance without the database: drain's position check,
        the current generation opened, search() with the caller's limit."""
        self.index.applied_outbox_id()
        return self.search(self.index.open(), text, keywords, domains, limit=limit)

    def update(self, profile: dict, outbox_id: int) -> None:
        self.add_vocabulary(profile["keywords"])  # as search_bridge.drain
        self.index.apply([profile], [], outbox_id)

    def visible(self, marker: str, expert_id: int) -> bool:
        # As search_bridge.text_relevance: the current generation opened per search.
        hits = self.search(self.index.open(), marker, [marker], limit=OUR_RESULT_LIMIT)
        return any(hit.expert_id == expert_id for hit in hits)


# ----------------------------------------------------------------------------- stock baseline
def stock_document(profile: dict) -> dict:
    """baseline.py's Chinese document: `titles` = all profile text, `disciplines` = domain names."""
    text = [*profile["keywords"], *profile["domains"], profile["title"], profile["position"],
            profile["employer"], profile["bio"], *profile["achievements"]]
    return {"expert_id": str(profile["expert_id"]),
            "titles": "\n".join(t for t in text if t),
            "disciplines": " ".join(profile["domains"])}


class StockSystem:
    name = STOCK

    def __init__(self, root: Path):
        from jieba.analyse import ChineseAnalyzer
        from whoosh import scoring

        self.root = root
        self.analyzer = ChineseAnalyzer()
        self.weighting = scoring.BM25F()
        self.ix = None
        self.searcher = None
        self.ids: list[str] = []

    def build(self, profiles: list[dict]) -> dict:
        from whoosh import index
        from whoosh.fields import ID, TEXT, Schema

        self.root.mkdir(parents=True, exist_ok=True)
        schema = Schema(expert_id=ID(stored=True, unique=True),
                        **{field: TEXT(analyzer=self.analyzer) for field in STOCK_FIELDS})
        started = time.perf_counter()
        self.ix = index.create_in(str(self.root), schema)
        writer = self.ix.writer(limitmb=STOCK_WRITER_LIMIT_MB)
        for written, profile in enumerate(profiles, start=1):
            writer.add_document(**stock_document(profile))
            if written % PROGRESS_EVERY == 0:
                log.info("  %d written", written)
        writer.commit()
        finished = time.perf_counter()
        self._open_searcher()
        return {"build_s": round(finished - started, 2), "documents": self.searcher.doc_count(),
                "index_mb": directory_mb(self.root)}

    def _open_searcher(self) -> None:
        if self.searcher is not None:
            self.searcher.close()
        self.searcher = self.ix.searcher(weighting=self.weighting)
        # As baseline.py: document number -> expert id, read once per searcher.
        self.ids = [self.searcher.stored_fields(n)["expert_id"] for n in range(self.searcher.doc_count_all())]

    def _top(self, searcher, text: str):
        from whoosh.query import Or, Term

        terms = list(dict.fromkeys(token.text for token in self.analyzer(text)))
        if not terms:
            return None
        return searcher.search(Or([Term(f, t) for t in terms for f in STOCK_FIELDS]), limit=STOCK_RESULT_LIMIT)

    def query(self, item: dict) -> list[int]:
        # baseline.py analyses the item's text plus its discipline; here the text, keywords and domain names.
        results = self._top(self.searcher, " ".join([item["text"], *item["keywords"], *item["domains"]]))
        return [int(self.ids[number]) for _score, number in results.top_n] if results else []

    def service_overhead(self) -> None:
        return None

    def update(self, profile: dict, outbox_id: int) -> None:
        writer = self.ix.writer()
        writer.update_document(**stock_document(profile))
        writer.commit()

    def visible(self, marker: str, expert_id: int) -> bool:
        # A new searcher sees the commit (baseline.py keeps one for a whole run);
        # the ids of the hits are read from their stored fields.
        with self.ix.searcher(weighting=self.weighting) as searcher:
            results = self._top(searcher, marker)
            return bool(results) and any(int(hit["expert_id"]) == expert_id for hit in results)


# ----------------------------------------------------------------------------- one measurement
def measure_recommendations(system: OurSystem, profiles: list[dict], items: list[dict], seed: int) -> dict:
    """Each item recommended on both paths of bench.recommendation, alternating, from the same kept pool."""
    bench = recommendation.RecommendationBench(profiles, seed)
    timings: dict[str, list] = {path: [] for path in RECOMMENDATION_PATHS}
    shapes = []
    for number, item in enumerate(items):
        prepared = bench.request(item)
        runs = {}
        for path in RECOMMENDATION_PATHS:
            # A full collection left due by the previous run's allocations would land here.
            gc.collect()
            runs[path] = bench.recommend(item, system.text_relevance, prepared, path)
        panels = {path: shape["panel"] for path, (_timing, shape) in runs.items()}
        if len(set(map(tuple, panels.values()))) != 1:
            raise AssertionError(f"the paths disagree on item {item['query_id']}: {panels}")
        if number >= WARMUP_RECOMMENDATIONS:
            for path, (timing, _shape) in runs.items():
                timings[path].append(timing)
            shapes.append(runs[recommendation.COLUMNS][1])
    result = {part: summary_ms([getattr(t, part) for t in timings[recommendation.COLUMNS]])
              for part in RECOMMENDATION_PARTS}
    result["profiles_path"] = {part: summary_ms([getattr(t, part) for t in timings[recommendation.PROFILES]])
                               for part in RECOMMENDATION_PARTS}
    result["mean_qualified"] = round(sum(s["qualified"] for s in shapes) / len(shapes), 1)
    result["mean_text_hits"] = round(sum(s["text_hits"] for s in shapes) / len(shapes), 1)
    result["compliant_share"] = round(sum(s["compliant"] for s in shapes) / len(shapes), 3)
    return result


def measure(system_name: str, size: int, query_count: int, update_count: int, recommendation_count: int, seed: int,
            data_dir: str | None, work_dir: Path) -> dict:
    import jieba

    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()  # loading the dictionary (about a second) is not part of any measurement

    started = time.perf_counter()
    corpus = load_corpus(data_dir, seed)
    profiles = list(generate_profiles(size, seed, corpus=corpus))
    items = generate_queries(query_count + WARMUP_QUERIES, seed, corpus=corpus)
    warmup, queries = items[:WARMUP_QUERIES], items[WARMUP_QUERIES:]
    result: dict = {"system": system_name, "size": size, "generate_s": round(time.perf_counter() - started, 2)}
    log.info("[%s %d] %d profiles and %d items generated in %.1f s", system_name, size, size, len(items),
             result["generate_s"])

    system = OurSystem(work_dir / OURS) if system_name == OURS else StockSystem(work_dir / STOCK)
    result["build"] = system.build(profiles)
    log.info("[%s %d] built in %.1f s", system_name, size, result["build"]["build_s"])

    for item in warmup:
        system.query(item)
    latencies, hit_counts, overheads = [], [], []
    for item in queries:
        begun = time.perf_counter()
        hits = system.query(item)
        latencies.append(time.perf_counter() - begun)
        hit_counts.append(len(hits))
        if system_name == OURS:
            begun = time.perf_counter()
            system.service_overhead()
            overheads.append(time.perf_counter() - begun)
    result["query"] = {**summary_ms(latencies), "mean_hits": round(sum(hit_counts) / len(hit_counts), 1)}
    if overheads:
        result["service_overhead"] = summary_ms(overheads)
    log.info("[%s %d] queries p50 %.1f ms, p95 %.1f ms", system_name, size, result["query"]["p50_ms"],
             result["query"]["p95_ms"])

    if system_name == OURS and recommendation_count and recommendation.available():
        chosen = (warmup[:WARMUP_RECOMMENDATIONS] + queries)[:recommendation_count + WARMUP_RECOMMENDATIONS]
        result["recommendation"] = measure_recommendations(system, profiles, chosen, seed)
        log.info("[%s %d] full recommendations p50 %.1f ms, p95 %.1f ms", system_name, size,
                 result["recommendation"]["total"]["p50_ms"], result["recommendation"]["total"]["p95_ms"])

    rng = random.Random(f"{seed}:updates:{size}")
    visible_after, invisible = [], 0
    for number in range(update_count):
        expert_id = rng.randint(1, size)
        marker = marker_word(number)
        profile = changed_profile(profiles[expert_id - 1], marker)
        begun = time.perf_counter()
        system.update(profile, outbox_id=number + 1)
        while not system.visible(marker, expert_id):
            if time.perf_counter() - begun > UPDATE_VISIBILITY_TIMEOUT_SECONDS:
                invisible += 1
                break
            time.sleep(UPDATE_POLL_SECONDS)
        else:
            visible_after.append(time.perf_counter() - begun)
        profiles[expert_id - 1] = profile
    result["update"] = {**summary_ms(visible_after), "never_visible": invisible}
    log.info("[%s %d] updates searchable after p50 %.1f ms, p95 %.1f ms", system_name, size,
             result["update"]["p50_ms"], result["update"]["p95_ms"])
    return result


def run_worker(args) -> None:
    work_dir = Path(args.keep_index) / f"{args.worker}-{args.size}" if args.keep_index else Path(
        tempfile.mkdtemp(prefix=f"bench-{args.worker}-{args.size}-"))
    if work_dir.exists() and args.keep_index:
        shutil.rmtree(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    try:
        result = measure(args.worker, args.size, args.queries, args.updates, args.recommendations, args.seed,
                         args.data, work_dir)
    finally:
        if not args.keep_index:
            shutil.rmtree(work_dir, ignore_errors=True)
    Path(args.result_file).write_text(json.dumps(result, ensure_ascii=False), encoding="utf-8")


# ----------------------------------------------------------------------------- parent: run, compare, report
def run_child(system_name: str, size: int, args) -> dict:
    with tempfile.NamedTemporaryFile(prefix="bench-result-", suffix=".json", delete=False) as handle:
        result_file = handle.name
    command = [sys.executable, "-m", "bench.run", "--worker", system_name, "--size", str(size),
               "--queries", str(args.queries), "--updates", str(args.updates),
               "--recommendations", str(args.recommendations), "--seed", str(args.seed),
               "--result-file", result_file]
    if args.data:
        command += ["--data", args.data]
    if args.keep_index:
        command += ["--keep-index", args.keep_index]
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=Path(__file__).resolve().parents[1])
    _pid, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    try:
        if process.returncode != 0:
            raise SystemExit(f"{system_name} at {size} failed with exit code {process.returncode}")
        result = json.loads(Path(result_file).read_text(encoding="utf-8"))
    finally:
        os.unlink(result_file)
    result["peak_rss_mb"] = round(usage.ru_maxrss / KB_PER_MB)  # ru_maxrss is in KiB on Linux
    result["wall_s"] = round(time.perf_counter() - started, 1)
    return result


ROWS = (  # (label, path into a result, unit, whether ours/stock is a meaningful ratio)
    ("full build", ("build", "build_s"), "s", True),
    ("query p50", ("query", "p50_ms"), "ms", True),
    ("query p95", ("query", "p95_ms"), "ms", True),
    ("query p99", ("query", "p99_ms"), "ms", True),
    ("update searchable p50", ("update", "p50_ms"), "ms", True),
    ("update searchable p95", ("update", "p95_ms"), "ms", True),
    ("update searchable max", ("update", "max_ms"), "ms", True),
    ("hits per query, mean (limit 1000 / 100)", ("query", "mean_hits"), "", False),
    ("full recommendation p50", ("recommendation", "total", "p50_ms"), "ms", False),
    ("full recommendation p95", ("recommendation", "total", "p95_ms"), "ms", False),
    ("– of which filters, p95", ("recommendation", "filters", "p95_ms"), "ms", False),
    ("– of which text relevance, p95", ("recommendation", "text", "p95_ms"), "ms", False),
    ("– of which rank, p95", ("recommendation", "rank", "p95_ms"), "ms", False),
    ("– of which compose, p95", ("recommendation", "compose", "p95_ms"), "ms", False),
    ("full recommendation p95, profile path (the definition)", ("recommendation", "profiles_path", "total", "p95_ms"),
     "ms", False),
    ("– of which filters (making every profile, sweep), p95",
     ("recommendation", "profiles_path", "filters", "p95_ms"), "ms", False),
    ("text hits per recommendation, mean", ("recommendation", "mean_text_hits"), "", False),
    ("service path per query: open index + outbox check, p95", ("service_overhead", "p95_ms"), "ms", False),
    ("index on disk", ("build", "index_mb"), "MB", True),
    ("peak memory (RSS)", ("peak_rss_mb",), "MB", True),
)


def lookup(result: dict, path: tuple[str, ...]):
    value = result
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def comparison(results: dict[int, dict[str, dict]]) -> dict:
    """size -> row label -> {ours, stock, ratio (ours/stock)}."""
    table = {}
    for size, by_system in results.items():
        rows = {}
        for label, path, unit, comparable in ROWS:
            ours, stock = lookup(by_system.get(OURS, {}), path), lookup(by_system.get(STOCK, {}), path)
            numbers = isinstance(ours, (int, float)) and isinstance(stock, (int, float)) and stock
            ratio = round(ours / stock, 3) if comparable and numbers else None
            rows[label] = {"ours": ours, "stock": stock, "ratio": ratio, "unit": unit}
        table[size] = rows
    return table


def targets(results: dict[int, dict[str, dict]]) -> list[dict]:
    ours = results.get(TARGET_POOL_SIZE, {}).get(OURS)
    checks = (
        ("full recommendation p95 (matcher + text relevance)", ("recommendation", "total", "p95_ms"),
         TARGET_QUERY_P95_MS, "ms"),
        ("text relevance alone p95 (search, limit 1000)", ("query", "p95_ms"), TARGET_QUERY_P95_MS, "ms"),
        ("full reindex", ("build", "build_s"), TARGET_FULL_BUILD_SECONDS, "s"),
        ("update searchable after commit, p95", ("update", "p95_ms"), TARGET_UPDATE_VISIBLE_P95_MS, "ms"),
    )
    verdicts = []
    for label, path, limit, unit in checks:
        measured = lookup(ours, path) if ours else None
        if ours and label.startswith("update") and ours["update"].get("never_visible"):
            measured = float("inf")
        verdicts.append({"target": label, "size": TARGET_POOL_SIZE, "limit": limit, "unit": unit,
                         "measured": measured,
                         "verdict": "n/a" if measured is None else ("PASS" if measured <= limit else "FAIL")})
    return verdicts


def format_number(value) -> str:
    if value is None:
        return "–"
    if isinstance(value, float) and math.isinf(value):
        return "never"
    if isinstance(value, float):
        return f"{value:,.1f}" if abs(value) >= 10 else f"{value:,.2f}"
    return f"{value:,}"


def render(table: dict, verdicts: list[dict], scope_note: str) -> str:
    sizes = sorted(table)
    header = "| metric | " + " | ".join(f"ours {s:,} | stock {s:,} | ours/stock" for s in sizes) + " |"
    lines = [header, "|---|" + "---:|---:|---:|" * len(sizes)]
    for label, _path, unit, _comparable in ROWS:
        cells = []
        for size in sizes:
            row = table[size][label]
            cells += [format_number(row["ours"]), format_number(row["stock"]),
                      "–" if row["ratio"] is None else f"{row['ratio']:.2f}×"]
        lines.append(f"| {label}{f' ({unit})' if unit else ''} | " + " | ".join(cells) + " |")
    lines += ["", f"| target (ours, {TARGET_POOL_SIZE:,} experts) | limit | measured | verdict |",
              "|---|---:|---:|---|"]
    for verdict in verdicts:
        lines.append(f"| {verdict['target']} | ≤ {format_number(verdict['limit'])} {verdict['unit']} | "
                     f"{format_number(verdict['measured'])} {verdict['unit']} | {verdict['verdict']} |")
    lines += ["", scope_note]
    return "\n".join(lines)


def machine() -> dict:
    import jieba
    import whoosh

    memory_gb = None
    try:
        with open("/proc/meminfo", encoding="utf-8") as handle:
            memory_gb = round(int(handle.readline().split()[1]) / KB_PER_MB / KB_PER_MB, 1)
    except OSError:
        pass
    return {"cpus": os.cpu_count(), "memory_gb": memory_gb, "python": platform.python_version(),
            "platform": platform.platform(), "whoosh": whoosh.versionstring(), "jieba": jieba.__version__}


def run_parent(args) -> None:
    if recommendation.available() and args.recommendations:
        scope_note = (f"Measured: text relevance (search.query.search, limit {OUR_RESULT_LIMIT}) and the full "
                      "recommendation from the pool facts.gather keeps between requests (facts.Pool): the "
                      "request's facts and filters on the pool's columns (panels/columns.py), text relevance "
                      "as panels/operations.py asks for it (limit = pool size, kept to the qualified experts), "
                      "rank, compose, and the filter and composition records; beside it the same on the profile "
                      "path (Pool.profiles, matcher.apply_filters, matcher.rank), which must give the same panel. "
                      "Reading the pool from the database (once per change to it) is bench/facts.py's.")
    else:
        scope_note = (f"Measured: text relevance only (search.query.search); {recommendation.MATCHER_MODULE} "
                      "is not in the repository, so the matcher's ranking/composition is not included.")
    started = time.perf_counter()
    load_at_start = os.getloadavg()
    results: dict[int, dict[str, dict]] = {}
    for size in args.sizes:
        for system_name in args.systems:
            log.info("=== %s, %d experts", system_name, size)
            results.setdefault(size, {})[system_name] = run_child(system_name, size, args)
    table = comparison(results)
    verdicts = targets(results)
    text = render(table, verdicts, scope_note)
    print(text)
    report = {
        "command": "python -m bench.run " + " ".join(sys.argv[1:]),
        "finished_at": time.strftime("%Y-%m-%d %H:%M:%S"),
        "total_wall_s": round(time.perf_counter() - started, 1),
        # Other work on the machine slows every number; the load averages say how much there was.
        "machine": {**machine(), "load_average_at_start": load_at_start, "load_average_at_end": os.getloadavg()},
        "config": {"sizes": args.sizes, "queries": args.queries, "warmup_queries": WARMUP_QUERIES,
                   "updates": args.updates, "recommendations": args.recommendations,
                   "warmup_recommendations": WARMUP_RECOMMENDATIONS, "seed": args.seed, "our_limit": OUR_RESULT_LIMIT,
                   "stock_limit": STOCK_RESULT_LIMIT},
        "scope": scope_note,
        "results": {str(size): by_system for size, by_system in results.items()},
        "comparison": {str(size): rows for size, rows in table.items()},
        "targets": verdicts,
        "table_markdown": text,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")
    log.info("written %s", out)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=list(DEFAULT_SIZES))
    parser.add_argument("--queries", type=int, default=DEFAULT_QUERIES, help="measured decision items per size")
    parser.add_argument("--updates", type=int, default=DEFAULT_UPDATES, help="profile updates per size")
    parser.add_argument("--recommendations", type=int, default=DEFAULT_RECOMMENDATIONS,
                        help="full recommendations (matcher + text relevance) per size, ours only; 0: skip")
    parser.add_argument("--systems", nargs="+", choices=SYSTEMS, default=list(SYSTEMS))
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--data", help="the eval folder or its zh_csl folder (default ../shared/eval)")
    parser.add_argument("--out", default="bench/results/RESULTS.json")
    parser.add_argument("--keep-index", metavar="DIR",
                        help="build the indexes under DIR/<system>-<size> and keep them (for bench.profile_query)")
    parser.add_argument("--worker", choices=SYSTEMS, help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--result-file", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S", stream=sys.stderr)
    if args.worker:
        run_worker(args)
    else:
        run_parent(args)


if __name__ == "__main__":
    main()
