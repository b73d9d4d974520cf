"""Schemathesis drives every operation of the node's OpenAPI schema with generated input:
no 5xx, and every response matches what the schema declares (status, media type, body)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import Case
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from dases.app import create_app
from dases.identity import service as identity
from dases.settings import Settings

from .conftest import ADMIN_TOKEN, SHARED


@schemathesis.serializer("application/jose")
def _compact_jose(ctx: schemathesis.SerializationContext, value: object) -> bytes:
    """Consent notifications are compact JWS bodies: send whatever string was generated."""
    return value if isinstance(value, bytes) else str(value).encode()


@pytest.fixture
def node_schema(tmp_path: Path, database_url: str) -> schemathesis.BaseSchema:
    app = create_app(
        Settings(
            data_dir=tmp_path,
            database_url=database_url,
            node_secret="fuzz-node-secret-0123456789",
            admin_token=ADMIN_TOKEN,
            governance_authority="operator",
            dpv_dir=SHARED / "specs" / "dpv",
        )
    )
    node = app.state.node
    # Generated input names arbitrary peers; the fuzzed node must reach none of them.
    node.http._transport = httpx.MockTransport(lambda request: httpx.Response(503))
    with node.db.transaction() as session:
        identity.create_participant(session, node.sealer, node.settings.base_url, "operator", "Operator")
    return schemathesis.openapi.from_asgi("/openapi.json", app)


#: Examples per operation; raise it (DASES_FUZZ_EXAMPLES=500) for a deeper run.
FUZZ_EXAMPLES = int(os.environ.get("DASES_FUZZ_EXAMPLES", "60"))

CHECKS: list[Callable[..., object]] = [
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
    content_type_conformance,
    negative_data_rejection,
]


def test_every_operation_answers_within_its_schema(node_schema: schemathesis.BaseSchema) -> None:
    failures: list[str] = []
    operations = 0
    for result in node_schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @given(case=operation.as_strategy())
        @settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def exercise(case: Case) -> None:
            case.call_and_validate(headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, checks=CHECKS)

        try:
            exercise()
        except Exception as error:  # one report listing every operation that broke
            failures.append(f"{operation.method.upper()} {operation.path}: {error}")
    assert operations >= 10, f"only {operations} operations in the schema"
    assert not failures, "\n\n".join(failures)
