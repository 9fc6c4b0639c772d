"""Pinyin search keys for Chinese names: full spelling and initials, every reading."""
from __future__ import annotations

from itertools import islice, product

from pypinyin import Style, pinyin

# Surnames read differently from the same character in ordinary words.
SURNAME_READINGS = {
    "曾": "zeng", "单": "shan", "解": "xie", "仇": "qiu", "朴": "piao", "查": "zha", "区": "ou",
    "覃": "qin", "盖": "ge", "繁": "po", "员": "yun", "乐": "yue", "缪": "miao", "翟": "zhai",
    "召": "shao", "种": "chong", "宓": "mi", "尉": "yu", "长": "chang", "万": "wan", "沈": "shen",
}
NAME_SEPARATORS = "·• "
# Caps the combinations of polyphonic characters (单 shan/dan, 曾 zeng/ceng …).
MAX_READINGS = 8


def _clean(name: str) -> str:
    return "".join(ch for ch in name if ch not in NAME_SEPARATORS)


def _readings(name: str) -> list[list[str]]:
    """Readings per character: every reading of the surname, the usual one elsewhere.

    Given names are read as pypinyin reads them in context; offering every
    rare reading there (立 as "wei") would make initials match the wrong people.
    """
    name = _clean(name)
    syllables = pinyin(name, style=Style.NORMAL, heteronym=True, errors=lambda chars: [c.lower() for c in chars])
    # pypinyin lists the most common reading first; keep that order.
    readings = [list(dict.fromkeys(o.lower() for o in options if o)) or [""] for options in syllables]
    surname = SURNAME_READINGS.get(name[:1])
    if readings and surname:
        readings[0] = [surname, *[r for r in readings[0] if r != surname]]
    return [readings[0], *[options[:1] for options in readings[1:]]] if readings else readings


def name_search_key(name: str) -> str:
    variants: list[str] = []
    for combo in islice(product(*_readings(name)), MAX_READINGS):
        full = "".join(combo)
        initials = "".join(part[:1] for part in combo)
        for value in (full, initials):
            if value and value not in variants:
                variants.append(value)
    return " ".join(variants)


def name_sort_key(name: str) -> str:
    """Collates by the most common reading, as a printed roster would."""
    return " ".join(options[0] for options in _readings(name))
