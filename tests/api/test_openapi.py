"""The OpenAPI document describes every operation and the one error envelope."""
from __future__ import annotations

import re

import pytest

from tests.api.helpers import API
from tests.api.operation_table import OPERATIONS


@pytest.fixture
def document(http):
    response = http.get(f"{API}/openapi.json")
    assert response.status_code == 200, response.text[:500]
    assert response.headers["Content-Type"].startswith("application/json")
    return response.json()


def _openapi_path(rule: str) -> str:
    """Flask's /experts/<id:expert_id> is OpenAPI's /experts/{expert_id}."""
    return re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule)


def _resolve(document: dict, node: dict) -> dict:
    while "$ref" in node:
        kind, name = node["$ref"].split("/")[-2:]
        node = document["components"][kind][name]
    return node


def _is_error_envelope(document: dict, schema: dict) -> bool:
    schema = _resolve(document, schema)
    error = schema.get("properties", {}).get("error")
    if error is None:
        return False
    return {"code", "message", "fields"} <= set(_resolve(document, error).get("properties", {}))


def test_document_is_openapi_3(document):
    assert re.fullmatch(r"3\.\d+\.\d+", document["openapi"])
    assert document["info"]["title"] and document["info"]["version"]


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda operation: operation.label)
def test_every_operation_is_documented_with_its_success_status(document, operation):
    path = _openapi_path(operation.rule)
    assert path in document["paths"], f"{path} missing from openapi.json"
    documented = document["paths"][path].get(operation.method.lower())
    assert documented is not None, f"{operation.label} missing from openapi.json"
    assert str(operation.success_status) in documented["responses"]


def test_no_undocumented_paths_beyond_the_matrix(document):
    assert set(document["paths"]) == {_openapi_path(operation.rule) for operation in OPERATIONS}


def test_error_envelope_is_a_component_schema(document):
    schemas = document["components"]["schemas"]
    envelopes = [name for name, schema in schemas.items() if _is_error_envelope(document, schema)]
    assert envelopes, "no component schema has the {error: {code, message, fields}} shape"
    detail = _resolve(document, schemas[envelopes[0]]["properties"]["error"])
    assert all(detail["properties"][key]["type"] == expected
               for key, expected in {"code": "string", "message": "string", "fields": "object"}.items())


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda operation: operation.label)
def test_every_operation_documents_errors_with_the_envelope(document, operation):
    responses = document["paths"][_openapi_path(operation.rule)][operation.method.lower()]["responses"]
    error_responses = {status: response for status, response in responses.items()
                       if status == "default" or status.startswith(("4", "5"))}
    assert error_responses, f"{operation.label} documents no error response"
    for status, response in error_responses.items():
        schema = _resolve(document, response)["content"]["application/json"]["schema"]
        assert _is_error_envelope(document, schema), f"{operation.label} {status} is not the error envelope"
