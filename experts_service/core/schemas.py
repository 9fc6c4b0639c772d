"""Shared marshmallow pieces: Chinese messages, paging, bounded strings."""
from __future__ import annotations

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
        if isinstance(data, dict):
            return {key: value.strip() if isinstance(value, str) else value for key, value in data.items()}
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
