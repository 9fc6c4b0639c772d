"""Relevance of expert profiles to a decision item, in two stages.

Stage 1 (Whoosh's postings, BM25F): an OR of the item's rarest word and
bigram terms, taken rarest first while their summed posting-list lengths
stay within STAGE1_MAX_POSTINGS (at most STAGE1_MAX_TERMS, at least one
term), collects the top STAGE1_CANDIDATES experts. The bound is absolute,
so query cost stays flat as the pool grows; common terms (研究) never have their long posting
lists walked. A pool no larger than STAGE1_CANDIDATES is rescored in full.

Stage 2: those candidates are rescored exactly with every query term,
common ones and the item's domains included, from the token strings stored
in the index and Whoosh's document frequencies: BM25 with idf raised to
TEXT_IDF_POWER (a sharper preference for rare terms), the self-declared part
of the profile and each achievement scored apart (see Scorer).

Two normalisations per query: `score` divides by the best hit (1.0 at the
top, what the matcher weighs against domain and tier); `standard_score` is
standardised against the whole pool, so one expert's scores for different
items can be compared.

The parameters were tuned on the dev split of zh_nssfc and on
en_goldstandard (see README "Matching quality").
"""
from __future__ import annotations

import heapq
import html
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from search.schema import SNIPPET_FIELDS, bigram_tokens, domain_token, word_tokens

# Stage 1: which candidates (Whoosh's BM25F formula over the indexed fields).
FIELD_WEIGHTS = {"words": 0.7, "bigrams": 0.3, "domains": 2.5}
BM25_K1 = 0.8
BM25_B = 0.3
IDF_POWER = 1.5
STAGE1_MAX_POSTINGS = 3000
STAGE1_MAX_TERMS = 12
STAGE1_CANDIDATES = 300
# Stage 2: the exact score (see Scorer).
WORDS_WEIGHT = 0.7
BIGRAMS_WEIGHT = 0.3
TEXT_K1 = 1.6
TEXT_B = 0.75
TEXT_IDF_POWER = 2.5
ABOUT_WEIGHT = 1.0
DOMAIN_WEIGHT = 2.5
ITEM_WEIGHT = 8.0
ITEM_TOP_K = 8
SNIPPET_RADIUS = 24
MAX_SNIPPETS_PER_HIT = 3


@dataclass(frozen=True)
class Hit:
    expert_id: int
    score: float
    raw_score: float
    # (raw - pool mean) / pool spread: comparable across items (see ranked_hits).
    standard_score: float
    # The standard score an expert without any match would have in this query.
    standard_floor: float
    matched_terms: tuple[str, ...]
    highlights: Mapping[str, str] = field(default_factory=dict)


def query_terms(text: str, keywords=(), domains=()) -> dict[str, list[str]]:
    full_text = "\n".join([text or "", *keywords])
    return {
        "words": list(dict.fromkeys(word_tokens(full_text))),
        "bigrams": list(dict.fromkeys(bigram_tokens(full_text))),
        "domains": list(dict.fromkeys(t for t in (domain_token(d) for d in domains) if t)),
    }


def document_frequencies(searcher, terms: dict[str, list[str]]) -> dict[tuple[str, str], int]:
    """(field, term) -> documents holding it, for every query term; looked up once
    per query, since each lookup asks every segment."""
    return {(field_name, term): searcher.doc_frequency(field_name, term)
            for field_name in ("words", "bigrams", "domains") for term in terms[field_name]}


def select_stage1_terms(terms: dict[str, list[str]],
                        frequencies: Mapping[tuple[str, str], int]) -> list[tuple[str, str]]:
    candidates = []
    for field_name in ("words", "bigrams"):
        for term in terms[field_name]:
            frequency = frequencies[(field_name, term)]
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
        selected = [("domains", term) for term in terms["domains"] if frequencies[("domains", term)]][:1]
    return selected


class Scorer:
    """Stage-2 exact scores over one searcher's statistics.

    An expert's raw score has three parts:
      ABOUT_WEIGHT  x BM25 of what the expert declares (keywords, title, bio)
    + DOMAIN_WEIGHT x BM25 of the item's domains among the expert's domains
    + ITEM_WEIGHT   x the sum of the best ITEM_TOP_K achievement scores / ITEM_TOP_K
    Achievements are scored one by one, like short documents, so several
    matching achievements count more than one, and one achievement that is
    on the topic beats many that each mention a query word. Text lengths
    are normalised against the average over the candidates being rescored.
    """

    def __init__(self, searcher, frequencies: Mapping[tuple[str, str], int] | None = None):
        self.searcher = searcher
        self.average_domains = searcher.avg_field_length("domains") or 1.0
        self._idf: dict[tuple[str, str], float] = {}
        # Document frequencies stage 1 already looked up (one lookup per segment each).
        self._frequencies = frequencies or {}
        self._documents = searcher.doc_count_all()
        # field -> (the query's term list, its set, each term's position)
        self._wanted: dict[str, tuple[list[str], frozenset[str], dict[str, int]]] = {}

    def idf(self, field_name: str, term: str) -> float:
        key = (field_name, term)
        if key not in self._idf:
            frequency = self._frequencies.get(key)
            if frequency is None:
                frequency = self.searcher.doc_frequency(field_name, term)
            # Whoosh's idf (scoring.WeightingModel.idf), raised to the power.
            self._idf[key] = (math.log(self._documents / (frequency + 1)) + 1) ** TEXT_IDF_POWER
        return self._idf[key]

    def _lookup(self, field_name: str, wanted: list[str]) -> tuple[frozenset[str], dict[str, int]]:
        cached = self._wanted.get(field_name)
        if cached is None or cached[0] is not wanted:
            cached = self._wanted[field_name] = (wanted, frozenset(wanted), {t: n for n, t in enumerate(wanted)})
        return cached[1], cached[2]

    def bm25(self, field_name: str, wanted: list[str], tokens: list[str], average: float,
             matched: list[str] | None = None) -> float:
        if not tokens or not wanted:
            return 0.0
        wanted_set, position = self._lookup(field_name, wanted)
        # Most parts of a profile hold none or a few of the query's terms: find
        # those in C, then add them up in query order (the same sum, bit for bit,
        # as walking every query term).
        present = wanted_set.intersection(tokens)
        if not present:
            return 0.0
        norm = TEXT_K1 * ((1 - TEXT_B) + TEXT_B * len(tokens) / average)
        total = 0.0
        for term in (sorted(present, key=position.__getitem__) if len(present) > 1 else present):
            frequency = tokens.count(term)
            total += self.idf(field_name, term) * frequency * (TEXT_K1 + 1) / (frequency + norm)
            if matched is not None and field_name != "bigrams":
                matched.append(term)
        return total

    def text_score(self, words: list[str], bigrams: list[str], terms: dict[str, list[str]],
                   averages: tuple[float, float], matched: list[str] | None = None) -> float:
        return (WORDS_WEIGHT * self.bm25("words", terms["words"], words, averages[0], matched)
                + BIGRAMS_WEIGHT * self.bm25("bigrams", terms["bigrams"], bigrams, averages[1], matched))

    def score(self, part: ProfileParts, terms: dict[str, list[str]], averages: dict[str, tuple[float, float]]
              ) -> tuple[float, list[str]]:
        matched: list[str] = []
        about = self.text_score(part.about_words, part.about_bigrams, terms, averages["about"], matched)
        domains = self.bm25("domains", terms["domains"], part.domains, self.average_domains, matched)
        item_averages = averages["item"]
        items = sorted((self.text_score(words, bigrams, terms, item_averages, matched)
                        for words, bigrams in part.items), reverse=True)[:ITEM_TOP_K]
        total = ABOUT_WEIGHT * about + DOMAIN_WEIGHT * domains + ITEM_WEIGHT * sum(items) / ITEM_TOP_K
        return total, matched


@dataclass(frozen=True)
class ProfileParts:
    """A candidate's stored tokens, split into the parts stage 2 scores."""

    stored: dict
    about_words: list[str]
    about_bigrams: list[str]
    # (words, bigrams) of each achievement
    items: list[tuple[list[str], list[str]]]
    domains: list[str]

    @classmethod
    def of(cls, stored: dict) -> ProfileParts:
        item_words = stored.get("item_words") or ""
        item_bigrams = stored.get("item_bigrams") or ""
        words_lines, bigram_lines = item_words.split("\n"), item_bigrams.split("\n")
        if len(words_lines) != len(bigram_lines):  # to_document writes one line per achievement in both
            longest = max(len(words_lines), len(bigram_lines))
            words_lines += [""] * (longest - len(words_lines))
            bigram_lines += [""] * (longest - len(bigram_lines))
        items = [(words.split(), bigrams.split()) for words, bigrams in zip(words_lines, bigram_lines)]
        return cls(stored, (stored.get("about_words") or "").split(), (stored.get("about_bigrams") or "").split(),
                   items, (stored.get("domains") or "").split())


def _average_lengths(parts: list[ProfileParts]) -> dict[str, tuple[float, float]]:
    def mean(lengths) -> float:
        lengths = [n for n in lengths if n]
        return sum(lengths) / len(lengths) if lengths else 1.0

    return {
        "about": (mean(len(p.about_words) for p in parts), mean(len(p.about_bigrams) for p in parts)),
        "item": (mean(len(words) for p in parts for words, _ in p.items),
                 mean(len(bigrams) for p in parts for _, bigrams in p.items)),
    }


def open_searcher(ix):
    return ix.searcher()


def stage1_top(searcher, selected: list[tuple[str, str]], frequencies: Mapping[tuple[str, str], int]) -> list[int]:
    """The STAGE1_CANDIDATES best documents for the OR of `selected`, best first
    (ties to the lower document number).

    Whoosh's BM25F per term (idf raised to IDF_POWER, the field's weight as
    the boost), added up per document, computed here from the posting lists
    directly: for the few thousand postings stage 1 reads, Whoosh's matcher
    tree cost three times the scoring itself. Terms are added in selection
    order, where Whoosh adds along its tree: a sum may differ in its last bit.
    """
    reader = searcher.reader()
    documents = searcher.doc_count_all()
    field_length = reader.doc_field_length
    scores: dict[int, float] = {}
    for field_name, term in selected:
        idf = (math.log(documents / (frequencies[(field_name, term)] + 1)) + 1) ** IDF_POWER
        average = searcher.avg_field_length(field_name) or 1
        boost = FIELD_WEIGHTS[field_name]
        # Deleted documents are not in the postings a reader gives out.
        for docnum, weight in reader.postings(field_name, term).items_as("weight"):
            length = field_length(docnum, field_name, 1)
            # Bracketed as whoosh.scoring.bm25, boosted as Whoosh's wrapping matcher does.
            norm = BM25_K1 * ((1 - BM25_B) + BM25_B * length / average)
            score = (idf * ((weight * (BM25_K1 + 1)) / (weight + norm))) * boost
            scores[docnum] = scores.get(docnum, 0.0) + score
    best = heapq.nsmallest(STAGE1_CANDIDATES, scores.items(), key=lambda entry: (-entry[1], entry[0]))
    return [docnum for docnum, _score in best]


def candidate_docnums(searcher, terms: dict[str, list[str]],
                      frequencies: Mapping[tuple[str, str], int] | None = None) -> list[int]:
    """Documents to rescore: every live document of a small index, else stage 1's top."""
    if searcher.doc_count() <= STAGE1_CANDIDATES:
        reader = searcher.reader()
        return [docnum for docnum in range(searcher.doc_count_all()) if not reader.is_deleted(docnum)]
    if frequencies is None:
        frequencies = document_frequencies(searcher, terms)
    selected = select_stage1_terms(terms, frequencies)
    return stage1_top(searcher, selected, frequencies) if selected else []


@dataclass(frozen=True)
class Scored:
    score: float
    stored: dict
    matched: tuple[str, ...]


def rescore(searcher, docnums: list[int], terms: dict[str, list[str]],
            frequencies: Mapping[tuple[str, str], int] | None = None) -> list[Scored]:
    """Stage 2: exact scores of the candidates with every query term; those scoring 0 are dropped."""
    scorer = Scorer(searcher, frequencies)
    parts = [ProfileParts.of(searcher.stored_fields(docnum)) for docnum in docnums]
    averages = _average_lengths(parts)
    scored = []
    for part in parts:
        score, matched = scorer.score(part, terms, averages)
        if score > 0:
            scored.append(Scored(score, part.stored, tuple(dict.fromkeys(matched))))
    return scored


def ranked_hits(scored: list[Scored], pool_size: int, limit: int) -> list[Hit]:
    """Best first (ties to the lower id), normalised, with highlights for the first `limit`."""
    if not scored:
        return []
    ordered = sorted(scored, key=lambda row: (-row.score, int(row.stored["expert_id"])))
    top = ordered[0].score
    shown = ordered[:limit]
    patterns: dict[tuple[str, ...], re.Pattern | None] = {}
    # Standardised against the whole pool (experts not rescored count as 0),
    # so one expert's scores for different items can be compared.
    mean = sum(row.score for row in scored) / pool_size
    spread = math.sqrt(max(sum(row.score ** 2 for row in scored) / pool_size - mean ** 2, 0.0)) or 1.0
    return [
        Hit(
            expert_id=int(row.stored["expert_id"]),
            score=row.score / top,
            raw_score=row.score,
            standard_score=(row.score - mean) / spread,
            standard_floor=-mean / spread,
            matched_terms=tuple(dict.fromkeys(t.replace("_", " ") for t in row.matched)),
            highlights=LazyHighlights(row.stored, row.matched, patterns),
        )
        for row in shown
    ]


def search(ix, text: str, keywords=(), domains=(), limit: int = 1000) -> list[Hit]:
    terms = query_terms(text, keywords, domains)
    with open_searcher(ix) as searcher:
        frequencies = document_frequencies(searcher, terms)
        scored = rescore(searcher, candidate_docnums(searcher, terms, frequencies), terms, frequencies)
        pool_size = searcher.doc_count()
    return ranked_hits(scored, pool_size, limit)


def highlight_pattern(terms) -> re.Pattern | None:
    """One pattern for a query's matched terms; longest first so 国土空间规划 wins over 规划,
    Latin stems match word starts."""
    ordered = sorted({t for t in terms if t}, key=len, reverse=True)
    if not ordered:
        return None
    return re.compile("|".join(
        re.escape(term.replace("_", " ")) + (r"\w*" if term.isascii() else "") for term in ordered
    ), re.IGNORECASE)


def snippets(stored: dict, pattern: re.Pattern | None) -> dict[str, str]:
    """Up to MAX_SNIPPETS_PER_HIT snippets (HTML-escaped, terms in <mark>) from the profile."""
    found: dict[str, str] = {}
    if pattern is None:
        return found
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
        found[label] = ("…" if start > 0 else "") + snippet + ("…" if end < len(text) else "")
        if len(found) >= MAX_SNIPPETS_PER_HIT:
            break
    return found


def highlight(stored: dict, terms: tuple[str, ...]) -> dict[str, str]:
    return snippets(stored, highlight_pattern(terms))


class LazyHighlights(Mapping[str, str]):
    """Snippets made on first read: a recommendation ranks hundreds of hits but
    explains only those it stores."""

    __slots__ = ("_stored", "_terms", "_patterns", "_value")

    def __init__(self, stored: dict, terms: tuple[str, ...], patterns: dict):
        # `patterns` is shared by one query's hits: many hits match the same terms.
        self._stored, self._terms, self._patterns, self._value = stored, terms, patterns, None

    def _snippets(self) -> dict[str, str]:
        if self._value is None:
            if self._terms not in self._patterns:
                self._patterns[self._terms] = highlight_pattern(self._terms)
            self._value = snippets(self._stored, self._patterns[self._terms])
        return self._value

    def __getitem__(self, key: str) -> str:
        return self._snippets()[key]

    def __iter__(self):
        return iter(self._snippets())

    def __len__(self) -> int:
        return len(self._snippets())

    def __repr__(self) -> str:
        return f"LazyHighlights({self._snippets()!r})"
