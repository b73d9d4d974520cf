"""Data sources behind an offering: declared by the provider's admin, refused with a 422 naming
the field when the node cannot serve them (a bad xAPI query, a file that is not Parquet, no learner
field for personal data, a non-SELECT query...); a read-only parameterised SQL query on the
provider's database (SQLite, or PostgreSQL when the tests run on it) delivered by a pull; a
Parquet file, pulled whole or filtered by consent; statements of the provider's own LRS,
filtered by an xAPI query and by consent; and a push."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import sqlalchemy as sa

from dases.errors import DasesError, InvalidInput
from dases.transfer import sources

from .conftest import RunningNode
from .test_catalog_offerings import offering
from .test_transfer_consent import FOR_MONITORING, ROWS, ConsentSpace, of
from .test_transfer_pull import ADMIN, Exchange

ANY_USE = {"permission": [{"action": "use"}]}


@pytest.fixture
def exchange(start_node: Callable[..., RunningNode]) -> Exchange:
    return Exchange.pair(start_node)


def _attach(exchange: Exchange, source: dict[str, Any], **overrides: Any) -> Any:
    with exchange.provider.client(headers=ADMIN) as admin:
        published = admin.post("/participants/edtech-a/offerings", json=offering(policy=ANY_USE, **overrides)).json()
        return admin.put(f"/participants/edtech-a/offerings/{published['id']}/source", json=source)


def test_a_source_the_node_cannot_serve_is_refused_naming_the_field(exchange: Exchange, tmp_path: Path) -> None:
    csv_file, parquet, results = tmp_path / "a.csv", tmp_path / "a.parquet", tmp_path / "results.parquet"
    csv_file.write_text("account,score\na,1\n")
    parquet.write_bytes(b"PAR1")
    pl.DataFrame({"learner": ["a"], "courses": [["maths"]]}).write_parquet(results)
    cases = [
        ({"kind": "xapi", "query": {"since": "last week"}}, {}, "query.since", "ISO 8601"),
        ({"kind": "xapi", "query": {"registration": "r-1"}}, {}, "query.registration", "UUID"),
        ({"kind": "file", "path": str(parquet)}, {"contains_pii": False}, "path", "not a readable Parquet file"),
        ({"kind": "file", "path": str(csv_file), "format": "parquet"}, {"contains_pii": False}, "path", "not a readable Parquet file"),
        ({"kind": "file", "path": str(results), "learner_field": "account"}, {"contains_pii": True}, "learner_field", "no column 'account'"),
        ({"kind": "file", "path": str(results), "learner_field": "courses"}, {"contains_pii": True}, "learner_field", "not learner ids"),
        ({"kind": "file", "path": str(csv_file)}, {"contains_pii": True}, "learner_field", "personal data"),
        ({"kind": "file", "path": "a.csv"}, {}, "path", "absolute"),
        ({"kind": "file", "path": str(tmp_path / "missing.csv")}, {}, "path", "not a readable file"),
        ({"kind": "file", "path": str(exchange.provider.node.settings.data_dir / "node.secret"), "format": "csv"}, {}, "path", "data directory"),
        ({"kind": "sql", "dsn": "sqlite:///x.db", "query": "DELETE FROM learners"}, {}, "query", "SELECT"),
        ({"kind": "sql", "dsn": "sqlite:///x.db", "query": "SELECT 1; DROP TABLE learners"}, {}, "query", "one statement"),
        ({"kind": "sql", "dsn": "sqlite:///x.db", "query": "SELECT * FROM t WHERE a = :a"}, {}, "parameters", "no value for ['a']"),
        ({"kind": "sql", "dsn": "mysql://h/db", "query": "SELECT 1"}, {}, "dsn", "sqlite and postgresql"),
        ({"kind": "ftp", "path": "/x"}, {}, "body", ""),
    ]
    for source, overrides, field, words in cases:
        response = _attach(exchange, source, **{"contains_pii": False, **overrides})
        assert response.status_code == 422, (source, response.text)
        problem = response.json()
        assert any(field in error["field"] for error in problem["errors"]), (source, problem)
        assert words in problem["detail"], (source, problem["detail"])


def test_select_checks() -> None:
    assert sources.check_select("  -- the cohort\n SELECT * FROM t WHERE c = :c;") == "SELECT * FROM t WHERE c = :c"
    assert sources.check_select("WITH x AS (SELECT 1 AS created_at) SELECT created_at FROM x")
    for query in ("UPDATE t SET a = 1", "WITH x AS (DELETE FROM t RETURNING *) SELECT * FROM x", "SELECT 1; SELECT 2", "PRAGMA table_info(t)"):
        with pytest.raises(InvalidInput):
            sources.check_select(query)


def _learners_database(make_database_url: Callable[[], str]) -> str:
    url = make_database_url()
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.execute(sa.text("CREATE TABLE learner_results (account VARCHAR(40), cohort VARCHAR(10), score INTEGER)"))
        connection.execute(sa.text("INSERT INTO learner_results VALUES ('a', '2025', 12), ('b', '2025', 15), ('c', '2024', 9), ('d', '2025', 7)"))
    engine.dispose()
    return url


def test_a_parameterised_query_is_pulled_and_values_never_become_sql(exchange: Exchange, make_database_url: Callable[[], str]) -> None:
    dsn = _learners_database(make_database_url)
    source = {"kind": "sql", "dsn": dsn, "query": "SELECT account, score FROM learner_results WHERE cohort = :cohort ORDER BY account", "parameters": {"cohort": "2025"}}
    offering_id = exchange.publish(source, contains_pii=False, policy=ANY_USE)
    with exchange.provider.client(headers=ADMIN) as admin:
        shown = admin.get(f"/participants/edtech-a/offerings/{offering_id}/source").json()
    assert shown["kind"] == "sql" and shown["config"]["parameters"] == {"cohort": "2025"}
    done = exchange.finish(exchange.transfer(exchange.agree())["id"])
    assert done["state"] == "COMPLETED", done
    lines = [json.loads(line) for line in exchange.data(done["id"]).decode().splitlines()]
    assert lines == [{"account": "a", "score": 12}, {"account": "b", "score": 15}, {"account": "d", "score": 7}]
    assert exchange.provider_side(done)["record_count"] == 3

    hostile = sources.SqlRecords(dsn, "SELECT account FROM learner_results WHERE cohort = :cohort", {"cohort": "2025' OR '1'='1"}, "jsonl", None)
    assert list(hostile.rows()) == []  # a bound value, compared as a string, matches nothing
    check = sa.create_engine(dsn)
    with check.connect() as connection:
        assert connection.execute(sa.text("SELECT count(*) FROM learner_results")).scalar() == 4
    check.dispose()


def test_the_query_runs_in_a_read_only_transaction(make_database_url: Callable[[], str]) -> None:
    dsn = _learners_database(make_database_url)
    engine = sa.create_engine(dsn)
    with engine.connect() as connection:
        sources._read_only(connection)
        with pytest.raises(sa.exc.DBAPIError):
            connection.execute(sa.text("INSERT INTO learner_results VALUES ('e', '2025', 1)"))
    engine.dispose()


def test_a_csv_query_result_keeps_its_header_and_filters_learners(make_database_url: Callable[[], str], tmp_path: Path) -> None:
    dsn = _learners_database(make_database_url)
    records = sources.SqlRecords(dsn, "SELECT account, score FROM learner_results ORDER BY account", {}, "csv", "account")
    assert sources.learners(records) == ["a", "b", "c", "d"]
    released = sources.stage(records, tmp_path / "out.csv", keep=lambda account: account in {"b", "d"})
    assert released.path.read_bytes() == b"account,score\r\nb,15\r\nd,7\r\n" and released.record_count == 2


def test_a_push_lands_verified_at_the_consumer(exchange: Exchange, tmp_path: Path) -> None:
    source = tmp_path / "skills.csv"
    source.write_text("learner,skill\n" + "".join(f"l{i},skill-{i % 7}\n" for i in range(20_000)))
    exchange.publish({"kind": "file", "path": str(source)}, contains_pii=False, policy=ANY_USE, distributions=[{"format": "HttpData-PUSH"}])
    done = exchange.finish(exchange.transfer(exchange.agree(), format="HttpData-PUSH")["id"])
    assert done["state"] == "COMPLETED", done
    assert exchange.data(done["id"]) == source.read_bytes()
    assert [event["kind"] for event in done["events"]] == ["TransferRequestMessage", "TransferStartMessage", "PushedPayload", "TransferCompletionMessage"]
    provider = exchange.wait(exchange.provider_side(done)["id"], "COMPLETED", side="provider")
    assert provider["payload_sha256"] == done["payload_sha256"]


# --- Parquet -----------------------------------------------------------------------------------

RESULTS = pl.DataFrame([(account, course, int(score)) for account, course, score in ROWS], schema=["account", "course", "score"], orient="row")


def test_a_parquet_file_is_pulled_whole_as_parquet(exchange: Exchange, tmp_path: Path) -> None:
    source = tmp_path / "results.parquet"
    RESULTS.write_parquet(source, row_group_size=3)
    offering_id = exchange.publish({"kind": "file", "path": str(source)}, contains_pii=False, policy=ANY_USE)
    with exchange.provider.client(headers=ADMIN) as admin:
        assert admin.get(f"/participants/edtech-a/offerings/{offering_id}/source").json()["config"]["format"] == "parquet"
    done = exchange.finish(exchange.transfer(exchange.agree())["id"])
    assert done["state"] == "COMPLETED", done
    data = exchange.data(done["id"])
    assert data == source.read_bytes() and pl.read_parquet(io.BytesIO(data)).equals(RESULTS)
    assert done["media_type"] == "application/vnd.apache.parquet"


def test_parquet_is_read_in_batches_and_staged_as_parquet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sources, "PARQUET_BATCH", 3)
    source = tmp_path / "results.parquet"
    RESULTS.with_columns(pl.when(pl.col("score") == 9).then(None).otherwise(pl.col("account")).alias("account")).write_parquet(source, row_group_size=2)
    records = sources.records(sources.check_source(sources.FileSourceIn(kind="file", path=str(source), learner_field="account"), contains_pii=True, data_dir=tmp_path / "data", store="edtech-a"))
    assert isinstance(records, sources.ParquetRecords) and len(list(records.batches())) == 3
    assert sources.learners(records) == ["eleve-1", "eleve-3", "eleve-4", "eleve-2"]  # eleve-2's first row has no account
    assert [account for account, _ in records.rows()] == [None if row[2] == "9" else row[0] for row in ROWS]

    whole = sources.stage(records, tmp_path / "staged" / "whole.parquet")
    assert whole.record_count == len(ROWS) and whole.media_type == "application/vnd.apache.parquet"
    assert whole.sha256 == sources.file_digest(whole.path) and whole.size == whole.path.stat().st_size
    assert pl.read_parquet(whole.path).equals(pl.read_parquet(source))

    kept = sources.stage(records, tmp_path / "staged" / "kept.parquet", keep=lambda account: account in {"eleve-1", "eleve-3"})
    assert pl.read_parquet(kept.path).rows() == [(a, c, int(s)) for a, c, s in ROWS if a in {"eleve-1", "eleve-3"}] and kept.record_count == 5
    assert not list((tmp_path / "staged").glob("*.tmp"))

    source.write_bytes(source.read_bytes()[:-100])  # damaged after it was declared: the release is refused
    with pytest.raises(DasesError, match="not a readable Parquet file"):
        sources.learners(records)


def test_a_parquet_source_with_personal_data_releases_only_consenting_learners(start_node: Callable[..., RunningNode], tmp_path: Path) -> None:
    space = ConsentSpace(start_node, tmp_path / "resultats.csv")
    source = tmp_path / "resultats.parquet"
    RESULTS.write_parquet(source, row_group_size=3)
    exchange = space.exchange
    exchange.publish(
        {"kind": "file", "path": str(source), "learner_field": "account"},
        title="Résultats des élèves (Parquet)", contains_pii=True, data_categories=["learning_traces", "assessment_results"], policy=FOR_MONITORING,
    )
    agreement_id = exchange.agree()
    records = {}
    for account in ("eleve-1", "eleve-2", "eleve-3"):
        space.learner(account)
        records[account] = space.consent_record(account)
        space.give(records[account], account)

    def released(transfer_id: str) -> list[tuple[str, str, int]]:
        data = exchange.data(transfer_id)
        assert data.startswith(b"PAR1")
        return pl.read_parquet(io.BytesIO(data)).rows()

    first = exchange.finish(exchange.transfer(agreement_id)["id"])
    assert first["state"] == "COMPLETED" and first["media_type"] == "application/vnd.apache.parquet", first
    assert released(first["id"]) == RESULTS.filter(pl.col("account") != "eleve-4").rows()  # eleve-4 never linked an account
    provider = exchange.wait(exchange.provider_side(first)["id"], "COMPLETED", side="provider")
    assert provider["record_count"] == 7 and provider["consent_record_ids"] == sorted(records.values())

    space.withdraw(records["eleve-2"], "eleve-2")
    second = exchange.finish(exchange.transfer(agreement_id)["id"])
    assert second["state"] == "COMPLETED", second
    assert set(released(first["id"])) - set(released(second["id"])) == set(RESULTS.filter(pl.col("account") == "eleve-2").rows())
    assert released(second["id"]) == RESULTS.filter(pl.col("account").is_in(["eleve-1", "eleve-3"])).rows()
    provider = exchange.provider_side(second)
    assert provider["record_count"] == 5 and provider["consent_record_ids"] == sorted([records["eleve-1"], records["eleve-3"]])


COMPLETED = "http://adlnet.gov/expapi/verbs/completed"


def test_an_lrs_source_releases_the_matching_statements_of_consenting_learners(start_node: Callable[..., RunningNode], tmp_path: Path) -> None:
    from dases.lrs import service as lrs

    space = ConsentSpace(start_node, tmp_path / "resultats.csv")
    statements = [
        {
            "actor": {"account": {"homePage": "https://ecole.example.org", "name": account}},
            "verb": {"id": verb},
            "object": {"id": f"https://ecole.example.org/cours/{course}"},
            "result": {"score": {"raw": int(score)}},
        }
        for account, course, score in ROWS
        for verb in (COMPLETED, "http://adlnet.gov/expapi/verbs/attempted")
    ]
    with space.school.node.db.transaction() as session:
        authority = {"objectType": "Agent", "account": {"homePage": "urn:dases:lrs", "name": "tracker"}}
        lrs.store_statements(session, "school", statements, authority=authority, version="1.0.3")
    exchange = space.exchange
    exchange.publish(
        {"kind": "xapi", "query": {"verb": COMPLETED}, "learner_field": "actor.account.name"},
        title="Traces d'apprentissage (LRS)", contains_pii=True, data_categories=["learning_traces"], policy=FOR_MONITORING,
    )
    agreement_id = exchange.agree()
    records = {}
    for account in ("eleve-1", "eleve-2", "eleve-3"):
        space.learner(account)
        records[account] = space.consent_record(account)
        space.give(records[account], account)

    def released(transfer_id: str) -> list[tuple[str, str, str]]:
        lines = [json.loads(line) for line in exchange.data(transfer_id).decode().splitlines()]
        assert {line["verb"]["id"] for line in lines} == {COMPLETED}
        return [(line["actor"]["account"]["name"], line["object"]["id"].rsplit("/", 1)[1], str(line["result"]["score"]["raw"])) for line in lines]

    first = exchange.finish(exchange.transfer(agreement_id)["id"])
    assert first["state"] == "COMPLETED" and first["media_type"] == "application/x-ndjson", first
    assert released(first["id"]) == of("eleve-1", "eleve-2", "eleve-3")  # eleve-4 never linked an account
    provider = exchange.wait(exchange.provider_side(first)["id"], "COMPLETED", side="provider")
    assert provider["record_count"] == 7 and provider["consent_record_ids"] == sorted(records.values())

    space.withdraw(records["eleve-2"], "eleve-2")
    second = exchange.finish(exchange.transfer(agreement_id)["id"])
    assert released(second["id"]) == of("eleve-1", "eleve-3")
    assert exchange.provider_side(second)["consent_record_ids"] == sorted([records["eleve-1"], records["eleve-3"]])
