"""The OpenAPI document as the service really answers.

FastAPI's generated document describes FastAPI's defaults, not this service: it documents every
422 as ``application/json`` ``{"detail": [{"loc", "msg", "type", "input"}]}`` (the service answers
an RFC 9457 problem document, ``application/problem+json``, that never echoes input), documents no
other error at all, and leaves out the two OCSP routes (plain Starlette routes, see
``routes/va.py``). ``install`` post-processes the generated document once: a ``Problem`` schema
for every 4xx answer, and the OCSP operations.
"""

from __future__ import annotations

import copy
from typing import Any

from fastapi import FastAPI

from fincert.api.problems import PROBLEM_TYPE_BASE

PROBLEM_MEDIA_TYPE = "application/problem+json"
_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
_BINARY = {"type": "string", "format": "binary"}

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "type": "object",
    "description": "An RFC 9457 problem document. Submitted values are never echoed.",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "format": "uri", "description": f"{PROBLEM_TYPE_BASE}<kind>, e.g. invalid-input, not-found, locked"},
        "title": {"type": "string"},
        "status": {"type": "integer", "description": "The HTTP status of the answer."},
        "detail": {"type": "string"},
        "field": {"type": "string", "description": "The input field the problem is about, when there is one."},
        "errors": {
            "type": "array",
            "description": "For a request that failed validation (422): each invalid field and why.",
            "items": {
                "type": "object",
                "required": ["field", "message"],
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
            },
        },
    },
}

_PROBLEM_CONTENT = {PROBLEM_MEDIA_TYPE: {"schema": _PROBLEM_REF}}
_CLIENT_ERROR = {"description": "The request was refused: a problem document.", "content": _PROBLEM_CONTENT}

#: The OCSP routes (``routes/va.py``): every answer, malformed requests included, is an OCSP
#: response; only a wrong method gets a problem document.
_OCSP_RESPONSE = {
    "description": "A DER OCSPResponse (a malformedRequest response for a request that cannot be read).",
    "content": {"application/ocsp-response": {"schema": _BINARY}},
}
OCSP_PATHS: dict[str, Any] = {
    "/ocsp": {
        "post": {
            "tags": ["status"],
            "summary": "OCSP request (RFC 6960), DER body",
            "operationId": "ocsp_post",
            "requestBody": {"required": True, "content": {"application/ocsp-request": {"schema": _BINARY}}},
            "responses": {"200": _OCSP_RESPONSE, "405": _CLIENT_ERROR},
        }
    },
    "/ocsp/{encoded}": {
        "get": {
            "tags": ["status"],
            "summary": "OCSP request (RFC 6960 A.1), base64 of the DER request in the path",
            "operationId": "ocsp_get",
            "parameters": [
                {
                    "name": "encoded",
                    "in": "path",
                    "required": True,
                    "description": "The DER OCSPRequest, base64 then URL-encoded.",
                    "schema": {"type": "string"},
                }
            ],
            "responses": {
                "200": _OCSP_RESPONSE,
                "304": {"description": "Not modified (If-None-Match matched the ETag)."},
                "405": _CLIENT_ERROR,
            },
        }
    },
}


def rewrite(schema: dict[str, Any]) -> dict[str, Any]:
    """Make the generated ``schema`` say what the service answers (in place; also returned)."""
    schemas = schema.setdefault("components", {}).setdefault("schemas", {})
    schemas["Problem"] = PROBLEM_SCHEMA
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            for status, response in responses.items():
                if status.startswith("4"):
                    response["content"] = copy.deepcopy(_PROBLEM_CONTENT)
            responses.setdefault("4XX", copy.deepcopy(_CLIENT_ERROR))
    # FastAPI's validation error shapes are never sent.
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    schema["paths"].update(copy.deepcopy(OCSP_PATHS))
    return schema


def install(app: FastAPI) -> None:
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = rewrite(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
