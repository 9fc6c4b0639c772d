"""The Whoosh schema of an expert profile.

One document per expert, three searchable fields holding pre-analysed
tokens (space-separated, also stored so the second query stage can rescore
candidates without walking posting lists):
- words:   jieba search-mode words of the whole profile (keywords, title,
           employer, bio, achievements); English lower-cased and stemmed.
           The expert's own keywords are written twice: what an expert
           declares counts more than a passing mention in a bio.
- bigrams: CJK character bigrams of the same text; they match where jieba
           cuts the item and the profile differently.
- domains: one exact token per domain name (and its first-level parent).
The weights and BM25 parameters live in search/query.py.
"""
from __future__ import annotations

import re

from whoosh.analysis import SpaceSeparatedTokenizer
from whoosh.fields import ID, NUMERIC, STORED, TEXT, Schema

from search.analysis import bigram_analyzer, word_analyzer

TOKEN_FIELDS = ("words", "bigrams", "domains")
# Stored plain text shown in explanations, with their Chinese labels.
SNIPPET_FIELDS = {
    "keyword_text": "研究方向关键词",
    "domain_text": "领域",
    "title_text": "职称职务",
    "bio_text": "个人简介",
    "achievement_text": "主要成果",
}

_WORDS = word_analyzer()
_BIGRAMS = bigram_analyzer()
_SPACES = re.compile(r"\s+")


def word_tokens(text: str) -> list[str]:
    return [token.text for token in _WORDS(text or "")]


def bigram_tokens(text: str) -> list[str]:
    return [token.text for token in _BIGRAMS(text or "")]


def domain_token(name: str) -> str:
    return _SPACES.sub("_", (name or "").strip())


def expert_schema() -> Schema:
    tokens = SpaceSeparatedTokenizer()
    return Schema(
        expert_id=ID(stored=True, unique=True),
        version=NUMERIC(stored=True),
        words=TEXT(analyzer=tokens, stored=True),
        bigrams=TEXT(analyzer=tokens, stored=True),
        domains=TEXT(analyzer=tokens, stored=True),
        name=STORED,
        keyword_text=STORED,
        domain_text=STORED,
        title_text=STORED,
        bio_text=STORED,
        achievement_text=STORED,
    )


def to_document(profile: dict) -> dict:
    """Index document from a plain profile dict (see search_bridge.profile_of)."""
    keywords = "；".join(profile.get("keywords") or [])
    title = " ".join(filter(None, [profile.get("title"), profile.get("position"), profile.get("employer")]))
    bio = profile.get("bio") or ""
    achievements = "\n".join(profile.get("achievements") or [])
    text = "\n".join(filter(None, [keywords, keywords, title, bio, achievements]))
    domain_names = list(dict.fromkeys(profile.get("domains") or []))
    return {
        "expert_id": str(profile["expert_id"]),
        "version": int(profile.get("version") or 0),
        "words": " ".join(word_tokens(text)),
        "bigrams": " ".join(bigram_tokens(text)),
        "domains": " ".join(domain_token(name) for name in domain_names if domain_token(name)),
        "name": profile.get("name", ""),
        "keyword_text": "、".join(profile.get("keywords") or []),
        "domain_text": "、".join(domain_names),
        "title_text": title,
        "bio_text": bio,
        "achievement_text": achievements,
    }
