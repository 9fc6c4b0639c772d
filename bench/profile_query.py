"""Where our query and recommendation time goes, on an index kept by
`bench.run --keep-index DIR`.

    python -m bench.run --sizes 100000 --systems ours --keep-index /tmp/bench-index
    python -m bench.profile_query /tmp/bench-index/ours-100000 --queries 100

1. Phases of search.query.search, timed one by one by calling the
   functions search() itself is made of: query analysis (query_terms),
   opening the searcher, stage 1 (candidate_docnums), stage 2 (rescore:
   stored fields, profile and achievement scores), ranking with
   normalisation and highlights (ranked_hits). The sum is checked against
   the real search().
2. cProfile of the real search() (top functions by own and cumulative time).
3. With --recommendations N: cProfile of N full recommendations
   (bench.recommendation), to see which matcher step dominates.

The index is only read. Decision items are those of bench.run (same seed).
"""
from __future__ import annotations

import argparse
import cProfile
import io
import json
import logging
import pstats
import time
from collections import defaultdict
from pathlib import Path

from bench.generate import DEFAULT_SEED, DOMAINS, generate_profiles, generate_queries, load_corpus
from bench.run import WARMUP_QUERIES, percentile

DEFAULT_QUERIES = 100
RESULT_LIMIT = 1000
PROFILE_TOP_FUNCTIONS = 25
PHASE_PERCENTILES = (50, 95)


def _ms(seconds: list[float]) -> dict:
    values = [s * 1000 for s in seconds]
    return {**{f"p{p}": round(percentile(values, p), 1) for p in PHASE_PERCENTILES},
            "mean": round(sum(values) / len(values), 1)}


def phase_timings(ix, items: list[dict]) -> dict:
    from search import query as q

    phases = defaultdict(list)
    shape = defaultdict(list)
    for item in items:
        total_started = time.perf_counter()
        started = time.perf_counter()
        terms = q.query_terms(item["text"], item["keywords"], item["domains"])
        phases["analysis (query_terms)"].append(time.perf_counter() - started)
        shape["distinct query terms"].append(sum(len(v) for v in terms.values()))

        started = time.perf_counter()
        searcher = q.open_searcher(ix)
        phases["open searcher"].append(time.perf_counter() - started)

        started = time.perf_counter()
        docnums = q.candidate_docnums(searcher, terms)
        phases["stage 1: candidates (term selection + Whoosh matching)"].append(time.perf_counter() - started)
        shape["stage-1 candidates"].append(len(docnums))

        started = time.perf_counter()
        scored = q.rescore(searcher, docnums, terms)
        pool_size = searcher.doc_count()
        phases["stage 2: stored fields + profile and achievement scoring"].append(time.perf_counter() - started)
        searcher.close()

        started = time.perf_counter()
        hits = q.ranked_hits(scored, pool_size, RESULT_LIMIT)
        phases["ranking, normalisation, highlights"].append(time.perf_counter() - started)
        shape["hits"].append(len(hits))
        phases["sum of the phases"].append(time.perf_counter() - total_started)

    real = []
    for item in items:
        started = time.perf_counter()
        q.search(ix, item["text"], item["keywords"], item["domains"], limit=RESULT_LIMIT)
        real.append(time.perf_counter() - started)
    phases["real search() for comparison"] = real
    return {"phases_ms": {name: _ms(values) for name, values in phases.items()},
            "shape": {name: {"mean": round(sum(v) / len(v), 1), "p95": percentile(v, 95)}
                      for name, v in shape.items()}}


def _profile(function, items: list[dict], prepare=None) -> str:
    """cProfile of function(item) or function(item, prepare(item)); prepare is not profiled."""
    profiler = cProfile.Profile()
    for item in items:
        prepared = (prepare(item),) if prepare else ()
        profiler.enable()
        function(item, *prepared)
        profiler.disable()
        del prepared
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(PROFILE_TOP_FUNCTIONS)
    stats.sort_stats("cumulative").print_stats(PROFILE_TOP_FUNCTIONS)
    return out.getvalue()


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("index_root", help="an ExpertIndex root, or the DIR/ours-<size> folder bench.run kept")
    parser.add_argument("--queries", type=int, default=DEFAULT_QUERIES)
    parser.add_argument("--recommendations", type=int, default=0,
                        help="also profile this many full recommendations (needs the pool size: --size)")
    parser.add_argument("--size", type=int, help="pool size the index was built with (for --recommendations)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--data")
    parser.add_argument("--out", help="write the timings as JSON here")
    args = parser.parse_args(argv)

    import jieba

    from search import query as q
    from search.analysis import add_vocabulary
    from search.index import ExpertIndex

    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()
    root = Path(args.index_root)
    if not (root / "CURRENT").exists() and (root / "ours" / "CURRENT").exists():
        root = root / "ours"
    index = ExpertIndex(root)
    ix = index.open()
    corpus = load_corpus(args.data, args.seed)
    with ix.searcher() as searcher:
        documents = searcher.doc_count()
    size = args.size or documents
    profiles = list(generate_profiles(size, args.seed, corpus=corpus))
    # The service's jieba vocabulary: domain names and every expert keyword.
    add_vocabulary(DOMAINS)
    add_vocabulary(keyword for profile in profiles for keyword in profile["keywords"])
    items = generate_queries(args.queries + WARMUP_QUERIES, args.seed, corpus=corpus)
    warmup, items = items[:WARMUP_QUERIES], items[WARMUP_QUERIES:]
    for item in warmup:
        q.search(ix, item["text"], item["keywords"], item["domains"], limit=RESULT_LIMIT)

    report = {"documents": documents, "queries": len(items)}
    report.update(phase_timings(ix, items))
    print(json.dumps(report, ensure_ascii=False, indent=2))
    text = _profile(lambda item: q.search(ix, item["text"], item["keywords"], item["domains"], limit=RESULT_LIMIT),
                    items)
    print(text)
    report["cprofile_search"] = text

    if args.recommendations:
        from bench.recommendation import RecommendationBench

        bench = RecommendationBench(profiles, args.seed)

        def relevance(text, keywords, domains, limit):
            index.applied_outbox_id()
            return q.search(index.open(), text, keywords, domains, limit=limit)

        parts = defaultdict(list)

        def recommend(item, prepared):
            timing, _shape = bench.recommend(item, relevance, prepared)
            for name in ("filters", "text", "rank", "compose", "total"):
                parts[name].append(getattr(timing, name))

        # Building the request's plain data stands for the database reads: not profiled.
        text = _profile(recommend, items[:args.recommendations], prepare=bench.request)
        print(text)
        report["recommendation_parts_ms (under cProfile)"] = {name: _ms(v) for name, v in parts.items()}
        report["cprofile_recommendation"] = text
        print(json.dumps(report["recommendation_parts_ms (under cProfile)"], indent=2))
    if args.out:
        Path(args.out).write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
