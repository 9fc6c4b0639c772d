"""Relevance explanations: matched terms, escaped highlights, keyword boost, domains."""
import math

import pytest

from search import query as search_query
from search.index import ExpertIndex


def _profile(expert_id: int, **fields) -> dict:
    base = {"expert_id": expert_id, "version": 1, "name": f"专家{expert_id}", "keywords": [], "domains": [],
            "domain_ids": [], "title": "", "position": "", "employer": "", "bio": "", "achievements": []}
    return {**base, **fields}


def _index(tmp_path, profiles) -> ExpertIndex:
    index = ExpertIndex(tmp_path / "index")
    index.rebuild(profiles, applied_outbox_id=0)
    return index


def test_highlights_are_escaped_and_mark_the_matched_terms(tmp_path):
    index = _index(tmp_path, [_profile(1, bio="<script>alert(1)</script>长期研究碳排放权交易与绿色金融。")])
    [hit] = search_query.search(index.open(), "碳排放权交易市场")
    snippet = hit.highlights["个人简介"]
    assert "<script" not in snippet and "&lt;/script&gt;" in snippet
    assert "<mark>碳排放权交易</mark>" in snippet
    assert hit.score == 1.0 and hit.raw_score > 0
    assert any("碳排放" in term or "排放" in term for term in hit.matched_terms)


def test_english_terms_are_stemmed_and_case_folded(tmp_path):
    index = _index(tmp_path, [_profile(1, achievements=["Renewable Energy Policies in Cities"]),
                              _profile(2, achievements=["Rural credit markets"])])
    hits = search_query.search(index.open(), "energy policy for renewables")
    assert [hit.expert_id for hit in hits] == [1]
    assert "<mark>" in hits[0].highlights["主要成果"]


def test_keywords_outrank_a_passing_mention(tmp_path):
    index = _index(tmp_path, [
        _profile(1, bio="曾参与一次医保支付方式改革的座谈。" + "公共服务。" * 20),
        _profile(2, keywords=["医保支付方式改革", "DRG付费"]),
    ])
    hits = search_query.search(index.open(), "推进医保支付方式改革", keywords=["医保支付方式改革"])
    assert [hit.expert_id for hit in hits][:1] == [2]
    assert hits[0].score == 1.0 > hits[1].score


def test_scores_are_normalised_per_query(tmp_path):
    index = _index(tmp_path, [_profile(n, keywords=["城市更新"] if n % 2 else ["乡村振兴"]) for n in range(1, 9)])
    for text in ("城市更新", "城市更新 城市更新试点 老旧小区 城市更新行动"):
        hits = search_query.search(index.open(), text)
        assert max(hit.score for hit in hits) == 1.0
        assert all(0 < hit.score <= 1.0 for hit in hits)


def test_one_achievement_on_the_topic_beats_many_that_mention_a_word(tmp_path):
    # Each achievement is scored on its own: five titles that each touch one
    # query word do not add up to one title that is about the item.
    scattered = ["城市交通拥堵成因调查", "碳排放核算方法比较", "绿色金融产品创新", "市场监管执法研究",
                 "交易成本理论综述"]
    index = _index(tmp_path, [
        _profile(1, achievements=scattered),
        _profile(2, achievements=["全国碳排放权交易市场配额分配机制研究", "企业年金制度"]),
    ])
    hits = search_query.search(index.open(), "碳排放权交易市场配额分配")
    assert [hit.expert_id for hit in hits] == [2, 1]


def test_a_small_pool_is_scored_in_full(tmp_path, monkeypatch):
    # Below the stage-1 candidate count every expert is rescored with every term:
    # with stage 1 limited to the rarest term, only expert 1 would be found.
    monkeypatch.setattr(search_query, "STAGE1_MAX_TERMS", 1)
    profiles = [_profile(n, achievements=[f"第{n}项：区域经济研究"]) for n in range(2, 31)]
    profiles.append(_profile(1, achievements=["区域经济与碳排放权交易"]))
    index = _index(tmp_path, profiles)
    hits = search_query.search(index.open(), "碳排放权交易 区域经济")
    assert sorted(hit.expert_id for hit in hits) == list(range(1, 31))
    assert hits[0].expert_id == 1


def test_standard_scores_compare_one_expert_across_items(tmp_path):
    index = _index(tmp_path, [
        _profile(1, achievements=["Reviewer assignment with topic models", "Peer review bias"]),
        _profile(2, achievements=["Protein folding kinetics"]),
        _profile(3, achievements=["Graph neural networks for molecules"]),
        _profile(4, achievements=["Topic models for scientific text"]),
    ])
    on_topic = {h.expert_id: h for h in search_query.search(index.open(), "assigning reviewers to papers by topic")}
    off_topic = {h.expert_id: h for h in search_query.search(index.open(), "protein folding in molecules")}
    assert all(hit.standard_score > hit.standard_floor for hit in on_topic.values())
    assert 1 not in off_topic  # no shared word: expert 1 scores this query's floor
    off_topic_floor = next(iter(off_topic.values())).standard_floor
    assert on_topic[1].standard_score > 0 > off_topic_floor
    # By hand: standardised against all 4 experts, those without a hit counting as 0.
    raw = [hit.raw_score for hit in on_topic.values()] + [0.0] * (4 - len(on_topic))
    mean = sum(raw) / 4
    spread = math.sqrt(sum((r - mean) ** 2 for r in raw) / 4)
    for hit in on_topic.values():
        assert hit.standard_score == pytest.approx((hit.raw_score - mean) / spread, rel=1e-9)
        assert hit.standard_floor == pytest.approx(-mean / spread, rel=1e-9)


def test_a_large_pool_rescores_only_the_stage1_candidates(tmp_path, monkeypatch):
    profiles = [_profile(n, achievements=[f"区域经济第{n}项"]) for n in range(1, 6)]
    profiles.append(_profile(6, achievements=["区域经济与碳排放权交易"]))
    index = _index(tmp_path, profiles)
    assert len(search_query.search(index.open(), "碳排放权交易 区域经济")) == 6
    # As if the pool were larger than the stage-1 candidate count: stage 1 picks
    # the rarest terms first, so the one expert with 碳排放权交易 leads.
    monkeypatch.setattr(search_query, "STAGE1_CANDIDATES", 2)
    hits = search_query.search(index.open(), "碳排放权交易 区域经济")
    assert len(hits) == 2 and hits[0].expert_id == 6


def test_deleted_experts_are_not_rescored(tmp_path):
    index = _index(tmp_path, [_profile(n, achievements=["城市更新试点"]) for n in range(1, 4)])
    ix = index.open()
    writer = ix.writer()
    writer.delete_by_term("expert_id", "2")
    writer.commit(merge=False)  # the deleted document stays in the segment, marked deleted
    assert sorted(hit.expert_id for hit in search_query.search(index.open(), "城市更新")) == [1, 3]
