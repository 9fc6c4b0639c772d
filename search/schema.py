"""The Whoosh schema of an expert profile.

One document per expert. Indexed (for the first query stage and Whoosh's
statistics), pre-analysed tokens, space-separated:
- words:   jieba search-mode words of the whole profile (keywords, title,
           employer, bio, achievements); English lower-cased and stemmed.
- bigrams: CJK character bigrams of the same text; they match where jieba
           cuts the item and the profile differently.
- domains: one exact token per domain name (and its first-level parent).
Stored for the second stage, which scores two parts of a profile apart:
- about_words, about_bigrams: what the expert declares about themselves
  (keywords, written twice because a declared field counts more than a
  passing mention, title, position, employer, bio);
- item_words, item_bigrams: one line per achievement, so each is scored on
  its own (an expert with one paper on the topic beats one whose many
  papers each mention a query word once).
The weights and BM25 parameters live in search/query.py.
"""
from __future__ import annotations

import re

from whoosh.analysis import SpaceSeparatedTokenizer
from whoosh.fields import ID, NUMERIC, STORED, TEXT, Schema

from search.analysis import analysed_phrase, bigram_tokens, word_tokens

# Bump when the documents change: an index of another version is rebuilt.
# 2: declared part and achievements stored apart for stage 2.
# (Frequencies without positions, phrase=False below, changed how postings
# are kept, not the documents: Whoosh reads both, so no rebuild is forced.)
SCHEMA_VERSION = 2
TOKEN_FIELDS = ("words", "bigrams", "domains")
# Stored plain text shown in explanations, with their Chinese labels.
SNIPPET_FIELDS = {
    "keyword_text": "研究方向关键词",
    "domain_text": "领域",
    "title_text": "职称职务",
    "bio_text": "个人简介",
    "achievement_text": "主要成果",
}

_SPACES = re.compile(r"\s+")
__all__ = ["SCHEMA_VERSION", "TOKEN_FIELDS", "SNIPPET_FIELDS", "bigram_tokens", "domain_token", "expert_schema",
           "to_document", "word_tokens"]


def domain_token(name: str) -> str:
    return _SPACES.sub("_", (name or "").strip())


def expert_schema() -> Schema:
    tokens = SpaceSeparatedTokenizer()
    # phrase=False: frequencies only. Positions would double the postings'
    # size and the build's work, and no query here is a phrase.
    return Schema(
        expert_id=ID(stored=True, unique=True),
        version=NUMERIC(stored=True),
        words=TEXT(analyzer=tokens, phrase=False),
        bigrams=TEXT(analyzer=tokens, phrase=False),
        domains=TEXT(analyzer=tokens, phrase=False, stored=True),
        about_words=STORED,
        about_bigrams=STORED,
        item_words=STORED,
        item_bigrams=STORED,
        name=STORED,
        keyword_text=STORED,
        domain_text=STORED,
        title_text=STORED,
        bio_text=STORED,
        achievement_text=STORED,
    )


def to_document(profile: dict) -> dict:
    """Index document from a plain profile dict (see search_bridge.profile_of)."""
    title = " ".join(filter(None, [profile.get("title"), profile.get("position"), profile.get("employer")]))
    bio = profile.get("bio") or ""
    items = [item for item in (profile.get("achievements") or []) if item and item.strip()]
    achievements = "\n".join(items)
    domain_names = list(dict.fromkeys(profile.get("domains") or []))
    # The declared part: keywords (twice: a declared field counts more than a
    # passing mention), title line, bio. Keywords and the title line are
    # analysed as cached phrases; that gives the tokens of the joined text,
    # since jieba and the bigrams both break at the separators between them.
    keyword_words, keyword_bigrams = [], []
    for keyword in profile.get("keywords") or []:
        words, bigrams = analysed_phrase(keyword)
        keyword_words.extend(words)
        keyword_bigrams.extend(bigrams)
    title_words, title_bigrams = analysed_phrase(title) if title else ((), ())
    about_words = " ".join([*keyword_words, *keyword_words, *title_words, *word_tokens(bio)])
    about_bigrams = " ".join([*keyword_bigrams, *keyword_bigrams, *title_bigrams, *bigram_tokens(bio)])
    item_words = [" ".join(word_tokens(item)) for item in items]
    item_bigrams = [" ".join(bigram_tokens(item)) for item in items]
    return {
        "expert_id": str(profile["expert_id"]),
        "version": int(profile.get("version") or 0),
        "words": " ".join(filter(None, [about_words, *item_words])),
        "bigrams": " ".join(filter(None, [about_bigrams, *item_bigrams])),
        "domains": " ".join(domain_token(name) for name in domain_names if domain_token(name)),
        "about_words": about_words,
        "about_bigrams": about_bigrams,
        "item_words": "\n".join(item_words),
        "item_bigrams": "\n".join(item_bigrams),
        "name": profile.get("name", ""),
        "keyword_text": "、".join(profile.get("keywords") or []),
        "domain_text": "、".join(domain_names),
        "title_text": title,
        "bio_text": bio,
        "achievement_text": achievements,
    }
