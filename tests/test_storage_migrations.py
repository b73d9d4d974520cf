"""Storage is created by Alembic migrations at start-up: the schema reaches head, migrating again
changes nothing, a node restarted on the same database keeps its participants, and datetimes are
stored and read back as aware UTC on every backend."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from fastapi.testclient import TestClient
from sqlalchemy import inspect, select, text
from sqlalchemy.exc import StatementError

from dases.app import create_app
from dases.db import Database, UTCDateTime, alembic_config
from dases.identity import service
from dases.identity.keys import KeySealer
from dases.identity.models import Participant
from dases.settings import Settings

from .conftest import backend_name

TABLES = {"participant", "participant_key", "used_token", "member", "membership_credential"}
SEALER = KeySealer(b"node-secret-for-tests-0123456789")
BASE_URL = "http://127.0.0.1:8000"


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    yield database
    database.dispose()


def head_revision(db: Database) -> str:
    head = ScriptDirectory.from_config(alembic_config(db.engine)).get_current_head()
    assert head is not None
    return head


def versions(db: Database) -> list[str]:
    with db.engine.connect() as connection:
        return list(connection.execute(text("SELECT version_num FROM alembic_version")).scalars())


def test_database_is_on_the_backend_under_test(db: Database) -> None:
    assert db.backend == backend_name()


def test_migrate_creates_the_tables_and_records_head(db: Database) -> None:
    assert not TABLES & set(inspect(db.engine).get_table_names())
    db.migrate()
    tables = set(inspect(db.engine).get_table_names())
    assert TABLES <= tables
    assert "alembic_version" in tables
    assert versions(db) == [head_revision(db)]


def test_migrated_schema_matches_the_models(db: Database) -> None:
    db.migrate()
    inspector = inspect(db.engine)
    columns = {column["name"] for column in inspector.get_columns("participant_key")}
    assert columns == {"kid", "participant_slug", "public_jwk", "sealed_private_key", "created_at", "retired_at"}
    foreign_keys = inspector.get_foreign_keys("participant_key")
    assert [(fk["referred_table"], fk["constrained_columns"]) for fk in foreign_keys] == [("participant", ["participant_slug"])]


def test_migrating_again_is_a_no_op_that_keeps_rows(db: Database) -> None:
    db.migrate()
    with db.transaction() as session:
        created = service.create_participant(session, SEALER, BASE_URL, "acme", "Acme")

    db.migrate()
    db.migrate()

    assert versions(db) == [head_revision(db)]
    with db.transaction() as session:
        kept = service.get_participant(session, "acme")
        assert service.signer_for(session, SEALER, "acme").did == created.did
    assert kept == created


def test_foreign_keys_are_enforced(db: Database) -> None:
    """Keys cannot point at a participant that does not exist (SQLite needs a pragma for this)."""
    db.migrate()
    with pytest.raises(Exception, match="(?i)foreign key"), db.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO participant_key (kid, participant_slug, public_jwk, sealed_private_key, created_at) "
                "VALUES ('k', 'nobody', '{}', :blob, '2026-01-01 00:00:00')"
            ),
            {"blob": b"x"},
        )


def node_settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(
        data_dir=tmp_path / "node",
        database_url=database_url,
        node_secret="restart-test-node-secret-0123456789",
        admin_token="restart-admin-token",
        port=8765,
    )


def test_node_restart_keeps_participants_and_their_keys(tmp_path: Path, database_url: str) -> None:
    settings = node_settings(tmp_path, database_url)
    admin = {"Authorization": "Bearer restart-admin-token"}
    with TestClient(create_app(settings)) as client:
        created = client.post("/participants", json={"slug": "acme", "name": "Acme"}, headers=admin)
        assert created.status_code == 201, created.text
        document = client.get("/participants/acme/did.json").json()

    with TestClient(create_app(node_settings(tmp_path, database_url))) as client:
        listed = client.get("/participants")
        assert listed.status_code == 200
        assert listed.json() == [created.json()]
        assert client.get("/participants/acme/did.json").json() == document
        again = client.post("/participants", json={"slug": "acme", "name": "Acme"}, headers=admin)
        assert again.status_code == 409, again.text
        node = client.app.state.node  # type: ignore[attr-defined]
        with node.db.transaction() as session:
            signer = service.signer_for(session, node.sealer, "acme")  # still opens with the same secret
        assert signer.kid == f"{created.json()['did']}#{created.json()['active_kid']}"


def test_naive_datetime_is_refused(db: Database) -> None:
    db.migrate()
    with pytest.raises(StatementError, match="naive datetimes are not stored"), db.transaction() as session:
        session.add(Participant(slug="acme", name="Acme", did="did:web:example.org:acme", created_at=datetime(2026, 1, 1, 12, 0)))
        session.flush()
    with db.transaction() as session:
        assert session.get(Participant, "acme") is None


@pytest.mark.parametrize(
    "written",
    [
        datetime(2026, 3, 1, 12, 30, 15, 123456, tzinfo=UTC),
        datetime(2026, 3, 1, 14, 30, 15, 123456, tzinfo=timezone(timedelta(hours=2))),
        datetime(2026, 3, 1, 7, 0, 15, 123456, tzinfo=timezone(timedelta(hours=-5, minutes=-30))),
    ],
    ids=["utc", "plus-2", "minus-5-30"],
)
def test_aware_datetime_is_read_back_as_the_same_instant_in_utc(db: Database, written: datetime) -> None:
    db.migrate()
    with db.transaction() as session:
        session.add(Participant(slug="acme", name="Acme", did="did:web:example.org:acme", created_at=written))
    with db.transaction() as session:
        read = session.scalars(select(Participant.created_at)).one()
    assert read.tzinfo is not None
    assert read.utcoffset() == timedelta(0)
    assert read == written
    assert read.replace(tzinfo=None) == written.astimezone(UTC).replace(tzinfo=None)


def test_utc_datetime_type_directly() -> None:
    column_type = UTCDateTime()
    with pytest.raises(ValueError, match="naive"):
        column_type.process_bind_param(datetime(2026, 1, 1), None)
    assert column_type.process_bind_param(None, None) is None
    assert column_type.process_result_value(datetime(2026, 1, 1), None) == datetime(2026, 1, 1, tzinfo=UTC)
    assert column_type.process_result_value(None, None) is None
