"""`flask search eval`: matching quality on a public data set, through the service's own code.

The data set is loaded into a temporary instance (its own SQLite database,
migrated and seeded like any other, and its own index), profiles are indexed
by the same rebuild the service runs, and every query goes through
`search_bridge.text_relevance`. Scores are written in the format
`shared/eval/score.py` reads.

Two layouts are understood (see shared/eval/README.md):
- retrieval: experts.jsonl[.gz] (projects with title and discipline),
  queries.jsonl[.gz] (title, discipline, optional description, split);
- pairwise: reviewers.jsonl (papers with title and abstract), papers.jsonl
  (the rated items), ratings.tsv (which pairs to score).
"""
from __future__ import annotations

import csv
import gzip
import json
import secrets
import tempfile
import time
from collections import Counter
from datetime import date
from pathlib import Path

import click
import sqlalchemy as sa
from cryptography.fernet import Fernet

from experts_service.core.idcard import check_digit, mask_id_number

# Profiles of an evaluation instance hang under one first-level domain made for it.
EVAL_DOMAIN_ROOT = "评测学科"
EVAL_BIRTH_DATE = date(1970, 1, 1)
RETRIEVAL_TOP_K = 100
PAIRWISE_CANDIDATES = 10_000


def _open(path: Path):
    return gzip.open(path, "rt", encoding="utf-8") if path.suffix == ".gz" else open(path, encoding="utf-8")


def _read_jsonl(directory: Path, stem: str) -> list[dict]:
    for name in (f"{stem}.jsonl", f"{stem}.jsonl.gz"):
        if (directory / name).exists():
            with _open(directory / name) as handle:
                return [json.loads(line) for line in handle if line.strip()]
    raise click.ClickException(f"{directory} 中没有 {stem}.jsonl 或 {stem}.jsonl.gz")


def _layout(directory: Path) -> str:
    if any((directory / n).exists() for n in ("experts.jsonl", "experts.jsonl.gz")):
        return "retrieval"
    if (directory / "reviewers.jsonl").exists():
        return "pairwise"
    raise click.ClickException(f"{directory} 不是可识别的评测数据目录")


def _synthetic_id_number(sequence: int) -> str:
    """Valid, unique, obviously synthetic (region 999999 does not exist)."""
    first17 = f"999999{EVAL_BIRTH_DATE:%Y%m%d}{sequence % 1000:03d}"
    return first17 + check_digit(first17)


def _load_profiles(profiles: list[dict]) -> dict[int, str]:
    """Bulk-load profiles ({key, employer, domains, achievements}); returns db id -> data set id."""
    from experts_service.core.crypto import encrypt_pii, keyed_hash
    from experts_service.experts.models import (
        Appointment,
        Expert,
        ExpertStatus,
        PoliticalAffiliation,
        Sex,
        TitleLevel,
        expert_secondary_domains,
    )
    from experts_service.extensions import db
    from experts_service.reference.models import Domain, Organisation, OrganisationType, Tier, normalise_org_name

    root = Domain(code="EVAL", name=EVAL_DOMAIN_ROOT, sort_order=10_000)
    db.session.add(root)
    db.session.flush()
    names = sorted({d for p in profiles for d in p["domains"]})
    domain_ids = {}
    for number, name in enumerate(names, start=1):
        domain = Domain(code=f"EVAL-{number:04d}", name=name, parent_id=root.id, sort_order=10_000 + number)
        db.session.add(domain)
        db.session.flush()
        domain_ids[name] = domain.id
    employers = sorted({p["employer"] for p in profiles})
    db.session.execute(sa.insert(Organisation), [
        {"name": name, "name_key": normalise_org_name(name) or f"eval-{n}", "type": OrganisationType.UNIVERSITY}
        for n, name in enumerate(employers)
    ])
    organisation_ids = dict(db.session.execute(sa.select(Organisation.name, Organisation.id)).all())
    tier_id = db.session.execute(sa.select(Tier.id).order_by(Tier.rank.desc()).limit(1)).scalar_one()
    fallback_domain = root.id
    rows, keys = [], []
    for sequence, profile in enumerate(profiles):
        id_number = _synthetic_id_number(sequence) + f"#{sequence}"  # unique hash input per profile
        primary = profile["domains"][0] if profile["domains"] else None
        rows.append({
            "name": "评测专家", "name_search_key": "", "name_sort_key": f"{sequence:08d}",
            "id_number_enc": encrypt_pii(id_number[:18]), "id_number_hash": keyed_hash(id_number),
            "id_number_masked": mask_id_number(id_number[:18]), "birth_date": EVAL_BIRTH_DATE, "sex": Sex.MALE,
            "employer_id": organisation_ids[profile["employer"]], "title_level": TitleLevel.SENIOR,
            "years_in_field": 10, "political_affiliation": PoliticalAffiliation.MASSES,
            "primary_domain_id": domain_ids.get(primary, fallback_domain), "keywords": [], "bio": "",
            "achievements": [{"kind": "project", "title": t} for t in profile["achievements"]],
            "tier_id": tier_id, "status": ExpertStatus.ACTIVE, "version_id": 1,
        })
        keys.append(profile["key"])
    db.session.execute(sa.insert(Expert), rows)
    ids = db.session.execute(sa.select(Expert.id).order_by(Expert.id)).scalars().all()
    mapping = dict(zip(ids, keys, strict=True))
    secondary = [
        {"expert_id": expert_id, "domain_id": domain_ids[name]}
        for expert_id, profile in zip(ids, profiles, strict=True) for name in profile["domains"][1:]
    ]
    if secondary:
        db.session.execute(sa.insert(expert_secondary_domains), secondary)
    db.session.execute(sa.insert(Appointment), [
        {"expert_id": expert_id, "tier_id": tier_id, "certificate_no": f"EVAL-{expert_id:07d}",
         "term_start": date(2020, 1, 1), "term_end": date(2030, 1, 1), "is_current": True}
        for expert_id in ids
    ])
    db.session.commit()
    return mapping


def _retrieval(directory: Path, split: str):
    experts = _read_jsonl(directory, "experts")
    profiles = []
    for expert in experts:
        projects = expert.get("projects") or []
        disciplines = [name for name, _ in Counter(p.get("discipline") for p in projects if p.get("discipline")).most_common()]
        profiles.append({"key": expert["expert_id"], "employer": expert.get("institution") or "（未知单位）",
                         "domains": disciplines, "achievements": [p.get("title") or "" for p in projects]})
    queries = [q for q in _read_jsonl(directory, "queries") if split == "all" or q.get("split") == split]
    items = [{"query_id": q["query_id"], "text": "\n".join(filter(None, [q.get("title"), q.get("description")])),
              "domains": [q["discipline"]] if q.get("discipline") else [], "rated": None} for q in queries]
    return profiles, items, RETRIEVAL_TOP_K


def _pairwise(directory: Path):
    reviewers = _read_jsonl(directory, "reviewers")
    profiles = [{"key": str(r["expert_id"]), "employer": "（未知单位）", "domains": [],
                 "achievements": ["\n".join(filter(None, [p.get("title"), p.get("abstract")])) for p in r["papers"]]}
                for r in reviewers]
    rated: dict[str, set[str]] = {}
    with open(directory / "ratings.tsv", encoding="utf-8") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            rated.setdefault(row["query_id"], set()).add(str(row["expert_id"]))
    items = [{"query_id": p["query_id"], "text": "\n".join(filter(None, [p.get("title"), p.get("abstract")])),
              "domains": [], "rated": rated.get(p["query_id"], set())} for p in _read_jsonl(directory, "papers")]
    return profiles, items, PAIRWISE_CANDIDATES


@click.command("eval")
@click.argument("dataset", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--split", default="dev", show_default=True, help="all，或查询的 split 字段取值")
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False, path_type=Path))
def eval_command(dataset: Path, split: str, out_path: Path) -> None:
    """在评测数据集上运行与服务相同的匹配代码，输出 score.py 可读的得分。"""
    from experts_service import create_app
    from experts_service.search_bridge import rebuild, text_relevance
    from search.bulk import default_workers

    layout = _layout(dataset)
    profiles, items, limit = _retrieval(dataset, split) if layout == "retrieval" else _pairwise(dataset)
    if not items:
        raise click.ClickException(f"split={split} 没有查询")
    with tempfile.TemporaryDirectory(prefix="experts-eval-") as workdir:
        app = create_app({
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{Path(workdir) / 'eval.sqlite3'}",
            "SEARCH_INDEX_DIR": str(Path(workdir) / "search"),
            "SEARCH_SYNC_ON_COMMIT": False,
            "SECRET_KEY": secrets.token_urlsafe(16), "PII_HASH_KEY": secrets.token_urlsafe(16),
            "PII_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        })
        with app.app_context():
            from experts_service.cli import upgrade_and_seed

            upgrade_and_seed()
            started = time.perf_counter()
            mapping = _load_profiles(profiles)
            rebuild(app, workers=default_workers())
            indexed = time.perf_counter() - started
            click.echo(f"已载入并索引 {len(mapping)} 名专家（{indexed:.1f} 秒），查询 {len(items)} 条", err=True)
            latencies = []
            with open(out_path, "w", encoding="utf-8") as out:
                for item in items:
                    began = time.perf_counter()
                    hits = text_relevance(item["text"], domains=item["domains"], limit=limit)
                    latencies.append(time.perf_counter() - began)
                    # Standard scores: one expert's scores for different items are compared.
                    scores = {mapping[expert_id]: round(hit.standard_score, 6) for expert_id, hit in hits.items()}
                    if item["rated"] is not None:
                        # Every rated pair gets a score: no match at all is this query's floor.
                        floor = round(next(iter(hits.values())).standard_floor, 6) if hits else 0.0
                        scores = {key: scores.get(key, floor) for key in item["rated"]}
                    out.write(json.dumps({"query_id": item["query_id"], "scores": scores}, ensure_ascii=False) + "\n")
            from experts_service.extensions import db

            db.session.remove()
            db.engine.dispose()
    latencies.sort()
    p50 = latencies[len(latencies) // 2] * 1000
    p95 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.95))] * 1000
    click.echo(f"完成：{out_path}；查询耗时 p50 {p50:.1f} ms，p95 {p95:.1f} ms", err=True)
