"""The database reads of a recommendation: `panels/facts.gather` over a real,
migrated database of N experts (SQLite or PostgreSQL).

bench/recommendation.py times the matcher on plain data and leaves these
reads out; this module times them. For each size it builds a fresh database
the way the app does (the migrations, then the reference data and the policy),
bulk-loads a deterministic synthetic pool with SQLAlchemy Core (the operations
layer would take hours at 100,000 experts), and times `facts.gather` for one
panel request: one warm-up run, then --runs timed runs, each in a fresh
session as a web request would have.

What is loaded: the experts of `bench.generate` (names, employers, domains,
keywords, achievements) with every NOT NULL column filled; organisations
(the employers, colleges under their universities, the city's bureaus with
subordinate units, and a few thousand other bodies, some under a parent);
engagements, unavailable periods, former employers and declared conflicts at
the shares of bench/recommendation.py; a decision item and its panel request.

--reference REV also times facts.py as it was at git revision REV on the same
database and checks that both return exactly the same MatchData (same values
of the same types, in the same order).

    .venv/bin/python -m bench.facts --sizes 10000 100000 --database sqlite --out /tmp/facts-sqlite.json
    .venv/bin/python -m bench.facts --sizes 10000 --database postgresql --reference HEAD --out /tmp/facts-pg.json
"""
from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import math
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import sqlalchemy as sa
from cryptography.fernet import Fernet

from bench.generate import (
    CITIES,
    DEFAULT_GOVERNMENT_BUREAUS,
    DEFAULT_SEED,
    FEMALE_SHARE,
    GOVERNMENT_BUREAUS,
    generate_profiles,
    load_corpus,
)
from bench.recommendation import (
    ACTIVE_SHARE,
    CONSULTATION_DATE,
    DECLARED_CONFLICT_SHARE,
    DEPARTMENT_CITY,
    ENGAGEMENTS_IN_YEAR_WEIGHTS,
    PAST_EMPLOYMENT_SHARE,
    RELATIVE_PAIR_SHARE,
    REPRESENTATIVE_SHARE,
    SAME_DEPARTMENT_SHARE,
    TIER_WEIGHTS,
    UNAVAILABLE_SHARE,
    bureau_of,
    employer_root,
)

REPOSITORY_ROOT = Path(__file__).resolve().parents[1]
FACTS_PATH = "experts_service/panels/facts.py"
DATABASES = ("sqlite", "postgresql")
DEFAULT_SIZES = (10_000, 100_000)
DEFAULT_RUNS = 10
WARM_UP_RUNS = 1
PERCENTILES = (50, 95)
# The server the test suite uses; the benchmark makes a database of its own there and drops it.
DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
POSTGRES_BENCH_DATABASE = "bench_facts"
# Rows per executemany call: large batches, bounded memory.
INSERT_BATCH = 20_000

# Shares beyond those of bench/recommendation.py.
# Experts still in intake (applicant, under review): no tier yet.
PENDING_SHARE = 0.02
NPC_OR_CPPCC_SHARE = 0.03
# Of those, 人大代表 rather than 政协委员.
NPC_SHARE_OF_DEPUTIES = 0.5
ACADEMICIAN_SHARE = 0.005
WITH_MOBILE_SHARE = 0.9
# Engagements dated last year (some inside the rotation lookback, some before it).
PREVIOUS_YEAR_ENGAGEMENTS = (0, 3)
CANCELLED_ENGAGEMENT_SHARE = 0.05
# Periods that do not cover the consultation day (past trips, later leave).
OTHER_UNAVAILABLE_SHARE = 0.08
# A period on the day starts up to this many days before it and ends up to this many after.
UNAVAILABLE_DAYS_AROUND = (5, 10)
# Other periods: this many days before or after the day, one or two days long.
OTHER_PERIOD_OFFSET_DAYS = (2, 200)
OTHER_PERIOD_EXTRA_DAYS = 1
# Length of a former job, how long before the cooling-off window an old one ended, age of a second post.
JOB_DAYS = (365, 3650)
OLD_JOB_ENDED_DAYS = (1, 3650)
SECOND_POST_DAYS = (30, 3650)
# Former employers that ended before the cooling-off window, and second posts still held.
OLD_EMPLOYMENT_SHARE = 0.15
SECOND_POST_SHARE = 0.02
BIRTH_YEARS = (1960, 1992)
# ID numbers: a region per this many experts, and a sequence number within it (parity carries sex).
ID_REGION_BASE = 110000
ID_SEQUENCES_PER_REGION = 500
YEARS_IN_FIELD = (5, 35)
COOLING_YEARS = 3
# Organisations that employ nobody in the pool: stakeholders, contractors, branches.
OTHER_ORGANISATIONS = 3000
BRANCH_SHARE = 0.25
SUBORDINATE_UNITS = ("信息中心", "规划研究中心", "综合行政执法支队", "政务服务中心")
OTHER_ORGANISATION_INDUSTRIES = ("工程咨询", "规划设计", "会计师事务所", "律师事务所", "环境科技", "信息技术",
                                 "建设工程", "检测认证", "物业服务", "数据服务")
BRANCH_SUFFIXES = ("第一分公司", "第二分公司", "华东分公司", "研究院")
UNAVAILABLE_REASONS = ("出差", "出国访问", "病假", "授课", "休假")
RELATIVE_NOTES = ("配偶", "兄弟姐妹", "师生", "父子")
CONFLICT_NOTES = ("曾承担其委托课题", "在其兼任顾问", "亲属在该单位任职")
STAKEHOLDERS = 2
AVOID_ENTRIES = 3
SEATS = 5
MIN_SENIOR = 1
REQUEST_BUREAU = "住房和城乡建设局"
HOSPITAL_MARKS = ("医院", "疾病预防控制中心")
UNIVERSITY_MARKS = ("大学", "学院")
ENTERPRISE_MARKS = ("有限公司", "分公司", "事务所")


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (as bench/run.py): p95 of 10 runs is the slowest but none."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


# ---------------------------------------------------------------- the database


def app_config(database_url: str) -> dict:
    return {
        "EXPERTS_ENV": "testing",
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SECRET_KEY": "bench-facts-secret",
        "PII_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "PII_HASH_KEY": "bench-facts-hash-key",
        "SEARCH_SYNC_ON_COMMIT": False,
    }


def create_postgres_database(server_url: str) -> str:
    name = POSTGRES_BENCH_DATABASE
    server = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with server.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    server.dispose()
    return server_url.rsplit("/", 1)[0] + f"/{name}"


def drop_postgres_database(server_url: str) -> None:
    server = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with server.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{POSTGRES_BENCH_DATABASE}" WITH (FORCE)'))
    server.dispose()


def migrate_and_seed(app) -> None:
    """As `flask init` and tests/conftest.py: every migration, then reference data and policy."""
    from experts_service.cli import upgrade_and_seed

    with app.app_context():
        upgrade_and_seed()


def organisation_type(name: str) -> str:
    if bureau_of(name):
        return "government"
    if any(mark in name for mark in HOSPITAL_MARKS):
        return "public_institution"
    if any(mark in name for mark in ENTERPRISE_MARKS):
        return "enterprise"
    if any(mark in name for mark in UNIVERSITY_MARKS):
        return "university"
    return "research_institute"


class PoolLoader:
    """Builds the rows of one pool (deterministic for a seed) and inserts them with Core."""

    def __init__(self, size: int, seed: int, corpus):
        self.size = size
        self.seed = seed
        self.corpus = corpus
        self.organisations: list[dict] = []
        self.organisation_ids: dict[str, int] = {}

    # -- organisations

    def _organisation(self, name: str, parent: str | None = None, type_: str | None = None) -> int:
        from experts_service.reference.models import normalise_org_name

        key = normalise_org_name(name)
        if key in self.organisation_ids:
            return self.organisation_ids[key]
        parent_id = self._organisation(parent) if parent else None
        type_ = type_ or organisation_type(name)
        row = {"id": len(self.organisations) + 1, "name": name, "name_key": key, "type": type_,
               "system": bureau_of(name) if type_ == "government" else None, "parent_id": parent_id,
               "is_active": True}
        self.organisations.append(row)
        self.organisation_ids[key] = row["id"]
        return row["id"]

    def _organisations(self, profiles: list[dict], rng: random.Random) -> None:
        for profile in profiles:
            employer = profile["employer"]
            root = employer_root(employer)
            self._organisation(employer, parent=root if root != employer else None)
        bureaus = sorted({b for group in GOVERNMENT_BUREAUS.values() for b in group} | set(DEFAULT_GOVERNMENT_BUREAUS))
        self.departments = [self._organisation(f"{DEPARTMENT_CITY}{bureau}") for bureau in bureaus]
        for bureau in bureaus:
            for unit in SUBORDINATE_UNITS:
                self._organisation(f"{DEPARTMENT_CITY}{bureau}{unit}", parent=f"{DEPARTMENT_CITY}{bureau}",
                                   type_="public_institution")
        others: list[str] = []
        while len(others) < OTHER_ORGANISATIONS:
            if others and rng.random() < BRANCH_SHARE:
                name = rng.choice(others) + rng.choice(BRANCH_SUFFIXES)
                parent = name_without_suffix(name)
            else:
                name = f"{rng.choice(CITIES)}{rng.choice(OTHER_ORGANISATION_INDUSTRIES)}{len(others) + 1:04d}有限公司"
                parent = None
            if name not in others:
                self._organisation(name, parent=parent, type_="enterprise")
                others.append(name)
        self.department_id = self._organisation(f"{DEPARTMENT_CITY}{REQUEST_BUREAU}")

    # -- experts and their facts

    def rows(self, tier_ids: dict[int, int], cipher: Fernet, keyed_hash) -> dict[str, list[dict]]:
        from experts_service.core.idcard import check_digit, mask_id_number, mask_mobile
        from experts_service.experts.names import name_search_key, name_sort_key

        rng = random.Random(f"{self.seed}:facts-db:{self.size}")
        profiles = list(generate_profiles(self.size, self.seed, corpus=self.corpus))
        self._organisations(profiles, rng)
        organisation_ids = [row["id"] for row in self.organisations]
        # One ciphertext for every row: gather never reads it, but the rows are as wide as real ones.
        id_number_token = cipher.encrypt(b"110101197001011234").decode("ascii")
        mobile_token = cipher.encrypt(b"13900000000").decode("ascii")
        now = datetime(CONSULTATION_DATE.year, 1, 1, tzinfo=timezone.utc)
        day = CONSULTATION_DATE
        year_start = date(day.year, 1, 1)
        cooling_since = day.replace(year=day.year - COOLING_YEARS)
        name_keys: dict[str, tuple[str, str]] = {}
        parties = ("rcck", "cdl", "cndca", "capd", "cpwdp", "czgp", "jiusan", "tdsl", "non_party", "masses")
        tiers, tier_weights = list(TIER_WEIGHTS), list(TIER_WEIGHTS.values())
        out: dict[str, list[dict]] = {"experts": [], "secondary": [], "engagements": [], "unavailable": [],
                                      "employment": [], "conflicts": []}
        for profile in profiles:
            expert_id = profile["expert_id"]
            name = profile["name"]
            if name not in name_keys:
                name_keys[name] = (name_search_key(name), name_sort_key(name))
            birth = date(rng.randint(*BIRTH_YEARS), rng.randint(1, 12), rng.randint(1, 28))
            male = rng.random() >= FEMALE_SHARE
            # Region and sequence from the id keep every ID number (and its hash) distinct.
            region = f"{ID_REGION_BASE + expert_id // ID_SEQUENCES_PER_REGION:06d}"
            first17 = f"{region}{birth:%Y%m%d}{(expert_id % ID_SEQUENCES_PER_REGION) * 2 + int(male):03d}"
            id_number = first17 + check_digit(first17)
            mobile = f"139{expert_id:08d}" if rng.random() < WITH_MOBILE_SHARE else None
            draw = rng.random()
            if draw < ACTIVE_SHARE:
                status, tier = "active", rng.choices(tiers, weights=tier_weights)[0]
            elif draw < ACTIVE_SHARE + PENDING_SHARE:
                status, tier = rng.choice(("applicant", "under_review")), None
            else:
                status, tier = rng.choice(("suspended", "exited")), rng.choices(tiers, weights=tier_weights)[0]
            representative = rng.random() < REPRESENTATIVE_SHARE
            deputy = representative and rng.random() < NPC_OR_CPPCC_SHARE / REPRESENTATIVE_SHARE
            npc = rng.random() < NPC_SHARE_OF_DEPUTIES
            party = "cpc" if not representative or deputy else rng.choice(parties)
            out["experts"].append({
                "id": expert_id, "name": name, "name_search_key": name_keys[name][0],
                "name_sort_key": name_keys[name][1], "id_number_enc": id_number_token,
                "id_number_hash": keyed_hash(id_number), "id_number_masked": mask_id_number(id_number),
                "mobile_enc": mobile_token if mobile else None,
                "mobile_masked": mask_mobile(mobile) if mobile else None,
                "birth_date": birth, "sex": "male" if male else "female",
                "employer_id": self.organisation_ids[_key(profile["employer"])], "position": profile["position"],
                "title_level": rng.choice(("senior", "associate", "intermediate")), "title_name": profile["title"],
                "years_in_field": rng.randint(*YEARS_IN_FIELD), "political_affiliation": party,
                "is_npc_deputy": deputy and npc, "is_cppcc_member": deputy and not npc,
                "is_academician": rng.random() < ACADEMICIAN_SHARE,
                "primary_domain_id": profile["domain_ids"][0], "keywords": profile["keywords"],
                "bio": profile["bio"],
                "achievements": [{"kind": "publication", "title": title} for title in profile["achievements"]],
                "tier_id": tier_ids[tier] if tier else None, "status": status, "version_id": 1,
                "created_at": now, "updated_at": now,
            })
            for domain_id in dict.fromkeys(profile["domain_ids"][1:]):
                out["secondary"].append({"expert_id": expert_id, "domain_id": domain_id})
            self._engagements(rng, expert_id, year_start, day, now, out["engagements"])
            self._periods(rng, expert_id, day, out["unavailable"])
            self._employment(rng, expert_id, day, cooling_since, organisation_ids, out["employment"])
            if rng.random() < DECLARED_CONFLICT_SHARE:
                out["conflicts"].append({"expert_id": expert_id, "kind": "organisation",
                                         "organisation_id": rng.choice(organisation_ids), "person_name": None,
                                         "related_expert_id": None, "relationship_note": rng.choice(CONFLICT_NOTES)})
        for _ in range(round(self.size * RELATIVE_PAIR_SHARE)):
            a, b = rng.randint(1, self.size), rng.randint(1, self.size)
            if a != b:
                out["conflicts"].append({"expert_id": a, "kind": "person", "organisation_id": None,
                                         "person_name": profiles[b - 1]["name"], "related_expert_id": b,
                                         "relationship_note": rng.choice(RELATIVE_NOTES)})
        for table in ("engagements", "unavailable", "employment", "conflicts"):
            for row_id, row in enumerate(out[table], start=1):
                row["id"] = row_id
        out["organisations"] = self.organisations
        return out

    def _engagements(self, rng, expert_id, year_start, day, now, rows) -> None:
        in_year = rng.choices(range(len(ENGAGEMENTS_IN_YEAR_WEIGHTS)), weights=ENGAGEMENTS_IN_YEAR_WEIGHTS)[0]
        days_this_year = (day - year_start).days
        dates = [year_start + timedelta(days=rng.randrange(days_this_year)) for _ in range(in_year)]
        dates += [date(day.year - 1, rng.randint(1, 12), rng.randint(1, 28))
                  for _ in range(rng.randint(*PREVIOUS_YEAR_ENGAGEMENTS))]
        for engaged_on in dates:
            department = self.department_id if rng.random() < SAME_DEPARTMENT_SHARE else rng.choice(self.departments)
            status = "cancelled" if rng.random() < CANCELLED_ENGAGEMENT_SHARE else rng.choice(("engaged", "completed"))
            rows.append({"expert_id": expert_id, "panel_request_id": None, "organisation_id": department,
                         "engaged_on": engaged_on, "status": status, "created_at": now})

    @staticmethod
    def _periods(rng, expert_id, day, rows) -> None:
        if rng.random() < UNAVAILABLE_SHARE:
            before, after = UNAVAILABLE_DAYS_AROUND
            rows.append({"expert_id": expert_id, "starts_on": day - timedelta(days=rng.randint(0, before)),
                         "ends_on": day + timedelta(days=rng.randint(0, after)),
                         "reason": rng.choice(UNAVAILABLE_REASONS)})
        if rng.random() < OTHER_UNAVAILABLE_SHARE:
            start = day + timedelta(days=rng.choice((-1, 1)) * rng.randint(*OTHER_PERIOD_OFFSET_DAYS))
            rows.append({"expert_id": expert_id, "starts_on": start,
                         "ends_on": start + timedelta(days=rng.randint(0, OTHER_PERIOD_EXTRA_DAYS)),
                         "reason": rng.choice(UNAVAILABLE_REASONS)})

    @staticmethod
    def _employment(rng, expert_id, day, cooling_since, organisation_ids, rows) -> None:
        if rng.random() < PAST_EMPLOYMENT_SHARE:
            ended = cooling_since + timedelta(days=rng.randrange((day - cooling_since).days))
            rows.append({"expert_id": expert_id, "organisation_id": rng.choice(organisation_ids),
                         "started_on": ended - timedelta(days=rng.randint(*JOB_DAYS)), "ended_on": ended,
                         "note": "工作单位变更时自动记录"})
        if rng.random() < OLD_EMPLOYMENT_SHARE:
            ended = cooling_since - timedelta(days=rng.randint(*OLD_JOB_ENDED_DAYS))
            rows.append({"expert_id": expert_id, "organisation_id": rng.choice(organisation_ids),
                         "started_on": ended - timedelta(days=rng.randint(*JOB_DAYS)), "ended_on": ended, "note": None})
        if rng.random() < SECOND_POST_SHARE:
            rows.append({"expert_id": expert_id, "organisation_id": rng.choice(organisation_ids),
                         "started_on": day - timedelta(days=rng.randint(*SECOND_POST_DAYS)), "ended_on": None,
                         "note": "兼职"})


def name_without_suffix(name: str) -> str:
    for suffix in BRANCH_SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def _key(name: str) -> str:
    from experts_service.reference.models import normalise_org_name

    return normalise_org_name(name)


def insert_batches(connection, table: sa.Table, rows: list[dict]) -> None:
    for start in range(0, len(rows), INSERT_BATCH):
        connection.execute(sa.insert(table), rows[start:start + INSERT_BATCH])


def load_pool(app, size: int, seed: int, corpus) -> tuple[int, dict[str, int]]:
    """Inserts the pool and one panel request; returns the request id and row counts."""
    from experts_service.core.crypto import keyed_hash
    from experts_service.experts.models import (
        ConflictDeclaration,
        Expert,
        UnavailablePeriod,
        expert_secondary_domains,
    )
    from experts_service.extensions import db
    from experts_service.panels.models import (
        AvoidEntry,
        DecisionItem,
        EmploymentRecord,
        Engagement,
        PanelRequest,
        decision_item_domains,
        decision_item_stakeholders,
        panel_request_domains,
    )
    from experts_service.reference.models import Domain, Organisation, Tier

    with app.app_context():
        tier_ids = dict(db.session.execute(sa.select(Tier.rank, Tier.id)).all())
        domain_ids = dict(db.session.execute(sa.select(Domain.name, Domain.id)).all())
        db.session.remove()
        cipher = Fernet(app.config["PII_ENCRYPTION_KEYS"].split(",")[0])
        loader = PoolLoader(size, seed, corpus)
        rows = loader.rows(tier_ids, cipher, keyed_hash)
        rng = random.Random(f"{seed}:facts-request:{size}")
        stakeholders = rng.sample([row["id"] for row in rows["organisations"]], STAKEHOLDERS)
        avoided = rng.sample(range(1, size + 1), AVOID_ENTRIES)
        with db.engine.begin() as connection:
            for table, key in ((Organisation.__table__, "organisations"), (Expert.__table__, "experts"),
                               (expert_secondary_domains, "secondary"), (Engagement.__table__, "engagements"),
                               (UnavailablePeriod.__table__, "unavailable"),
                               (EmploymentRecord.__table__, "employment"),
                               (ConflictDeclaration.__table__, "conflicts")):
                insert_batches(connection, table, rows[key])
            item_id = connection.execute(sa.insert(DecisionItem.__table__).values(
                title="江海市城市更新条例（草案）", description="老旧小区改造、城中村改造与城市更新的实施办法。",
                category="major_economic", keywords=["城市更新", "老旧小区改造", "住房保障"],
                organisation_id=loader.department_id, confidential=False,
            ).returning(DecisionItem.__table__.c.id)).scalar_one()
            connection.execute(sa.insert(decision_item_domains), [
                {"decision_item_id": item_id, "domain_id": domain_ids[name]} for name in ("城乡规划", "住房保障")])
            connection.execute(sa.insert(decision_item_stakeholders), [
                {"decision_item_id": item_id, "organisation_id": organisation_id} for organisation_id in stakeholders])
            request_id = connection.execute(sa.insert(PanelRequest.__table__).values(
                item_id=item_id, mode="meeting", seats=SEATS, min_senior_members=MIN_SENIOR,
                meeting_date=CONSULTATION_DATE, meeting_place="市政府 301 会议室", selection_method="recommend",
                status="submitted", note="",
            ).returning(PanelRequest.__table__.c.id)).scalar_one()
            connection.execute(sa.insert(panel_request_domains),
                               [{"panel_request_id": request_id, "domain_id": domain_ids["城乡规划"]}])
            connection.execute(sa.insert(AvoidEntry.__table__), [
                {"panel_request_id": request_id, "expert_id": expert_id, "reason": "参与过起草"}
                for expert_id in avoided])
        if db.engine.dialect.name == "postgresql":
            # Explicit ids leave the sequences behind; fresh statistics as autovacuum would give them.
            with db.engine.begin() as connection:
                for table in ("organisations", "experts", "engagements", "unavailable_periods",
                              "employment_records", "conflict_declarations"):
                    connection.execute(sa.text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"))
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                connection.execute(sa.text("VACUUM ANALYZE"))
        else:
            with db.engine.begin() as connection:
                connection.execute(sa.text("ANALYZE"))
        db.engine.dispose()
    counts = {key: len(value) for key, value in rows.items()}
    return request_id, counts


# ---------------------------------------------------------------- timing and equivalence


def reference_module(revision: str):
    """facts.py as it was at `revision`, imported under a name of its own."""
    source = subprocess.run(["git", "show", f"{revision}:{FACTS_PATH}"], cwd=REPOSITORY_ROOT, check=True,
                            capture_output=True, text=True).stdout
    name = "bench_facts_reference"
    spec = importlib.util.spec_from_loader(name, loader=None)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is made
    exec(compile(source, f"{revision}:{FACTS_PATH}", "exec"), module.__dict__)
    return module


def differences(expected, actual, path: str = "data", limit: int = 10) -> list[str]:
    """Where two results differ in value or in type (True is not 1, a tuple is not a list)."""
    found: list[str] = []

    def walk(a, b, where: str) -> None:
        if len(found) >= limit:
            return
        if dataclasses.is_dataclass(a) and dataclasses.is_dataclass(b):
            if type(a).__name__ != type(b).__name__:
                found.append(f"{where}: {type(a).__name__} != {type(b).__name__}")
                return
            for field in dataclasses.fields(a):
                walk(getattr(a, field.name), getattr(b, field.name, None), f"{where}.{field.name}")
            return
        if type(a) is not type(b):
            found.append(f"{where}: type {type(a).__name__} != {type(b).__name__} ({a!r} vs {b!r})")
            return
        if isinstance(a, (list, tuple)):
            if len(a) != len(b):
                found.append(f"{where}: length {len(a)} != {len(b)}")
                return
            for index, (x, y) in enumerate(zip(a, b)):
                walk(x, y, f"{where}[{index}]")
            return
        if isinstance(a, dict):
            if list(a) != list(b):
                found.append(f"{where}: keys differ")
                return
            for key in a:
                walk(a[key], b[key], f"{where}[{key!r}]")
            return
        if isinstance(a, (set, frozenset)):
            if a != b or {type(x) for x in a} != {type(y) for y in b}:
                found.append(f"{where}: {sorted(a)!r} != {sorted(b)!r}")
            return
        if a != b:
            found.append(f"{where}: {a!r} != {b!r}")

    walk(expected, actual, path)
    return found


def time_gather(app, request_id: int, modules: list, runs: int) -> list[tuple[list[float], object]]:
    """Times gather of each module, taking turns run by run so that load changes hit them alike.

    Returns per module the timed runs (seconds) and the last result.
    """
    from experts_service.extensions import db
    from experts_service.panels.models import PanelRequest
    from experts_service.policy import current_policy

    seconds: list[list[float]] = [[] for _ in modules]
    results: list[object] = [None for _ in modules]
    with app.app_context():
        policy = current_policy()
        for run in range(WARM_UP_RUNS + runs):
            for index, module in enumerate(modules):
                db.session.remove()  # a fresh session, as each web request has
                request = db.session.get(PanelRequest, request_id)
                started = time.perf_counter()
                results[index] = module.gather(request, policy)
                elapsed = time.perf_counter() - started
                if run >= WARM_UP_RUNS:
                    seconds[index].append(elapsed)
        db.session.remove()
        db.engine.dispose()
    return list(zip(seconds, results))


def summary(seconds: list[float]) -> dict:
    milliseconds = [s * 1000 for s in seconds]
    result = {f"p{p}_ms": round(percentile(milliseconds, p), 1) for p in PERCENTILES}
    result["mean_ms"] = round(sum(milliseconds) / len(milliseconds), 1)
    result["runs_ms"] = [round(m, 1) for m in milliseconds]
    return result


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def measure(database: str, size: int, seed: int, runs: int, corpus, postgres_url: str, reference) -> dict:
    from experts_service import create_app
    from experts_service.panels import facts

    with tempfile.TemporaryDirectory(prefix="bench-facts-") as directory:
        os.environ["EXPERTS_INSTANCE_PATH"] = directory
        if database == "sqlite":
            url = f"sqlite:///{Path(directory) / 'bench.sqlite3'}"
        else:
            url = create_postgres_database(postgres_url)
        try:
            app = create_app(app_config(url))
            started = time.perf_counter()
            migrate_and_seed(app)
            request_id, counts = load_pool(app, size, seed, corpus)
            build_seconds = time.perf_counter() - started
            print(f"[{database} {size}] built in {build_seconds:.0f} s: {counts}", file=sys.stderr)
            result = {"database": database, "size": size, "runs": runs, "rows": counts,
                      "build_s": round(build_seconds, 1)}
            result["load_before"] = load_average()
            modules = [facts] if reference is None else [facts, reference]
            timed = time_gather(app, request_id, modules, runs)
            seconds, data = timed[0]
            result["gather"] = summary(seconds)
            result["load_after"] = load_average()
            result["profiles"] = len(data.profiles)
            if reference is not None:
                reference_seconds, expected = timed[1]
                result["reference"] = summary(reference_seconds)
                found = differences(expected, data)
                result["equal_to_reference"] = not found
                result["differences"] = found
            print(f"[{database} {size}] gather p50 {result['gather']['p50_ms']} ms, "
                  f"p95 {result['gather']['p95_ms']} ms (load {result['load_after']})", file=sys.stderr)
            return result
        finally:
            if database == "postgresql":
                drop_postgres_database(postgres_url)


def table(results: list[dict]) -> str:
    with_reference = any("reference" in r for r in results)
    header = f"{'database':<11}{'experts':>9}{'p50 ms':>9}{'p95 ms':>9}"
    if with_reference:
        header += f"{'ref p50':>9}{'ref p95':>9}  equal"
    lines = [header + "  load (1/5/15 min)"]
    for r in results:
        line = f"{r['database']:<11}{r['size']:>9}{r['gather']['p50_ms']:>9}{r['gather']['p95_ms']:>9}"
        if with_reference:
            ref = r.get("reference", {})
            line += f"{ref.get('p50_ms', ''):>9}{ref.get('p95_ms', ''):>9}  {str(r.get('equal_to_reference', '')):<5}"
        lines.append(line + f"  {r['load_after']}")
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=list(DEFAULT_SIZES))
    parser.add_argument("--database", choices=DATABASES, default="sqlite")
    parser.add_argument("--postgres-url", default=os.environ.get("BENCH_POSTGRES_URL", DEFAULT_POSTGRES_URL),
                        help=f"a server to create (and drop) the database {POSTGRES_BENCH_DATABASE} on")
    parser.add_argument("--runs", type=int, default=DEFAULT_RUNS)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--data", help="the eval folder of bench.generate")
    parser.add_argument("--reference", metavar="REV",
                        help=f"also time {FACTS_PATH} at git revision REV and check it returns the same")
    parser.add_argument("--out", help="results as JSON")
    args = parser.parse_args(argv)
    corpus = load_corpus(args.data, args.seed)
    reference = reference_module(args.reference) if args.reference else None
    results = [measure(args.database, size, args.seed, args.runs, corpus, args.postgres_url, reference)
               for size in args.sizes]
    print(table(results))
    if args.out:
        Path(args.out).write_text(json.dumps({"seed": args.seed, "results": results}, ensure_ascii=False, indent=2),
                                  encoding="utf-8")
    if any(r.get("equal_to_reference") is False for r in results):
        for r in results:
            for line in r.get("differences", []):
                print(f"[{r['database']} {r['size']}] differs: {line}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
