"""The ledger: appends chain and sign, concurrent appends lose nothing, and any edit, deletion or
reordering made behind the database triggers' back is found, at the right entry."""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from dases.cli import app as cli
from dases.db import Database, drop_append_only_sql
from dases.errors import InvalidInput
from dases.identity import service as identity
from dases.identity.keys import KeySealer
from dases.ledger import service as ledger
from dases.ledger.models import LedgerEntry

SEALER = KeySealer(b"ledger-test-secret-0123456789")


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    database.migrate()
    with database.transaction() as session:
        identity.create_participant(session, SEALER, "http://127.0.0.1:8000", "school", "School")
    yield database
    database.dispose()


def fill(db: Database, count: int) -> None:
    for n in range(count):
        with db.transaction() as session:
            body = {"transfer_id": f"t-{n}", "agreement_id": "a-1", "counterparty": "did:web:edtech.example", "bytes": 1000 * n, "record_count": n, "consent_record_ids": [f"r-{n}"]}
            ledger.append(session, SEALER, "school", "transfer.completed", body)


def tamper(db: Database, *statements: str) -> None:
    """What an intruder with database access does: drop the trigger, then change rows."""
    with db.engine.begin() as connection:
        for statement in drop_append_only_sql(db.backend, "ledger_entry"):
            connection.execute(sa.text(statement))
        for statement in statements:
            connection.execute(sa.text(statement))


def report(db: Database) -> ledger.VerifyReport:
    with db.transaction() as session:
        return ledger.verify(session, "school")


def test_appended_entries_chain_and_verify(db: Database) -> None:
    fill(db, 5)
    assert report(db) == ledger.VerifyReport(True, 5)
    with db.transaction() as session:
        entries = ledger.entries(session, "school")
    assert [e.seq for e in entries] == [1, 2, 3, 4, 5]
    assert entries[0].prev_hash == "0" * 64 and all(b.prev_hash == a.hash for a, b in itertools.pairwise(entries))


def test_the_triggers_refuse_changes(db: Database) -> None:
    fill(db, 1)
    for statement in ("UPDATE ledger_entry SET kind = 'transfer.started'", "DELETE FROM ledger_entry"):
        with pytest.raises(sa.exc.DatabaseError, match="append-only"), db.engine.begin() as connection:
            connection.execute(sa.text(statement))


def test_an_edited_entry_is_found(db: Database) -> None:
    fill(db, 4)
    body = json.dumps({"transfer_id": "t-2", "bytes": 1, "record_count": 0})
    tamper(db, f"UPDATE ledger_entry SET body = '{body}' WHERE seq = 3")
    found = report(db)
    assert not found.ok and found.bad_seq == 3 and "edited" in (found.problem or "")


def test_an_entry_edited_into_an_impossible_number_is_found_not_crashed_on(db: Database) -> None:
    fill(db, 3)
    tamper(db, """UPDATE ledger_entry SET body = '{"bytes": 1e400}' WHERE seq = 2""")
    found = report(db)
    assert not found.ok and found.bad_seq == 2 and "edited" in (found.problem or "")


def test_a_deleted_entry_is_found(db: Database) -> None:
    fill(db, 4)
    tamper(db, "DELETE FROM ledger_entry WHERE seq = 2")
    found = report(db)
    assert not found.ok and found.bad_seq == 2 and "deleted" in (found.problem or "")


def test_a_deleted_last_entry_is_found(db: Database) -> None:
    fill(db, 4)
    tamper(db, "DELETE FROM ledger_entry WHERE seq = 4")
    found = report(db)
    assert not found.ok and found.bad_seq == 4 and "deleted at the end" in (found.problem or "")


def test_reordered_entries_are_found(db: Database) -> None:
    fill(db, 4)
    tamper(
        db,
        "UPDATE ledger_entry SET seq = -1 WHERE seq = 2",
        "UPDATE ledger_entry SET seq = 2 WHERE seq = 3",
        "UPDATE ledger_entry SET seq = 3 WHERE seq = -1",
    )
    found = report(db)
    assert not found.ok and found.bad_seq == 2 and "moved" in (found.problem or "")


def test_a_rebuilt_chain_without_the_key_is_found(db: Database) -> None:
    """Editing a row and recomputing its hash and the next links is possible with database access
    alone; forging the signatures is not."""
    fill(db, 2)
    with db.transaction() as session:
        first, second = ledger.entries(session, "school")
        body = {**first.body, "bytes": 999_999}
        forged_first = ledger.entry_hash("school", 1, first.kind, first.at, body, first.prev_hash)
        forged_second = ledger.entry_hash("school", 2, second.kind, second.at, second.body, forged_first)
    tamper(
        db,
        f"UPDATE ledger_entry SET body = '{json.dumps(body)}', hash = '{forged_first}' WHERE seq = 1",
        f"UPDATE ledger_entry SET prev_hash = '{forged_first}', hash = '{forged_second}' WHERE seq = 2",
        f"UPDATE ledger_head SET hash = '{forged_second}'",
    )
    found = report(db)
    assert not found.ok and found.bad_seq == 1 and "signature" in (found.problem or "")


def test_entries_signed_before_a_key_rotation_still_verify(db: Database) -> None:
    fill(db, 2)
    with db.transaction() as session:
        identity.rotate_key(session, SEALER, "school")
    fill(db, 2)
    assert report(db) == ledger.VerifyReport(True, 4)


def test_concurrent_appends_lose_nothing(db: Database) -> None:
    workers, each = 8, 10
    barrier = threading.Barrier(workers)

    def work(worker: int) -> None:
        barrier.wait()
        for n in range(each):
            with db.transaction() as session:
                ledger.append(session, SEALER, "school", "transfer.started", {"transfer_id": f"w{worker}-{n}"})

    threads = [threading.Thread(target=work, args=(i,)) for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert report(db) == ledger.VerifyReport(True, workers * each)
    with db.transaction() as session:
        assert len({e.body["transfer_id"] for e in ledger.entries(session, "school")}) == workers * each


def test_export_rows_for_billing(db: Database) -> None:
    fill(db, 3)
    with db.transaction() as session:
        csv_text = "".join(ledger.export(session, "school", "csv"))
        json_rows = [json.loads(line) for line in "".join(ledger.export(session, "school", "json")).splitlines()]
    lines = csv_text.strip().splitlines()
    assert lines[0] == ",".join(ledger.EXPORT_COLUMNS) and len(lines) == 4
    assert [row["bytes"] for row in json_rows] == [0, 1000, 2000] and json_rows[2]["consent_records"] == 1


def test_cli_verify_says_intact_or_names_the_entry(db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fill(db, 3)
    monkeypatch.setenv("DASES_DATABASE_URL", db.url)
    monkeypatch.setenv("DASES_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("DASES_NODE_SECRET", "ledger-test-secret-0123456789")
    runner = CliRunner()
    intact = runner.invoke(cli, ["ledger", "verify", "school"])
    assert intact.exit_code == 0 and "3 entries, intact" in intact.output
    exported = runner.invoke(cli, ["ledger", "export", "school", "--format", "json"])
    assert exported.exit_code == 0 and len(exported.output.strip().splitlines()) == 3
    tamper(db, "DELETE FROM ledger_entry WHERE seq = 2")
    broken = runner.invoke(cli, ["ledger", "verify", "school"])
    assert broken.exit_code == 1 and "entry 2" in broken.output


def test_unknown_kinds_are_refused(db: Database) -> None:
    with pytest.raises(InvalidInput, match="unknown ledger entry kind"), db.transaction() as session:
        ledger.append(session, SEALER, "school", "coffee.break", {})
    with db.transaction() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(LedgerEntry)) == 0


def test_ledger_routes_are_for_the_node_admin(db: Database, tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from dases.app import create_app
    from dases.settings import Settings

    from .conftest import ADMIN_TOKEN

    fill(db, 2)
    settings = Settings(data_dir=tmp_path, database_url=db.url, node_secret="ledger-test-secret-0123456789", admin_token=ADMIN_TOKEN)
    with TestClient(create_app(settings)) as client:
        assert client.get("/participants/school/ledger/verify").status_code == 401
        admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        assert client.get("/participants/school/ledger/verify", headers=admin).json() == {"ok": True, "checked": 2, "bad_seq": None, "problem": None}
        assert [e["seq"] for e in client.get("/participants/school/ledger", headers=admin).json()] == [1, 2]
        exported = client.get("/participants/school/ledger/export", params={"format": "csv"}, headers=admin)
        assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv") and len(exported.text.strip().splitlines()) == 3
        assert client.get("/participants/nobody/ledger/verify", headers=admin).status_code == 404
        for route in ("", "/export"):
            assert client.get(f"/participants/school/ledger{route}").status_code == 401
            assert client.get(f"/participants/school/ledger{route}", headers={"Authorization": "Bearer not-the-token-0123456789"}).status_code in (401, 403)
        naive = client.get("/participants/school/ledger/export", params={"since": "2026-01-01T00:00:00"}, headers=admin)
        assert naive.status_code == 422 and "since" in naive.text
        later = client.get("/participants/school/ledger/export", params={"format": "json", "since": "2999-01-01T00:00:00Z"}, headers=admin)
        assert later.status_code == 200 and later.text == ""


@pytest.mark.parametrize(
    ("body", "field"),
    [({"bytes": 1.5}, "body.bytes"), ({"ids": ["a", "b\x00"]}, "body.ids[1]"), ({"bytes": 2**53}, "body.bytes")],
)
def test_bodies_that_would_not_read_back_the_same_are_refused(db: Database, body: dict, field: str) -> None:
    """Floats, huge integers and NUL characters do not survive JSONB (or the canonical form)
    unchanged: refused on both backends, so a ledger never fails verification by itself."""
    with pytest.raises(InvalidInput) as refused, db.transaction() as session:
        ledger.append(session, SEALER, "school", "transfer.completed", body)
    assert refused.value.errors[0].field == field
    with db.transaction() as session:
        assert ledger.entries(session, "school") == []


def test_export_has_the_transfer_entries_in_the_period(db: Database) -> None:
    def at(day: int) -> datetime:
        return datetime(2026, 3, day, 12, tzinfo=UTC)

    with db.transaction() as session:
        ledger.append(session, SEALER, "school", "negotiation.finalized", {"agreement_id": "a-1"}, now=at(1))
        ledger.append(session, SEALER, "school", "transfer.started", {"agreement_id": "a-1", "transfer_id": "t-1"}, now=at(2))
        ledger.append(session, SEALER, "school", "transfer.completed", {"agreement_id": "a-1", "transfer_id": "t-1", "bytes": 42, "record_count": 7, "consent_record_ids": ["r-1", "r-2"]}, now=at(3))
        ledger.append(session, SEALER, "school", "transfer.completed", {"agreement_id": "a-1", "transfer_id": "t-2", "bytes": 9}, now=at(5))
    with db.transaction() as session:
        rows = [json.loads(line) for line in "".join(ledger.export(session, "school", "json")).splitlines()]
        period = [json.loads(line) for line in "".join(ledger.export(session, "school", "json", since=at(3), until=at(5))).splitlines()]
        completed = "".join(ledger.export(session, "school", "csv", kinds=["transfer.completed"])).splitlines()
    assert [row["kind"] for row in rows] == ["transfer.started", "transfer.completed", "transfer.completed"]
    assert period == [
        {
            "seq": 3,
            "at": "2026-03-03T12:00:00+00:00",
            "kind": "transfer.completed",
            "agreement_id": "a-1",
            "transfer_id": "t-1",
            "counterparty": None,
            "bytes": 42,
            "record_count": 7,
            "consent_records": 2,
            "reason": None,
            "hash": rows[1]["hash"],
        }
    ]
    assert completed[1].startswith("3,2026-03-03T12:00:00+00:00,transfer.completed,a-1,t-1,,42,7,2,,") and len(completed) == 3


def test_export_arguments_are_checked_before_any_row(db: Database) -> None:
    with db.transaction() as session:
        for call in (
            lambda: ledger.export(session, "school", "xml"),
            lambda: ledger.export(session, "school", "csv", since=datetime(2026, 1, 1)),
            lambda: ledger.export(session, "school", "csv", kinds=["coffee.break"]),
        ):
            with pytest.raises(InvalidInput):
                call()


def test_cli_export_writes_a_file_and_refuses_unknown_participants(db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fill(db, 2)
    monkeypatch.setenv("DASES_DATABASE_URL", db.url)
    monkeypatch.setenv("DASES_NODE_SECRET", "ledger-test-secret-0123456789")
    runner = CliRunner()
    target = tmp_path / "ledger.csv"
    written = runner.invoke(cli, ["ledger", "export", "school", "--format", "csv", "--output", str(target), "--data-dir", str(tmp_path)])
    assert written.exit_code == 0 and target.read_text().splitlines()[0] == ",".join(ledger.EXPORT_COLUMNS)
    assert len(target.read_text().splitlines()) == 3
    unknown = runner.invoke(cli, ["ledger", "verify", "nobody", "--data-dir", str(tmp_path)])
    assert unknown.exit_code == 2 and "no participant 'nobody'" in unknown.output
    assert runner.invoke(cli, ["ledger", "export", "school", "--format", "xml", "--data-dir", str(tmp_path)]).exit_code == 2
