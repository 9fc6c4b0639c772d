"""Pages validate with the same marshmallow schemas as the API.

WTForms is used for the CSRF token only, so each rule is written once.
"""
from __future__ import annotations

import re

import marshmallow as ma
from flask_wtf import FlaskForm

LIST_SEPARATORS = re.compile(r"[,，、;；\n\r]+")


class CsrfOnlyForm(FlaskForm):
    pass


def split_list(raw: str | None) -> list[str]:
    return [part.strip() for part in LIST_SEPARATORS.split(raw or "") if part.strip()]


def split_lines(raw: str | None) -> list[str]:
    return [line.strip() for line in (raw or "").splitlines() if line.strip()]


def optional_int(raw: str | None):
    """Form text to int; anything else is passed through for the schema to reject."""
    if raw is None or raw.strip() == "":
        return None
    text = raw.strip()
    return int(text) if re.fullmatch(r"-?\d{1,9}", text) else text


def load_or_errors(schema: ma.Schema, data: dict) -> tuple[dict | None, dict]:
    try:
        return schema.load(data), {}
    except ma.ValidationError as error:
        return None, error.normalized_messages()


def query_or_defaults(schema: ma.Schema) -> tuple[dict, dict]:
    """Load list filters from the URL; bad values fall back to the defaults.

    A hand-edited URL should show the whole list with a warning, not an error page.
    """
    from flask import request

    raw = {key: value for key, value in request.args.items() if value != ""}
    query, errors = load_or_errors(schema, raw)
    return (schema.load({}), errors) if errors else (query, {})
