"""Relevance explanations: matched terms, escaped highlights, keyword boost, domains."""
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
