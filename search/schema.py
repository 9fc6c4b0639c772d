"""The Whoosh schema of an expert profile and the field weights.

Field weights (a documented choice; see README "Matching quality"):
- keywords: the expert's own keywords say most precisely what they know;
- domains: the taxonomy names, matched whole;
- words / bigrams: the whole profile text (title, employer, bio, achievements)
  as jieba words and as CJK bigrams; bigrams catch phrases that jieba cuts
  differently in the item and in the profile.
"""
from __future__ import annotations

from whoosh.fields import ID, KEYWORD, NUMERIC, STORED, TEXT, Schema

from search.analysis import bigram_analyzer, word_analyzer

FIELD_BOOSTS = {"keywords": 2.0, "domains": 1.5, "words": 1.0, "bigrams": 0.6}
# Text fields the query runs against, in the order explanations list them.
QUERY_FIELDS = ("keywords", "domains", "words", "bigrams")
# Stored plain text shown in explanations, with their Chinese labels.
SNIPPET_FIELDS = {
    "keyword_text": "研究方向关键词",
    "domain_text": "领域",
    "title_text": "职称职务",
    "bio_text": "个人简介",
    "achievement_text": "主要成果",
}


def expert_schema() -> Schema:
    words = word_analyzer()
    return Schema(
        expert_id=ID(stored=True, unique=True),
        version=NUMERIC(stored=True),
        keywords=TEXT(analyzer=words, field_boost=FIELD_BOOSTS["keywords"]),
        domains=TEXT(analyzer=words, field_boost=FIELD_BOOSTS["domains"]),
        domain_ids=KEYWORD(stored=True, commas=True),
        words=TEXT(analyzer=words, field_boost=FIELD_BOOSTS["words"]),
        bigrams=TEXT(analyzer=bigram_analyzer(), field_boost=FIELD_BOOSTS["bigrams"]),
        name=STORED,
        keyword_text=STORED,
        domain_text=STORED,
        title_text=STORED,
        bio_text=STORED,
        achievement_text=STORED,
    )


def to_document(profile: dict) -> dict:
    """Index document from a plain profile dict (see search_bridge.profile_of)."""
    keywords = " ".join(profile.get("keywords") or [])
    domains = " ".join(profile.get("domains") or [])
    title = " ".join(filter(None, [profile.get("title"), profile.get("position"), profile.get("employer")]))
    bio = profile.get("bio") or ""
    achievements = "\n".join(profile.get("achievements") or [])
    everything = "\n".join(filter(None, [keywords, domains, title, bio, achievements]))
    return {
        "expert_id": str(profile["expert_id"]),
        "version": int(profile.get("version") or 0),
        "keywords": keywords,
        "domains": domains,
        "domain_ids": ",".join(str(d) for d in profile.get("domain_ids") or []),
        "words": everything,
        "bigrams": everything,
        "name": profile.get("name", ""),
        "keyword_text": "、".join(profile.get("keywords") or []),
        "domain_text": "、".join(profile.get("domains") or []),
        "title_text": title,
        "bio_text": bio,
        "achievement_text": achievements,
    }
