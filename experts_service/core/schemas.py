"""Shared marshmallow pieces: Chinese messages, paging, bounded strings, ids."""
from __future__ import annotations

import re
from collections.abc import Mapping

import marshmallow as ma
from marshmallow import fields, validate

# Chinese defaults for marshmallow's built-in messages, set once.
ma.fields.Field.default_error_messages.update(
    {"required": "此项为必填", "null": "此项不能为空", "validator_failed": "取值无效"}
)
fields.String.default_error_messages.update({"invalid": "须为文本", "invalid_utf8": "文本编码无效"})
fields.Integer.default_error_messages.update({"invalid": "须为整数", "too_large": "数值过大"})
fields.Boolean.default_error_messages.update({"invalid": "须为 true 或 false"})
fields.List.default_error_messages.update({"invalid": "须为列表"})
fields.Date.default_error_messages.update({"invalid": "日期格式应为 YYYY-MM-DD", "format": "日期格式应为 YYYY-MM-DD"})
fields.Nested.default_error_messages.update({"type": "须为对象"})
fields.Dict.default_error_messages.update({"invalid": "须为对象"})
ma.Schema.error_messages = {"unknown": "未知字段", "type": "请求体须为 JSON 对象"}


# Ids are PostgreSQL INTEGER columns; larger numbers can name no record.
MAX_ID = 2**31 - 1
# Control characters (but tab/newline/return) and lone surrogates cannot be
# stored (PostgreSQL refuses NUL; UTF-8 cannot encode a surrogate).
_UNSTORABLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
UNSTORABLE_MESSAGE = "含有无法保存的控制字符或无效字符"


def is_valid_id(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_ID


def Id(strict: bool = True, **kwargs) -> fields.Integer:
    """A record id in the column's range (strict in JSON; query strings are text)."""
    return fields.Integer(strict=strict, validate=validate.Range(min=1, max=MAX_ID, error="编号无效"), **kwargs)


def _has_unstorable(value: object) -> bool:
    if isinstance(value, str):
        return bool(_UNSTORABLE.search(value))
    if isinstance(value, dict):
        return any(_has_unstorable(k) or _has_unstorable(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_unstorable(item) for item in value)
    return False


def _tidy(value: object) -> object:
    """Trim, and use \\n for line breaks (browsers send textareas with \\r\\n)."""
    if isinstance(value, str):
        return value.replace("\r\n", "\n").replace("\r", "\n").strip()
    return value


def Text(max_length: int, required: bool = False, min_length: int = 0, **kwargs) -> fields.String:
    """A bounded string; trimming happens in the schemas' pre_load."""
    return fields.String(
        required=required,
        validate=validate.Length(min=min_length or (1 if required else 0), max=max_length,
                                 error=f"长度须在 {min_length or (1 if required else 0)}–{max_length} 字之间"),
        **kwargs,
    )


def OneOf(choices, labels=None) -> validate.OneOf:
    return validate.OneOf(list(choices), error="取值须为以下之一：{choices}")


class StrictSchema(ma.Schema):
    """Unknown fields are rejected (the default in marshmallow 4), strings trimmed."""

    @ma.pre_load
    def strip_strings(self, data, **kwargs):
        if isinstance(data, Mapping):  # a dict, or webargs' view of the query string
            bad = {str(key): [UNSTORABLE_MESSAGE] for key, value in data.items() if _has_unstorable(value)}
            if bad:
                raise ma.ValidationError(bad)
            return {key: _tidy(value) for key, value in data.items()}
        return data


DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
MAX_PAGE = 100_000


class PageQuerySchema(StrictSchema):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=MAX_PAGE, error="页码超出范围"))
    per_page = fields.Integer(
        load_default=DEFAULT_PAGE_SIZE,
        validate=validate.Range(min=1, max=MAX_PAGE_SIZE, error=f"每页条数须在 1–{MAX_PAGE_SIZE} 之间"),
    )


class PageMetaSchema(ma.Schema):
    page = fields.Integer()
    per_page = fields.Integer()
    total = fields.Integer()
    pages = fields.Integer()
