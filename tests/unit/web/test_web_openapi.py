"""The OpenAPI document (``GET /v1/openapi.json``): valid OpenAPI 3.1, every route the app
registers described and nothing else, served as shipped behind the bearer token.

schemathesis fuzzes the live app against it in ``tests/integration/test_api_contract.py``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, get_args

import jsonschema_rs
import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

# The OpenAPI 3.1 meta-schema (2022-10-07), as shipped with schemathesis (its own loader
# validates documents with it); no other validator is installed.
from schemathesis.specs.openapi.definitions import OPENAPI_31

from tests.unit.web.test_web_api import (
    TOKEN,
    ClientFactory,
    get_json,
    index,
    make_client,
    sqlite_db,
)
from watcher import __version__, depfiles
from watcher.depfiles.model import Severity
from watcher.matching import Risk
from watcher.names import MAX_NAME_LENGTH
from watcher.store.finding_views import MAX_PAGE
from watcher.store.findings import Action, Via
from watcher.store.models import FindingStatus
from watcher.web import depcheck as web_depcheck
from watcher.web.findings import ACTOR_LIMIT, REASON_LIMIT
from watcher.web.openapi import PATH, document

__all__ = ["index", "make_client", "sqlite_db"]

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def operations(doc: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """Every (path, method, operation) the document describes."""
    for path, item in doc["paths"].items():
        for method in METHODS:
            if method in item:
                yield path, method.upper(), item[method]


def resolve(doc: dict[str, Any], ref: str) -> Any:
    """The object a local ``$ref`` (``#/a/b``) points at; KeyError if none."""
    assert ref.startswith("#/"), ref
    node: Any = doc
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def refs(node: Any) -> Iterator[str]:
    """Every ``$ref`` in ``node``, depth first."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from refs(value)


def test_the_document_is_valid_openapi_3_1() -> None:
    doc = document()
    assert doc["openapi"].startswith("3.1.")
    errors = [
        f"{'/'.join(map(str, e.instance_path))}: {e.message[:200]}"
        for e in jsonschema_rs.Draft202012Validator(OPENAPI_31).iter_errors(doc)
    ]
    assert errors == []
    # The meta-schema leaves schema objects loose: each must be valid JSON Schema 2020-12.
    for name, schema in doc["components"]["schemas"].items():
        assert jsonschema_rs.meta.is_valid(schema), name
    for ref in set(refs(doc)):
        resolve(doc, ref)  # raises if it points at nothing
    ids = [op["operationId"] for _, _, op in operations(doc)]
    assert len(ids) == len(set(ids))


def test_the_document_names_no_host_and_this_version() -> None:
    doc = document()
    assert doc["info"]["version"] == __version__
    assert [s["url"] for s in doc.get("servers", [])] in ([], ["/"])
    # Nothing of a deployment in it: no host, no scheme://.
    assert not re.search(r"[a-z][a-z0-9+.-]*://", str(doc), re.IGNORECASE)


def test_every_operation_documents_its_auth_and_errors_in_json() -> None:
    doc = document()
    for path, method, op in operations(doc):
        responses = op["responses"]
        if path.startswith("/v1/"):
            # The bearer middleware guards all of /v1/: the global requirement applies.
            assert "security" not in op, (method, path)
            assert "401" in responses, (method, path)
        for status, response in responses.items():
            shown = resolve(doc, response["$ref"]) if "$ref" in response else response
            # The metrics are Prometheus' text format; every other answer is JSON.
            media = "text/plain" if (path, status) == ("/metrics", "200") else "application/json"
            assert list(shown["content"]) == [media], (method, path, status)


def _app() -> web.Application:
    # Only the routing table is looked at; no handler runs.
    from unittest.mock import Mock

    from watcher.web import create_app

    return create_app(Mock(), Mock(), TOKEN)


def _example_path(doc: dict[str, Any], path: str, op: dict[str, Any]) -> str:
    """``path`` with each path parameter replaced by its documented example."""
    for param in op.get("parameters", []):
        param = resolve(doc, param["$ref"]) if "$ref" in param else param
        if param["in"] == "path":
            path = path.replace("{" + param["name"] + "}", str(param["example"]))
    assert "{" not in path, f"a path parameter of {path} has no example"
    return path


# A path variable that is one of fixed words (``{action:(?:acknowledge|suppress|...)}``):
# each word is its own operation in the document.
_WORDS = re.compile(r"\(\?P<(\w+)>\(\?:([\w|-]+)\)\)")


def _fixed_words(resource: web.AbstractResource) -> dict[str, set[str]]:
    pattern = resource.get_info().get("pattern")
    if not isinstance(pattern, re.Pattern):
        return {}
    return {name: set(words.split("|")) for name, words in _WORDS.findall(pattern.pattern)}


async def test_every_route_is_documented_and_every_documented_operation_is_routed() -> None:
    app = _app()
    doc = document()
    documented: dict[tuple[str, str], list[dict[str, str]]] = {}
    for path, method, op in operations(doc):
        concrete = _example_path(doc, path, op)
        match = await app.router.resolve(make_mocked_request(method, concrete, app=app))
        assert match.http_exception is None, f"{method} {path} is documented but not routed"
        assert match.route.resource is not None
        key = (method, match.route.resource.canonical)
        documented.setdefault(key, []).append(dict(match))
    routed = {
        (route.method, resource.canonical): resource
        for resource in app.router.resources()
        for route in resource
        # aiohttp adds HEAD beside every GET by itself; the GET is what is documented.
        if route.method != "HEAD"
        # The findings page (/ui/) is HTML for browsers behind a session cookie, not the
        # JSON API this document describes.
        and not resource.canonical.startswith("/ui")
    }
    assert routed.keys() - documented.keys() == set(), "routes without documentation"
    assert documented.keys() - routed.keys() == set()
    for key, resource in routed.items():
        for name, words in _fixed_words(resource).items():
            shown = {info[name] for info in documented[key]}
            assert shown == words, f"{key}: {name} documented for {shown}, routed for {words}"


@pytest.mark.parametrize("auth", [None, "Bearer wrong"])
async def test_the_document_is_behind_the_bearer_token(
    make_client: ClientFactory, sqlite_db: Any, auth: str | None
) -> None:
    headers = {"Authorization": auth} if auth else {}
    async with make_client(sqlite_db, TOKEN) as client:
        status, body = await get_json(client, PATH, headers)
    assert (status, body["status"]) == (401, 401)


async def test_the_served_document_is_the_shipped_one(
    make_client: ClientFactory, sqlite_db: Any
) -> None:
    async with make_client(sqlite_db, TOKEN) as client:
        status, body = await get_json(client, PATH, {"Authorization": f"Bearer {TOKEN}"})
    assert status == 200
    assert body == document()


def test_the_documented_values_and_limits_are_the_codes() -> None:
    doc = document()
    schemas = doc["components"]["schemas"]
    assert schemas["Risk"]["enum"] == [str(r) for r in Risk]
    assert schemas["FindingStatus"]["enum"] == [str(s) for s in FindingStatus]
    history_entry = schemas["HistoryEntry"]["properties"]
    assert history_entry["via"]["enum"] == [str(v) for v in Via]
    assert history_entry["action"]["enum"] == [str(a) for a in Action]
    assert schemas["CheckedFile"]["properties"]["kind"]["enum"] == list(depfiles.KINDS)
    assert schemas["Problem"]["properties"]["severity"]["enum"] == list(get_args(Severity))
    actor, reason = (schemas["ActionRequest"]["properties"][k] for k in ("actor", "reason"))
    assert (actor["maxLength"], reason["maxLength"]) == (ACTOR_LIMIT, REASON_LIMIT)
    files = schemas["CheckRequest"]["properties"]["files"]
    assert (files["maxProperties"], files["propertyNames"]["maxLength"]) == (
        web_depcheck.MAX_FILES,
        web_depcheck.MAX_FILE_NAME,
    )
    check = doc["paths"]["/v1/check"]["post"]
    assert check["requestBody"]["content"]["text/plain"]["schema"]["maxLength"] == (
        web_depcheck.BODY_LIMIT
    )
    [filename] = check["parameters"]
    assert filename["schema"]["maxLength"] == web_depcheck.MAX_FILE_NAME
    assert schemas["ProjectName"]["maxLength"] == MAX_NAME_LENGTH
    [name] = [p for p in doc["paths"]["/v1/names/{name}"]["get"]["parameters"] if p["in"] == "path"]
    assert name["schema"] == schemas["ProjectName"]
    limit = next(
        p for p in doc["paths"]["/v1/findings"]["get"]["parameters"] if p["name"] == "limit"
    )
    assert limit["schema"]["maximum"] == MAX_PAGE
