"""Bad input gets a 4xx problem response (RFC 9457) that names the field; never a 500."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from dases.app import create_app
from dases.errors import PROBLEM_MEDIA_TYPE
from dases.settings import Settings

from .conftest import ADMIN_TOKEN


@pytest.fixture
def client(tmp_path: Path, database_url: str) -> TestClient:
    settings = Settings(data_dir=tmp_path, database_url=database_url, node_secret="problem-secret-0123456789", admin_token=ADMIN_TOKEN)
    return TestClient(create_app(settings), raise_server_exceptions=False)


ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def assert_problem(response, status: int) -> dict:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    body = response.json()
    assert body["status"] == status and body["type"].startswith("urn:dases:problem:") and body["title"]
    return body


def test_missing_field_is_named(client: TestClient) -> None:
    body = assert_problem(client.post("/participants", json={"slug": "a"}, headers=ADMIN), 422)
    assert body["errors"] == [{"field": "body.name", "rule": "missing", "message": "Field required"}]
    assert "body.name" in body["detail"]


def test_pattern_violation_is_named(client: TestClient) -> None:
    body = assert_problem(client.post("/participants", json={"slug": "Not A Slug", "name": "x"}, headers=ADMIN), 422)
    assert body["errors"][0]["field"] == "body.slug"
    assert body["errors"][0]["rule"] == "string_pattern_mismatch"


def test_malformed_json_is_a_client_error(client: TestClient) -> None:
    response = client.post("/participants", content=b'{"slug": ', headers={**ADMIN, "Content-Type": "application/json"})
    body = assert_problem(response, 422)
    assert body["errors"][0]["rule"] == "json_invalid"


def test_wrong_type_in_path_is_named(client: TestClient) -> None:
    body = assert_problem(client.get("/registry/status/abc"), 422)
    assert body["errors"][0]["field"] == "path.list_number"


def test_unknown_route_and_method_are_problems(client: TestClient) -> None:
    assert_problem(client.get("/no/such/route"), 404)
    assert_problem(client.delete("/healthz"), 405)


def test_unknown_participant_is_404_naming_it(client: TestClient) -> None:
    body = assert_problem(client.get("/participants/ghost"), 404)
    assert "ghost" in body["detail"]


def test_duplicate_participant_is_409_and_keeps_the_first(client: TestClient) -> None:
    assert client.post("/participants", json={"slug": "alpha", "name": "Alpha"}, headers=ADMIN).status_code == 201
    assert_problem(client.post("/participants", json={"slug": "alpha", "name": "Other"}, headers=ADMIN), 409)
    assert client.get("/participants/alpha").json()["name"] == "Alpha"


def test_admin_routes_refuse_without_the_admin_token(client: TestClient) -> None:
    body = assert_problem(client.post("/participants", json={"slug": "a", "name": "A"}), 401)
    assert body["reason"] == "missing_credentials"
    assert_problem(client.post("/participants", json={"slug": "a", "name": "A"}, headers={"Authorization": "Bearer nope"}), 401)


def test_admin_routes_are_closed_when_no_admin_token_is_configured(tmp_path: Path, database_url: str) -> None:
    client = TestClient(create_app(Settings(data_dir=tmp_path, database_url=database_url, node_secret="s" * 20)))
    body = assert_problem(client.post("/participants", json={"slug": "a", "name": "A"}, headers=ADMIN), 403)
    assert "DASES_ADMIN_TOKEN" in body["detail"]


def test_unexpected_failure_is_a_500_problem_without_internals(client: TestClient) -> None:
    app = client.app

    @app.get("/explode")  # type: ignore[union-attr]
    def explode() -> None:
        raise RuntimeError("secret internals")

    body = assert_problem(client.get("/explode"), 500)
    assert "secret internals" not in body["detail"]


def test_healthz_reports_version_and_backend(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert response.json()["database"] in {"sqlite", "postgresql"}


def test_openapi_and_docs_are_served(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    assert "/identity/whoami" in schema["paths"] and "/registry/applications" in schema["paths"]
    assert client.get("/docs").status_code == 200


def test_nul_character_is_refused_naming_the_field_and_nothing_is_stored(client: TestClient) -> None:
    body = assert_problem(client.post("/participants", json={"slug": "nul", "name": "a\u0000b"}, headers=ADMIN), 422)
    assert body["errors"][0]["field"] == "body.name" and body["errors"][0]["rule"] == "nul_character"
    assert client.get("/participants/nul").status_code == 404


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/participants/edtech-a/negotiations/offers", {"consumer_url": "http://127.0.0.1:9/participants/x/dsp", "offer_id": "offer\x00"}, "offer_id"),
        ("/participants/edtech-a/negotiations", {"provider_url": "http://127.0.0.1:9/p\x00/dsp", "offer_id": "o"}, "provider_url"),
    ],
)
def test_nul_characters_are_refused_naming_the_field(client: TestClient, path: str, body: dict[str, str], field: str) -> None:
    """PostgreSQL cannot store NUL in text: found by the fuzz test as a 500 on the negotiation routes."""
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    assert client.post("/participants", json={"slug": "edtech-a", "name": "EdTech"}, headers=headers).status_code == 201
    problem = assert_problem(client.post(path, json=body, headers=headers), 422)
    assert any(field in error["field"] for error in problem["errors"]), problem


def test_a_busy_sqlite_writer_is_a_503_to_retry_and_other_failures_stay_500() -> None:
    """SQLite's single writer, busy past the wait, answers 503 with Retry-After (the request did
    nothing, send it again); any other unexpected failure is a 500 naming no internals."""
    import sqlite3

    from fastapi import FastAPI
    from sqlalchemy.exc import OperationalError

    from dases.errors import install_problem_handlers

    app = FastAPI()
    install_problem_handlers(app)

    @app.post("/busy")
    def busy() -> None:
        raise OperationalError("INSERT INTO lrs_statement ...", {}, sqlite3.OperationalError("database is locked"))

    @app.post("/broken")
    def broken() -> None:
        raise OperationalError("SELECT ...", {}, sqlite3.OperationalError("no such table: lrs_statement"))

    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.post("/busy")
        body = assert_problem(response, 503)
        assert response.headers["Retry-After"] == "1" and body["type"].endswith("storage-busy")
        other = client.post("/broken")
        assert_problem(other, 500)
        assert "lrs_statement" not in other.text
