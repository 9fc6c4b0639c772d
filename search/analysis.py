"""Analysers: jieba for Chinese (with the domain vocabulary kept whole),
lower-casing and Porter stemming for English, and CJK character bigrams.

Two views of the same text go into the index: words (jieba's search mode,
which also emits the shorter words inside long ones) and character
bigrams, which match where two segmentations of the same phrase differ.
"""
from __future__ import annotations

import logging
import re
import threading
from typing import Iterable

import jieba
from whoosh.analysis import LowercaseFilter, StemFilter, StopFilter, Token, Tokenizer

jieba.setLogLevel(logging.WARNING)

_CJK = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_CJK_RUN = re.compile(f"[{_CJK}]+")
_LATIN_WORD = re.compile(r"[A-Za-z][A-Za-z0-9\-']*|[0-9]+(?:\.[0-9]+)?")
_IS_CJK = re.compile(f"^[{_CJK}]+$")

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
    return added


def _emit(pieces, positions, chars, keeporiginal, removestops, start_pos, start_char, mode, **kwargs):
    """Whoosh tokens from (text, start, end) pieces; one Token object reused, as Whoosh expects."""
    token = Token(positions, chars, removestops=removestops, mode=mode, **kwargs)
    for position, (text, start, end) in enumerate(pieces, start=start_pos):
        token.text = text
        token.boost = 1.0
        token.stopped = False
        if keeporiginal:
            token.original = text
        if positions:
            token.pos = position
        if chars:
            token.startchar = start_char + start
            token.endchar = start_char + end
        yield token


class JiebaWordTokenizer(Tokenizer):
    """Chinese words by jieba's search mode; Latin words and numbers as they are."""

    def __call__(self, value, positions=False, chars=False, keeporiginal=False, removestops=True,
                 start_pos=0, start_char=0, mode="", **kwargs):
        pieces = (
            (word.strip(), start, end)
            for word, start, end in jieba.tokenize(value, mode="search")
            if word.strip() and (_IS_CJK.match(word.strip()) or _LATIN_WORD.fullmatch(word.strip()))
        )
        return _emit(pieces, positions, chars, keeporiginal, removestops, start_pos, start_char, mode, **kwargs)


class CjkBigramTokenizer(Tokenizer):
    """Overlapping two-character grams of CJK runs (a lone character stands alone);
    Latin words as whole tokens, so English still matches in this field."""

    def __call__(self, value, positions=False, chars=False, keeporiginal=False, removestops=True,
                 start_pos=0, start_char=0, mode="", **kwargs):
        pieces = []
        for run in _CJK_RUN.finditer(value):
            text = run.group()
            if len(text) == 1:
                pieces.append((text, run.start(), run.end()))
            for offset in range(len(text) - 1):
                pieces.append((text[offset:offset + 2], run.start() + offset, run.start() + offset + 2))
        pieces.extend((word.group(), word.start(), word.end()) for word in _LATIN_WORD.finditer(value))
        pieces.sort(key=lambda piece: piece[1])
        return _emit(pieces, positions, chars, keeporiginal, removestops, start_pos, start_char, mode, **kwargs)


def word_analyzer():
    return JiebaWordTokenizer() | LowercaseFilter() | StopFilter(stoplist=STOP_WORDS, minsize=1) | StemFilter()


def bigram_analyzer():
    return CjkBigramTokenizer() | LowercaseFilter() | StopFilter(stoplist=ENGLISH_STOP_WORDS, minsize=1) | StemFilter()
