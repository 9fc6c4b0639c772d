"""Relevance of expert profiles to a decision item, in two stages.

Stage 1 (Whoosh): an OR of the item's rarest word and bigram terms, taken
rarest first while their summed posting-list lengths stay within
STAGE1_MAX_POSTINGS (at most STAGE1_MAX_TERMS, at least one term), collects
the top STAGE1_CANDIDATES experts. The bound is absolute, so query cost stays
flat as the pool grows; common terms (研究) never have their long posting
lists walked.

Stage 2: those candidates are rescored exactly with every query term,
common ones and the item's domains included, from the token strings stored
in the index and Whoosh's statistics: BM25 with idf raised to IDF_POWER
(sharper preference for rare terms), low length normalisation, per-field
weights. Scores are then normalised per query so the best hit is 1.0.

The parameters were tuned on the dev split of the zh_nssfc evaluation set
(see README "Matching quality").
"""
from __future__ import annotations

import html
import re
from collections import Counter
from dataclasses import dataclass, field

from whoosh.query import Or, Term
from whoosh.scoring import BM25F

from search.schema import SNIPPET_FIELDS, bigram_tokens, domain_token, word_tokens

FIELD_WEIGHTS = {"words": 0.7, "bigrams": 0.3, "domains": 2.5}
BM25_K1 = 0.8
BM25_B = 0.3
IDF_POWER = 1.5
STAGE1_MAX_POSTINGS = 3000
STAGE1_MAX_TERMS = 12
STAGE1_CANDIDATES = 300
SNIPPET_RADIUS = 24
MAX_SNIPPETS_PER_HIT = 3


class PowerIdfBM25F(BM25F):
    """Whoosh BM25F whose idf is raised to a power."""

    def __init__(self, idf_power: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        self.idf_power = idf_power

    def idf(self, searcher, fieldname, text):
        return super().idf(searcher, fieldname, text) ** self.idf_power


@dataclass(frozen=True)
class Hit:
    expert_id: int
    score: float
    raw_score: float
    matched_terms: tuple[str, ...]
    highlights: dict[str, str] = field(default_factory=dict)


def query_terms(text: str, keywords=(), domains=()) -> dict[str, list[str]]:
    full_text = "\n".join([text or "", *keywords])
    return {
        "words": list(dict.fromkeys(word_tokens(full_text))),
        "bigrams": list(dict.fromkeys(bigram_tokens(full_text))),
        "domains": list(dict.fromkeys(t for t in (domain_token(d) for d in domains) if t)),
    }


def select_stage1_terms(searcher, terms: dict[str, list[str]]) -> list[tuple[str, str]]:
    candidates = []
    for field_name in ("words", "bigrams"):
        for term in terms[field_name]:
            frequency = searcher.doc_frequency(field_name, term)
            if frequency:
                candidates.append((frequency, field_name, term))
    candidates.sort()
    selected, postings = [], 0
    for frequency, field_name, term in candidates:
        if selected and (postings + frequency > STAGE1_MAX_POSTINGS or len(selected) >= STAGE1_MAX_TERMS):
            break
        selected.append((field_name, term))
        postings += frequency
    if not selected:
        # Nothing textual matched: fall back to the domains alone.
        selected = [("domains", term) for term in terms["domains"] if searcher.doc_frequency("domains", term)][:1]
    return selected


class Scorer:
    """Stage-2 exact BM25 over one searcher's statistics."""

    def __init__(self, searcher):
        self.searcher = searcher
        self.average_length = {f: searcher.avg_field_length(f) or 1.0 for f in FIELD_WEIGHTS}
        self._idf: dict[tuple[str, str], float] = {}

    def idf(self, field_name: str, term: str) -> float:
        key = (field_name, term)
        if key not in self._idf:
            self._idf[key] = self.searcher.idf(field_name, term)
        return self._idf[key]

    def score(self, docnum: int, stored: dict, terms: dict[str, list[str]]) -> tuple[float, list[str]]:
        total, matched = 0.0, []
        for field_name, weight in FIELD_WEIGHTS.items():
            wanted = terms[field_name]
            if not wanted:
                continue
            counts = Counter((stored.get(field_name) or "").split())
            length = self.searcher.doc_field_length(docnum, field_name, 0) or 0
            norm = BM25_K1 * ((1 - BM25_B) + BM25_B * length / self.average_length[field_name])
            for term in wanted:
                frequency = counts.get(term)
                if frequency:
                    total += weight * self.idf(field_name, term) * frequency * (BM25_K1 + 1) / (frequency + norm)
                    if field_name != "bigrams":
                        matched.append(term)
        return total, matched


def search(ix, text: str, keywords=(), domains=(), limit: int = 1000) -> list[Hit]:
    terms = query_terms(text, keywords, domains)
    weighting = PowerIdfBM25F(idf_power=IDF_POWER, B=BM25_B, K1=BM25_K1)
    with ix.searcher(weighting=weighting) as searcher:
        selected = select_stage1_terms(searcher, terms)
        if not selected:
            return []
        stage1 = Or([Term(f, t, boost=FIELD_WEIGHTS[f]) for f, t in selected])
        results = searcher.search(stage1, limit=STAGE1_CANDIDATES)
        scorer = Scorer(searcher)
        rescored = []
        for _score, docnum in results.top_n:
            stored = searcher.stored_fields(docnum)
            score, matched = scorer.score(docnum, stored, terms)
            if score > 0:
                rescored.append((score, stored, matched))
    rescored.sort(key=lambda row: (-row[0], int(row[1]["expert_id"])))
    rescored = rescored[:limit]
    if not rescored:
        return []
    top = rescored[0][0]
    return [
        Hit(
            expert_id=int(stored["expert_id"]),
            score=score / top,
            raw_score=score,
            matched_terms=tuple(dict.fromkeys(t.replace("_", " ") for t in matched)),
            highlights=highlight(stored, tuple(dict.fromkeys(matched))),
        )
        for score, stored, matched in rescored
    ]


def highlight(stored: dict, terms: tuple[str, ...]) -> dict[str, str]:
    """Up to MAX_SNIPPETS_PER_HIT snippets (HTML-escaped, terms in <mark>) from the profile."""
    if not terms:
        return {}
    # Longest first so 国土空间规划 wins over 规划; Latin stems match word starts.
    ordered = sorted(terms, key=len, reverse=True)
    pattern = re.compile("|".join(
        re.escape(term.replace("_", " ")) + (r"\w*" if term.isascii() else "") for term in ordered
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
