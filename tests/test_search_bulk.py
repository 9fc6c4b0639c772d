"""The bulk build (search/bulk.py) writes the index Whoosh's own writer would:
same terms, postings, lengths and stored fields; same answers; one or more
worker processes; a failing worker fails the rebuild and leaves the old
generation answering."""
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
from whoosh import index as whoosh_index

from search import bulk
from search import query as search_query
from search.analysis import add_vocabulary
from search.index import BUILDING_SUFFIX, ExpertIndex
from search.schema import expert_schema, to_document

PHRASES = ["城市更新", "老旧小区改造", "国土空间规划", "碳排放权交易", "绿色金融", "医保支付方式改革", "乡村振兴",
           "数字政府", "营商环境", "公共卫生应急", "交通拥堵治理", "水环境治理", "人工智能伦理", "养老服务体系"]
ENGLISH = ["Renewable energy policies", "Deep learning for traffic prediction", "Health insurance reform",
           "Urban renewal and housing markets", "Carbon markets in China"]
DOMAINS = ["城乡建设", "生态环境", "卫生健康", "交通运输", "数字经济", "财政金融"]
POOL_SIZE = 240


def _profiles(count: int, seed: int = 7) -> list[dict]:
    rng = random.Random(seed)
    profiles = []
    for expert_id in range(1, count + 1):
        keywords = rng.sample(PHRASES, rng.randint(1, 4))
        achievements = [f"{rng.choice(PHRASES)}与{rng.choice(PHRASES)}研究" for _ in range(rng.randint(0, 4))]
        if rng.random() < 0.3:
            achievements.append(rng.choice(ENGLISH))
        profiles.append({
            "expert_id": expert_id, "version": rng.randint(1, 5), "name": f"专家{expert_id}", "keywords": keywords,
            "domains": rng.sample(DOMAINS, rng.randint(0, 2)), "domain_ids": [], "title": rng.choice(["教授", "研究员", ""]),
            "position": "", "employer": rng.choice(["江海大学", "江海市规划院", ""]),
            "bio": "长期从事" + "、".join(rng.sample(PHRASES, 2)) + "研究。" if rng.random() < 0.8 else "",
            "achievements": achievements,
        })
    return profiles


def _stock_index(directory, profiles):
    """The index as Whoosh's own writer builds it (pooled postings, one optimised segment)."""
    ix = whoosh_index.create_in(str(directory), expert_schema())
    writer = ix.writer()
    for profile in profiles:
        writer.add_document(**to_document(profile))
    writer.commit(optimize=True)
    return ix


def _contents(ix) -> dict:
    """Everything a reader can tell about the index, keyed by expert id (not document number)."""
    with ix.searcher() as searcher:
        reader = searcher.reader()
        expert_of = {docnum: int(fields["expert_id"]) for docnum, fields in reader.iter_docs()}
        postings = {}
        for field_name in ("expert_id", "version", "words", "bigrams", "domains"):
            for term in reader.lexicon(field_name):
                matcher = reader.postings(field_name, term)
                entries = []
                while matcher.is_active():
                    entries.append((expert_of[matcher.id()], matcher.weight(),
                                    matcher.value() if field_name != "version" else None))
                    matcher.next()
                info = reader.term_info(field_name, term)
                # In document order, which follows the profiles' order in every build.
                postings[(field_name, term)] = (entries, info.doc_frequency(), info.weight(),
                                                info.min_length(), info.max_length())
        lengths = {(expert_of[docnum], f): reader.doc_field_length(docnum, f)
                   for docnum in expert_of for f in ("words", "bigrams", "domains")}
        stored = {expert_of[docnum]: fields for docnum, fields in reader.iter_docs()}
        totals = {f: (reader.field_length(f), searcher.avg_field_length(f)) for f in ("words", "bigrams", "domains")}
        return {"postings": postings, "lengths": lengths, "stored": stored, "totals": totals,
                "count": searcher.doc_count()}


@pytest.fixture
def profiles():
    pool = _profiles(POOL_SIZE)
    add_vocabulary(PHRASES)
    return pool


@pytest.mark.parametrize("workers", [1, 2])
def test_a_bulk_build_holds_what_the_stock_writer_writes(tmp_path, profiles, monkeypatch, workers):
    monkeypatch.setattr(bulk, "PARALLEL_MIN_DOCUMENTS", 0)
    monkeypatch.setattr(bulk, "BATCH_SIZE", 50)  # several batches per worker
    (tmp_path / "stock").mkdir()
    stock = _contents(_stock_index(tmp_path / "stock", profiles))
    index = ExpertIndex(tmp_path / "bulk")
    index.rebuild(iter(profiles), applied_outbox_id=0, total=len(profiles), workers=workers)
    built = _contents(index.open())
    assert len(index.open()._segments()) == workers
    with index.open().searcher() as searcher:
        in_document_order = [int(fields["expert_id"]) for fields in searcher.all_stored_fields()]
    assert in_document_order == [p["expert_id"] for p in profiles]
    assert built["count"] == stock["count"] == POOL_SIZE
    assert built["postings"].keys() == stock["postings"].keys()
    assert built["postings"] == stock["postings"]
    assert built["lengths"] == stock["lengths"]
    assert built["stored"] == stock["stored"]
    assert built["totals"] == stock["totals"]


@pytest.mark.parametrize("candidates", [20, 300])
def test_a_bulk_build_answers_as_the_stock_index(tmp_path, profiles, monkeypatch, candidates):
    # 20 < the pool: stage 1 picks candidates (ties at its cut-off included); 300: the pool is rescored in full.
    monkeypatch.setattr(bulk, "PARALLEL_MIN_DOCUMENTS", 0)
    monkeypatch.setattr(bulk, "BATCH_SIZE", 30)
    monkeypatch.setattr(search_query, "STAGE1_CANDIDATES", candidates)
    (tmp_path / "stock").mkdir()
    built = {"stock": _stock_index(tmp_path / "stock", profiles)}
    for name, workers in (("one", 1), ("two", 2), ("two again", 2), ("three", 3)):
        index = ExpertIndex(tmp_path / name)
        index.rebuild(iter(profiles), applied_outbox_id=0, total=len(profiles), workers=workers)
        built[name] = index.open()
    for text in ("推进城市更新和老旧小区改造", "碳排放权交易市场与绿色金融", "renewable energy policy", "数字政府建设",
                 "乡村振兴"):
        answers = {name: [(h.expert_id, h.raw_score, h.matched_terms)
                          for h in search_query.search(ix, text, domains=["城乡建设"])]
                   for name, ix in built.items()}
        assert answers["stock"]
        assert all(answer == answers["stock"] for answer in answers.values()), text


def test_an_incremental_update_after_a_bulk_build(tmp_path, profiles, monkeypatch):
    monkeypatch.setattr(bulk, "PARALLEL_MIN_DOCUMENTS", 0)
    index = ExpertIndex(tmp_path / "bulk")
    index.rebuild(iter(profiles), applied_outbox_id=0, total=len(profiles), workers=2)
    changed = {**profiles[10], "version": 99, "keywords": ["量子通信安全"]}
    index.apply([changed], [profiles[11]["expert_id"]], applied_outbox_id=5)
    hits = search_query.search(index.open(), "量子通信安全")
    assert [hit.expert_id for hit in hits] == [changed["expert_id"]]
    versions = index.stored_versions()
    assert versions[changed["expert_id"]] == 99 and profiles[11]["expert_id"] not in versions
    assert len(versions) == POOL_SIZE - 1


def test_a_failing_worker_fails_the_rebuild_and_the_old_generation_answers(tmp_path, profiles, monkeypatch):
    index = ExpertIndex(tmp_path / "bulk")
    index.rebuild(iter(profiles[:20]), applied_outbox_id=0)
    generation = index.current_generation()
    monkeypatch.setattr(bulk, "PARALLEL_MIN_DOCUMENTS", 0)
    broken = [*profiles[20:], {"version": 1}]  # no expert id: to_document fails in a worker
    with pytest.raises(bulk.BuildFailed, match="worker 1: KeyError"):
        index.rebuild(iter(broken), applied_outbox_id=0, total=len(broken), workers=2)
    assert index.current_generation() == generation
    assert index.state().doc_count == 20
    assert list((tmp_path / "bulk").glob(f"*{BUILDING_SUFFIX}"))
    index.rebuild(iter(profiles), applied_outbox_id=0, total=len(profiles), workers=2)
    assert not list((tmp_path / "bulk").glob(f"*{BUILDING_SUFFIX}"))
    assert index.state().doc_count == POOL_SIZE


def test_a_new_vocabulary_word_is_not_hidden_by_cached_phrases():
    from search.analysis import analysed_phrase

    phrase = "协同甄别枢纽机制"  # a made-up term, in no dictionary
    assert "甄别枢纽" not in analysed_phrase(phrase)[0]
    add_vocabulary(["甄别枢纽"])
    assert "甄别枢纽" in analysed_phrase(phrase)[0]
    assert "甄别枢纽" in to_document({"expert_id": 1, "keywords": [phrase]})["about_words"].split()


FAILING_BUILD = """
import sys
from search import bulk
from search.index import ExpertIndex
bulk.PARALLEL_MIN_DOCUMENTS = 0
bulk.BATCH_SIZE = 200
big = "城市更新" * 2000  # large batches fill the pipe to a worker that has stopped reading
profiles = [{"expert_id": n, "bio": big} for n in range(1, 2001)]
profiles[10] = {"version": 1}  # no expert id: the first worker fails early
try:
    ExpertIndex(sys.argv[1]).rebuild(iter(profiles), applied_outbox_id=0, total=len(profiles), workers=2)
except bulk.BuildFailed as error:
    print("failed:", error, flush=True)
"""


def test_a_failed_parallel_build_lets_the_process_exit(tmp_path):
    script = tmp_path / "failing.py"
    script.write_text(FAILING_BUILD, encoding="utf-8")
    root = Path(__file__).resolve().parent.parent
    finished = subprocess.run([sys.executable, str(script), str(tmp_path / "index")], capture_output=True, text=True,
                              timeout=120, cwd=root, env={**os.environ, "PYTHONPATH": str(root)})
    assert finished.returncode == 0, finished.stderr
    assert "failed: search build worker 0: KeyError" in finished.stdout
