"""Resident ID numbers (居民身份证号码) per GB 11643-1999."""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK_CHARS = "10X98765432"
_SHAPE = re.compile(r"^[1-9][0-9]{16}[0-9X]$")


class InvalidIdNumber(ValueError):
    """Carries a Chinese message fit for the user."""


@dataclass(frozen=True)
class IdNumberFacts:
    normalised: str
    birth_date: date
    sex: str  # "male" / "female"


def check_digit(first17: str) -> str:
    total = sum(int(digit) * weight for digit, weight in zip(first17, _WEIGHTS, strict=True))
    return _CHECK_CHARS[total % 11]


def parse_id_number(raw: str, today: date | None = None) -> IdNumberFacts:
    # Full-width digits typed on a Chinese keyboard are the same number.
    value = unicodedata.normalize("NFKC", raw or "").strip().upper()
    if not _SHAPE.match(value):
        raise InvalidIdNumber("身份证号应为18位，前17位为数字，末位为数字或X")
    try:
        birth = date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError as exc:
        raise InvalidIdNumber("身份证号中的出生日期无效") from exc
    today = today or date.today()
    if birth > today or birth.year < 1900:
        raise InvalidIdNumber("身份证号中的出生日期无效")
    if check_digit(value[:17]) != value[17]:
        raise InvalidIdNumber("身份证号校验码错误")
    sex = "male" if int(value[16]) % 2 == 1 else "female"
    return IdNumberFacts(normalised=value, birth_date=birth, sex=sex)


def mask_id_number(value: str) -> str:
    """Keep the region (first 6) and the last 4, as offices usually print them."""
    if len(value) < 10:
        return "*" * len(value)
    return value[:6] + "*" * (len(value) - 10) + value[-4:]


def mask_mobile(value: str) -> str:
    if len(value) < 7:
        return "*" * len(value)
    return value[:3] + "*" * (len(value) - 7) + value[-4:]
