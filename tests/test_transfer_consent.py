"""Personal data leaves a provider only for the learners whose consent is given at that moment:
the end-to-end exchange on three nodes (operator, school, EdTech) on loopback: publish,
negotiate, give consent, transfer, read the ledger; withdraw one learner's consent and the next
transfer omits exactly that learner's records; revoke the agreement and the next transfer is
refused with the reason. And what happens when consent cannot be checked at all."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from dases.consent import accounts
from dases.consent import service as consent

from .conftest import RunningNode
from .spaces import ADMIN, PURPOSE, DataSpace
from .test_transfer_pull import Exchange, wait_for

FOR_MONITORING = {"permission": [{"action": "use", "constraint": [{"leftOperand": "purpose", "operator": "eq", "rightOperand": PURPOSE}]}]}
ROWS = [
    ("eleve-1", "maths", "14"), ("eleve-2", "maths", "9"), ("eleve-3", "maths", "17"), ("eleve-4", "maths", "11"),
    ("eleve-1", "physique", "12"), ("eleve-2", "physique", "15"), ("eleve-3", "physique", "8"), ("eleve-1", "histoire", "16"),
]


class ConsentSpace(DataSpace):
    """The data space of `tests/spaces.py`: the school provides a CSV of its learners' results."""

    def __init__(self, start_node: Callable[..., RunningNode], source: Path) -> None:
        super().__init__(start_node)
        self.exchange = Exchange(self.school, "school", self.edtech, "edtech")
        with source.open("w", newline="") as out:
            writer = csv.writer(out)
            writer.writerow(["account", "course", "score"])
            writer.writerows(ROWS)
        self.exchange.publish(
            {"kind": "file", "path": str(source), "learner_field": "account"},
            title="Résultats des élèves", contains_pii=True, data_categories=["learning_traces", "assessment_results"], policy=FOR_MONITORING,
        )
        self.subjects: dict[str, str] = {}

    def learner(self, account: str) -> str:
        """A learner registered at the consent service who linked their school account."""
        code = self.link_code(account)
        with self.operator.node.db.transaction() as session:
            subject = accounts.register(session, login=f"l-{account}", password="correct horse battery", display_name=account, birth_date=date(2001, 5, 4))
            accounts.redeem_link_code(session, subject.id, code)
        self.subjects[account] = subject.id
        return subject.id

    def consent_record(self, account: str) -> str:
        """The school asks the learner's consent for the EdTech and the offering's purpose."""
        response = self.ask(account=account)
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    def give(self, record_id: str, account: str) -> None:
        with self.operator.node.db.transaction() as session:
            consent.give(session, record_id, by=self.subjects[account], minor_age=15)

    def withdraw(self, record_id: str, account: str) -> None:
        with self.operator.node.db.transaction() as session:
            consent.withdraw(session, record_id, by=self.subjects[account], minor_age=15)

    def rows(self, transfer_id: str) -> list[tuple[str, ...]]:
        lines = list(csv.reader(io.StringIO(self.exchange.data(transfer_id).decode())))
        assert lines[0] == ["account", "course", "score"]
        return [tuple(line) for line in lines[1:]]


def ledger_entries(node: RunningNode, slug: str) -> list[tuple[str, dict[str, Any]]]:
    """The participant's ledger, verified, as (kind, body) pairs, oldest first."""
    from dases.ledger import service as ledger

    with node.node.db.transaction() as session:
        report = ledger.verify(session, slug)
        assert report.ok, report
        return [(entry.kind, entry.body) for entry in ledger.entries(session, slug)]


def of(account: str, *accounts_: str) -> list[tuple[str, ...]]:
    wanted = {account, *accounts_}
    return [row for row in ROWS if row[0] in wanted]


@pytest.fixture
def space(start_node: Callable[..., RunningNode], tmp_path: Path) -> ConsentSpace:
    return ConsentSpace(start_node, tmp_path / "resultats.csv")


def test_only_consenting_learners_are_released_and_withdrawal_and_revocation_apply_at_once(space: ConsentSpace) -> None:
    exchange = space.exchange
    agreement_id = exchange.agree()
    for account in ("eleve-1", "eleve-2", "eleve-3"):
        space.learner(account)
    records = {account: space.consent_record(account) for account in ("eleve-1", "eleve-2", "eleve-3")}
    space.give(records["eleve-1"], "eleve-1")
    space.give(records["eleve-2"], "eleve-2")  # eleve-3 was asked and did not answer; eleve-4 never linked an account

    first = exchange.finish(exchange.transfer(agreement_id)["id"])
    assert first["state"] == "COMPLETED", first
    assert space.rows(first["id"]) == of("eleve-1", "eleve-2")
    provider = exchange.wait(exchange.provider_side(first)["id"], "COMPLETED", side="provider")
    assert provider["record_count"] == 5 and provider["consent_record_ids"] == sorted([records["eleve-1"], records["eleve-2"]])
    reported = wait_for(lambda: exchange.show(provider["id"], "provider"), lambda view: any(e["kind"] == "ExchangeReported" for e in view["events"]))
    assert any(e["detail"] == "2 consent records" for e in reported["events"])
    with space.operator.node.db.transaction() as session:  # each learner sees the release on their dashboard
        seen = {account: [(exchange_row.transfer_id, exchange_row.consented) for _, exchange_row in consent.exchanges_of(session, space.subjects[account])] for account in records}
    assert seen == {"eleve-1": [(provider["provider_pid"], True)], "eleve-2": [(provider["provider_pid"], True)], "eleve-3": []}

    space.withdraw(records["eleve-2"], "eleve-2")
    second = exchange.finish(exchange.transfer(agreement_id)["id"])
    assert second["state"] == "COMPLETED", second
    assert space.rows(second["id"]) == of("eleve-1")
    assert set(space.rows(first["id"])) - set(space.rows(second["id"])) == set(of("eleve-2"))
    assert exchange.provider_side(second)["consent_record_ids"] == [records["eleve-1"]]

    with space.school.client(headers=ADMIN) as admin:
        revoked = admin.post(f"/participants/school/agreements/{agreement_id}/revoke", json={"reason": "the school ended the partnership"})
    assert revoked.status_code == 200, revoked.text
    third = exchange.finish(exchange.transfer(agreement_id)["id"])
    assert third["state"] == "TERMINATED" and third["termination_code"] == "agreement-revoked"
    assert "revoked" in third["termination_reason"] and "the school ended the partnership" in third["termination_reason"]
    assert third["received_bytes"] == 0 and third["payload_sha256"] is None

    provider_ledger = ledger_entries(space.school, "school")
    kinds = [kind for kind, _ in provider_ledger]
    assert kinds.count("transfer.started") == 2 and kinds.count("transfer.completed") == 2 and kinds[-1] == "transfer.terminated"
    started = [body for kind, body in provider_ledger if kind == "transfer.started"]
    assert started[0]["consent_record_ids"] == sorted([records["eleve-1"], records["eleve-2"]]) and started[0]["record_count"] == 5
    assert started[1]["consent_record_ids"] == [records["eleve-1"]] and started[1]["record_count"] == 3
    assert all(body["agreement_id"] == agreement_id and body["counterparty"] == space.edtech.did("edtech") for _, body in provider_ledger)
    assert "revoked" in provider_ledger[-1][1]["reason"]
    consumer_kinds = [kind for kind, _ in ledger_entries(space.edtech, "edtech")]
    assert consumer_kinds == ["transfer.completed", "transfer.completed", "transfer.terminated"]


def test_no_personal_data_leaves_when_consent_cannot_be_checked(start_node: Callable[..., RunningNode], tmp_path: Path) -> None:
    exchange = Exchange.pair(start_node, provider_settings={"consent_service": "did:web:127.0.0.1%3A9:participants:operator"})
    source = tmp_path / "traces.jsonl"
    source.write_text('{"learner": {"id": "a"}, "verb": "completed"}\n{"learner": {"id": "b"}, "verb": "failed"}\n')
    exchange.publish({"kind": "file", "path": str(source), "learner_field": "learner.id"}, contains_pii=True,
                     policy={"permission": [{"action": "use", "constraint": [{"leftOperand": "purpose", "operator": "eq", "rightOperand": PURPOSE}]}]})
    ended = exchange.finish(exchange.transfer(exchange.agree())["id"])
    assert ended["state"] == "TERMINATED" and ended["termination_code"] == "consent-unavailable", ended
    assert "cannot be reached" in ended["termination_reason"] and ended["received_bytes"] == 0
    assert not list((exchange.provider.node.settings.data_dir / "transfers" / "staged").glob("*"))


def test_personal_data_without_a_purpose_is_not_released(start_node: Callable[..., RunningNode], tmp_path: Path) -> None:
    exchange = Exchange.pair(start_node)
    source = tmp_path / "traces.csv"
    source.write_text("account,score\na,1\n")
    exchange.publish({"kind": "file", "path": str(source), "learner_field": "account"}, contains_pii=True, policy={"permission": [{"action": "use"}]})
    ended = exchange.finish(exchange.transfer(exchange.agree())["id"])
    assert ended["state"] == "TERMINATED" and ended["termination_code"] == "purpose-missing", ended
