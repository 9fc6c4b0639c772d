"""A recommendation as the service answers it, end to end: `POST
/api/v1/panel-requests/<id>/recommendations` through the Flask app (WSGI,
in process), with a bearer token of a talent-office user, over a migrated
database of N experts (bench/facts.py's pool: SQLite or PostgreSQL) and
its Whoosh index built by the service's own `search_bridge.rebuild`.

Each run is what a user waits for: authentication, the request's reads,
the matcher on the kept pool, text relevance from the index, the stored
record (candidates, filter counts, result) and its audit entries,
committed, and the JSON answer. The first run after the pool is loaded
also reads the pool from the database and makes its columns (once per
change to the pool); it is reported apart ("first") from the runs after it.

    .venv/bin/python -m bench.service --sizes 10000 100000 --database sqlite --runs 30 --out /tmp/service.json
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from bench.facts import (
    DEFAULT_POSTGRES_URL,
    DATABASES,
    app_config,
    create_postgres_database,
    drop_postgres_database,
    load_average,
    load_pool,
    migrate_and_seed,
    percentile,
)
from bench.generate import DEFAULT_SEED, load_corpus

DEFAULT_SIZES = (10_000, 100_000)
DEFAULT_RUNS = 30
PERCENTILES = (50, 95, 99)
USERNAME = "bench-talent-office"
PASSWORD = "bench-Password-2026"
INDEX_WORKERS = 2
TARGET_P95_MS = 100.0


def _talent_office_user(app) -> None:
    from experts_service.accounts.operations import create_user
    from experts_service.core.auth import Role
    from experts_service.extensions import db

    with app.app_context():
        create_user(None, username=USERNAME, password=PASSWORD, display_name="基准测试人才办", role=Role.TALENT_OFFICE)
        db.session.commit()


def _summary(milliseconds: list[float]) -> dict:
    result = {f"p{p}_ms": round(percentile(milliseconds, p), 1) for p in PERCENTILES}
    result["mean_ms"] = round(sum(milliseconds) / len(milliseconds), 1)
    return result


def measure(database: str, size: int, seed: int, runs: int, corpus, postgres_url: str) -> dict:
    from experts_service import create_app
    from experts_service.search_bridge import rebuild

    with tempfile.TemporaryDirectory(prefix="bench-service-") as directory:
        os.environ["EXPERTS_INSTANCE_PATH"] = directory
        url = f"sqlite:///{Path(directory) / 'bench.sqlite3'}" if database == "sqlite" \
            else create_postgres_database(postgres_url)
        try:
            app = create_app(app_config(url))
            started = time.perf_counter()
            migrate_and_seed(app)
            request_id, counts = load_pool(app, size, seed, corpus)
            loaded = time.perf_counter() - started
            started = time.perf_counter()
            with app.app_context():
                rebuild(app, workers=INDEX_WORKERS)
            indexed = time.perf_counter() - started
            _talent_office_user(app)
            print(f"[{database} {size}] loaded in {loaded:.0f} s, indexed in {indexed:.0f} s", file=sys.stderr)

            client = app.test_client()
            token = client.post("/api/v1/auth/token", json={"username": USERNAME, "password": PASSWORD})
            assert token.status_code == 201, token.get_data(as_text=True)
            headers = {"Authorization": f"Bearer {token.get_json()['token']}"}
            path = f"/api/v1/panel-requests/{request_id}/recommendations"
            load_before = load_average()
            milliseconds, shapes = [], []
            for _ in range(1 + runs):
                started = time.perf_counter()
                response = client.post(path, json={"method": "recommend"}, headers=headers)
                milliseconds.append((time.perf_counter() - started) * 1000)
                if response.status_code != 201:
                    raise AssertionError(f"{response.status_code}: {response.get_data(as_text=True)[:500]}")
                body = response.get_json()
                shapes.append((tuple(body["result"]["panel"]), body["filtered"]["qualified"]))
            if len(set(shapes)) != 1:
                raise AssertionError(f"the runs disagree: {sorted(set(shapes))}")
            result = {
                "database": database, "size": size, "rows": counts, "load_s": round(loaded, 1),
                "index_s": round(indexed, 1), "runs": runs, "first_ms": round(milliseconds[0], 1),
                "after": _summary(milliseconds[1:]), "qualified": shapes[0][1], "panel": list(shapes[0][0]),
                "load_before": load_before, "load_after": load_average(),
            }
            print(f"[{database} {size}] first {result['first_ms']} ms; then p50 {result['after']['p50_ms']} ms, "
                  f"p95 {result['after']['p95_ms']} ms (load {result['load_after']})", file=sys.stderr)
            return result
        finally:
            if database == "postgresql":
                drop_postgres_database(postgres_url)


def table(results: list[dict]) -> str:
    lines = ["| database | experts | first run (reads the pool) | p50 after | p95 after | p99 after | p95 ≤ 100 ms |",
             "|---|---:|---:|---:|---:|---:|---|"]
    for r in results:
        after = r["after"]
        lines.append(f"| {r['database']} | {r['size']:,} | {r['first_ms']:,.1f} ms | {after['p50_ms']:,.1f} ms | "
                     f"{after['p95_ms']:,.1f} ms | {after['p99_ms']:,.1f} ms | "
                     f"{'yes' if after['p95_ms'] <= TARGET_P95_MS else 'no'} |")
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=list(DEFAULT_SIZES))
    parser.add_argument("--database", choices=DATABASES, default="sqlite")
    parser.add_argument("--postgres-url", default=os.environ.get("BENCH_POSTGRES_URL", DEFAULT_POSTGRES_URL))
    parser.add_argument("--runs", type=int, default=DEFAULT_RUNS)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--data", help="the eval folder of bench.generate")
    parser.add_argument("--out", help="results as JSON")
    args = parser.parse_args(argv)
    corpus = load_corpus(args.data, args.seed)
    results = [measure(args.database, size, args.seed, args.runs, corpus, args.postgres_url) for size in args.sizes]
    print(table(results))
    if args.out:
        Path(args.out).write_text(json.dumps({"results": results, "cpus": os.cpu_count()}, ensure_ascii=False,
                                             indent=2))


if __name__ == "__main__":
    main()
