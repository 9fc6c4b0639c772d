"""Analysis: jieba for Chinese (with the domain vocabulary kept whole),
lower-casing and Porter stemming for English, and CJK character bigrams.

Two views of the same text go into the index: words (jieba's search mode,
which also emits the shorter words inside long ones) and character
bigrams, which match where two segmentations of the same phrase differ.
"""
from __future__ import annotations

import functools
import logging
import re
import threading
from typing import Iterable

import jieba
from whoosh.lang.porter import stem

jieba.setLogLevel(logging.WARNING)

_CJK = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_CJK_RUN = re.compile(f"[{_CJK}]+")
_LATIN_WORD = re.compile(r"[A-Za-z][A-Za-z0-9\-']*|[0-9]+(?:\.[0-9]+)?")
_IS_CJK = re.compile(f"^[{_CJK}]+$")
_CJK_RUN_OR_LATIN = re.compile(f"[{_CJK}]+|{_LATIN_WORD.pattern}")
# English words repeat across profiles: stemming each distinct word once is enough.
STEM_CACHE_SIZE = 100_000
# Keywords and title lines repeat across a pool (城市更新, 教授 院长 江海大学).
PHRASE_CACHE_SIZE = 200_000
_stem_cached = functools.lru_cache(maxsize=STEM_CACHE_SIZE)(stem)

# Function words only: common topic words (研究, 问题) still help when
# rescoring candidates, and the query's term selection keeps them cheap.
CHINESE_STOP_WORDS = frozenset("的 了 和 与 及 或 之 在 对 等 中 为 以 其 下 是 于 并 从 由 把 被 将".split())
ENGLISH_STOP_WORDS = frozenset(
    "a an and are as at be but by for from has have in into is it its of on or that the their this to "
    "was were which with we our these those using based via can also such than then there".split()
)
STOP_WORDS = CHINESE_STOP_WORDS | ENGLISH_STOP_WORDS

_vocabulary_lock = threading.Lock()
_vocabulary: set[str] = set()
_vocabulary_generation = 0


def add_vocabulary(terms: Iterable[str]) -> int:
    """Keep domain terms whole in segmentation (国土空间规划, not 国土/空间/规划).

    jieba's dictionary is process-wide; adding a word twice is harmless, the
    set only avoids the work. Returns how many words were new.
    """
    added = 0
    with _vocabulary_lock:
        for term in terms:
            term = (term or "").strip()
            if len(term) < 2 or term in _vocabulary or not _CJK_RUN.search(term):
                continue
            jieba.add_word(term, freq=None)
            _vocabulary.add(term)
            added += 1
        if added:
            # A new word changes how text is cut: what was cut before is stale.
            # The generation is part of the cache key, so a phrase another
            # thread is cutting with the old dictionary right now is not kept.
            global _vocabulary_generation
            _vocabulary_generation += 1
            _analysed_phrase.cache_clear()
    return added


def word_tokens(text: str) -> list[str]:
    """jieba's search-mode words (it also emits the known shorter words inside
    long ones); Chinese words as they are, Latin words and numbers
    lower-cased and Porter-stemmed; stop words dropped.

    Plain functions rather than a Whoosh analyser chain: the index stores
    pre-analysed tokens, and Token objects passed through three filters
    cost more than the segmentation itself.
    """
    tokens = []
    for word in jieba.cut_for_search(text or ""):
        word = word.strip()
        if not word:
            continue
        if _IS_CJK.match(word):
            if word not in CHINESE_STOP_WORDS:
                tokens.append(word)
        elif _LATIN_WORD.fullmatch(word):
            lowered = word.lower()
            if lowered not in STOP_WORDS:
                tokens.append(_stem_cached(lowered))
    return tokens


def analysed_phrase(phrase: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(words, bigrams) of a short phrase that many profiles share (a keyword,
    a title and employer): analysed once per process until the vocabulary changes."""
    return _analysed_phrase(phrase, _vocabulary_generation)


@functools.lru_cache(maxsize=PHRASE_CACHE_SIZE)
def _analysed_phrase(phrase: str, generation: int) -> tuple[tuple[str, ...], tuple[str, ...]]:
    return tuple(word_tokens(phrase)), tuple(bigram_tokens(phrase))


def bigram_tokens(text: str) -> list[str]:
    """Overlapping two-character grams of each CJK run (a lone character stands
    alone) and Latin words (lower-cased, stemmed, English stop words
    dropped), in text order, so English still matches in this field."""
    tokens = []
    for piece in _CJK_RUN_OR_LATIN.finditer(text or ""):
        run = piece.group()
        if _IS_CJK.match(run):
            if len(run) == 1:
                tokens.append(run)
            else:
                tokens.extend(run[offset:offset + 2] for offset in range(len(run) - 1))
        else:
            lowered = run.lower()
            if lowered not in ENGLISH_STOP_WORDS:
                tokens.append(_stem_cached(lowered))
    return tokens
