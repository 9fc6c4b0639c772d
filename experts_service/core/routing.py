"""URL converters and the API's request parsing."""
from __future__ import annotations

import json

from flask_smorest import Blueprint as SmorestBlueprint
from webargs.flaskparser import FlaskParser
from werkzeug.routing import IntegerConverter

from experts_service.core.schemas import MAX_ID


class IdConverter(IntegerConverter):
    """`<id:name>`: a record id; anything outside the column range is a 404."""

    def __init__(self, url_map, *args, **kwargs):
        super().__init__(url_map, min=1, max=MAX_ID)

    @staticmethod
    def openapi_schema(converter) -> dict:
        return {"type": "integer", "minimum": 1, "maximum": MAX_ID}


class SafeJsonParser(FlaskParser):
    """JSON nested too deeply for the decoder is malformed input, not a crash."""

    def _raw_load_json(self, req):
        try:
            return super()._raw_load_json(req)
        except RecursionError:
            return self._handle_invalid_json_error(json.JSONDecodeError("nested too deeply", "", 0), req)


# API endpoints that take a multipart upload instead of JSON (by endpoint name).
UPLOAD_ENDPOINTS: set[str] = set()


class ApiBlueprint(SmorestBlueprint):
    ARGUMENTS_PARSER = SafeJsonParser()
