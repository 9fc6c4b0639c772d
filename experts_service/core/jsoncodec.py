"""JSON encoding with orjson, for the stored JSON columns and the API's responses.

A recommendation record holds every dropped expert and their reasons (tens
of thousands of ids at 100,000 experts); the standard library's encoder cost
about 14 ms of each recommendation to store and answer it, orjson about a
tenth. Stored columns are decoded with orjson too (we wrote them); request
bodies stay with the standard library, whose errors the API already reports.
"""
from __future__ import annotations

from typing import Any

import orjson
from flask.json.provider import DefaultJSONProvider

# As json.dumps: keys that are not strings (ids) become strings.
_COLUMN_OPTIONS = orjson.OPT_NON_STR_KEYS
# As Flask's provider: sorted keys, and dates and dataclasses left to its `default`
# (dates as HTTP dates), so a response reads the same as before.
_RESPONSE_OPTIONS = (orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME
                     | orjson.OPT_PASSTHROUGH_DATACLASS)

_COMPACT = {"separators": (",", ":")}


def dumps_for_column(value: Any) -> str:
    """The engine's `json_serializer`: what a JSON column stores."""
    return orjson.dumps(value, option=_COLUMN_OPTIONS).decode()


def loads_from_column(text: str | bytes) -> Any:
    """The engine's `json_deserializer`."""
    return orjson.loads(text)


class OrjsonProvider(DefaultJSONProvider):
    """Flask's JSON provider, encoding with orjson unless a caller asks for json.dumps options (indent, ...)."""

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        # Compact separators are what orjson writes anyway (Flask's responses ask for them).
        if kwargs and kwargs != _COMPACT:
            return super().dumps(obj, **kwargs)
        return orjson.dumps(obj, default=self.default, option=_RESPONSE_OPTIONS).decode()
