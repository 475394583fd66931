"""Check a real answer against the OpenAPI document: its status is documented for the operation,
and its body matches the schema documented for that status (JSON Schema 2020-12, refs resolved
against the whole document)."""

from __future__ import annotations

from typing import Any

import httpx
from jsonschema import Draft202012Validator


class DocumentedAnswers:
    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.seen: set[tuple[str, str]] = set()

    def operation(self, method: str, path: str) -> dict[str, Any]:
        return self.document["paths"][path][method.lower()]

    def _resolve(self, node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node and node["$ref"].startswith("#/components/responses/"):
            node = self.document["components"]["responses"][node["$ref"].rsplit("/", 1)[1]]
        return node

    def check(self, method: str, path: str, response: httpx.Response) -> None:
        """`path` is the document's template (`/api/v1/templates/{id}`)."""
        self.seen.add((method.upper(), path))
        responses = self.operation(method, path)["responses"]
        status = str(response.status_code)
        assert status in responses, (method, path, status, response.text[:300])
        documented = self._resolve(responses[status])
        content = documented.get("content")
        if not content:
            assert not response.content, (method, path, status)
            return
        media = response.headers["content-type"].partition(";")[0]
        assert media in content, (method, path, media, list(content))
        if media != "application/json":
            return
        schema = {**content[media]["schema"], "components": self.document["components"]}
        errors = sorted(Draft202012Validator(schema).iter_errors(response.json()), key=str)
        assert not errors, (method, path, status, [f"{list(e.absolute_path)}: {e.message}" for e in errors[:5]])
