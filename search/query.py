"""Relevance of expert profiles to a decision item's text.

Query construction: the item's text is analysed like the profiles; terms
that occur in more than MAX_DOC_FREQ_SHARE of a large pool's profiles say
little and cost most (Whoosh walks their whole posting list), so they are
dropped;
of the rest at most MAX_TERMS_PER_FIELD of the rarest are kept. The item's
own keywords are boosted. Scores are BM25F, normalised per query so the
best hit is 1.0 (raw BM25 grows with query length and is not comparable
across items).
"""
from __future__ import annotations

import html
import re
from dataclasses import dataclass, field

from whoosh.query import Or, Term
from whoosh.scoring import BM25F

from search.analysis import bigram_analyzer, word_analyzer
from search.schema import QUERY_FIELDS, SNIPPET_FIELDS

MAX_DOC_FREQ_SHARE = 0.05
# Below this many postings a term is cheap to score, however common: small
# pools keep every term (in 300 profiles, 城市更新 may well be in 5% of them).
COMMON_TERM_MIN_POSTINGS = 500
MAX_TERMS_PER_FIELD = 24
ITEM_KEYWORD_BOOST = 2.0
BM25_B = 0.75
BM25_K1 = 1.2
SNIPPET_RADIUS = 24
MAX_SNIPPETS_PER_HIT = 3

_WORDS = word_analyzer()
_BIGRAMS = bigram_analyzer()
_FIELD_ANALYZERS = {"keywords": _WORDS, "domains": _WORDS, "words": _WORDS, "bigrams": _BIGRAMS}


@dataclass(frozen=True)
class Hit:
    expert_id: int
    score: float
    raw_score: float
    matched_terms: tuple[str, ...]
    highlights: dict[str, str] = field(default_factory=dict)


def _terms(analyzer, text: str) -> list[str]:
    return list(dict.fromkeys(token.text for token in analyzer(text)))


def build_query(searcher, text: str, keywords=()):
    """The selected, weighted terms as a Whoosh query, or None when nothing is left."""
    doc_count = max(1, searcher.doc_count())
    keyword_terms = set()
    for keyword in keywords:
        keyword_terms.update(_terms(_WORDS, keyword))
    full_text = " ".join([text, *keywords])
    clauses = []
    for field_name in QUERY_FIELDS:
        candidates = []
        for term in _terms(_FIELD_ANALYZERS[field_name], full_text):
            frequency = searcher.doc_frequency(field_name, term)
            if frequency == 0:
                continue
            if frequency > COMMON_TERM_MIN_POSTINGS and frequency / doc_count > MAX_DOC_FREQ_SHARE:
                continue
            candidates.append((frequency, term))
        candidates.sort()
        for _frequency, term in candidates[:MAX_TERMS_PER_FIELD]:
            boost = ITEM_KEYWORD_BOOST if term in keyword_terms else 1.0
            clauses.append(Term(field_name, term, boost=boost))
    return Or(clauses) if clauses else None


def search(ix, text: str, keywords=(), limit: int = 1000) -> list[Hit]:
    with ix.searcher(weighting=BM25F(B=BM25_B, K1=BM25_K1)) as searcher:
        query = build_query(searcher, text, keywords)
        if query is None:
            return []
        results = searcher.search(query, limit=limit, terms=True)
        if not results:
            return []
        top = results[0].score or 1.0
        hits = []
        for result in results:
            matched = tuple(dict.fromkeys(
                term.decode("utf-8") if isinstance(term, bytes) else str(term)
                for field_name, term in result.matched_terms() if field_name != "bigrams"
            ))
            if not matched:  # only bigrams matched: show those
                matched = tuple(dict.fromkeys(
                    term.decode("utf-8") if isinstance(term, bytes) else str(term)
                    for _field, term in result.matched_terms()
                ))
            stored = result.fields()
            hits.append(Hit(
                expert_id=int(stored["expert_id"]),
                score=result.score / top,
                raw_score=result.score,
                matched_terms=matched,
                highlights=highlight(stored, matched),
            ))
        return hits


def highlight(stored: dict, terms: tuple[str, ...]) -> dict[str, str]:
    """Up to MAX_SNIPPETS_PER_HIT snippets (HTML-escaped, terms in <mark>) from the profile."""
    if not terms:
        return {}
    # Longest first so 国土空间规划 wins over 规划; Latin stems match word starts.
    ordered = sorted(terms, key=len, reverse=True)
    pattern = re.compile("|".join(
        re.escape(term) + (r"\w*" if term.isascii() else "") for term in ordered
    ), re.IGNORECASE)
    snippets: dict[str, str] = {}
    for field_name, label in SNIPPET_FIELDS.items():
        text = stored.get(field_name) or ""
        first = pattern.search(text)
        if first is None:
            continue
        start = max(0, first.start() - SNIPPET_RADIUS)
        end = min(len(text), first.end() + SNIPPET_RADIUS * 2)
        window = text[start:end]
        pieces, cursor = [], 0
        for match in pattern.finditer(window):
            pieces.append(html.escape(window[cursor:match.start()]))
            pieces.append(f"<mark>{html.escape(match.group())}</mark>")
            cursor = match.end()
        pieces.append(html.escape(window[cursor:]))
        # Adjacent terms read as one phrase: 碳/排放/权/交易 -> one mark.
        snippet = "".join(pieces).replace("</mark><mark>", "")
        snippets[label] = ("…" if start > 0 else "") + snippet + ("…" if end < len(text) else "")
        if len(snippets) >= MAX_SNIPPETS_PER_HIT:
            break
    return snippets
