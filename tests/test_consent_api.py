"""The consent service as connectors use it over signed calls: link codes, requests, checks,
bad input named field by field, and signed notifications when a consent is withdrawn."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from dases.consent import accounts, service
from dases.consent.models import ReceivedNotification
from dases.consent.notifications import deliver_pending
from dases.identity.client import signed_client

from .conftest import RunningNode
from .spaces import ADMIN, PURPOSE, PURPOSE_IRI, DataSpace


class Space(DataSpace):
    """The data space of `tests/spaces.py`, plus a node whose participant is not a member."""

    def __init__(self, start_node: Callable[..., RunningNode]) -> None:
        super().__init__(start_node)
        self.outsider = start_node()
        self.outsider.add_participant("outsider", "Not a member")

    def learner(self, account: str, birth_date: date = date(2001, 5, 4)) -> str:
        """A learner registered at the consent service who linked their school account."""
        code = self.link_code(account)
        with self.operator.node.db.transaction() as session:
            subject = accounts.register(session, login=f"l-{account}", password="correct horse battery", display_name=account, birth_date=birth_date)
            accounts.redeem_link_code(session, subject.id, code)
            return subject.id

    def request(self, **overrides: Any) -> httpx.Response:
        return self.ask(**overrides)

    def check(self, slug: str = "school", **params: Any) -> httpx.Response:
        node = self.school if slug == "school" else self.edtech
        query = {"account": "eleve-1", "consumer": self.edtech.did("edtech"), "purpose": PURPOSE, **params}
        if slug != "school":
            query.setdefault("provider", self.school.did("school"))
        with self.call(node, slug) as client:
            return client.get("/consent/check", params={key: value for key, value in query.items() if value is not None})


@pytest.fixture
def space(start_node: Callable[..., RunningNode]) -> Space:
    return Space(start_node)


def test_a_request_is_checked_no_until_given_and_no_again_once_withdrawn(space: Space) -> None:
    subject = space.learner("eleve-1")
    requested = space.request()
    assert requested.status_code == 201, requested.text
    record = requested.json()
    assert record["status"] == "requested" and record["purpose"] == PURPOSE_IRI and record["subject"] == subject
    assert space.check().json() == {"allowed": False, "record_id": record["id"], "status": "requested", "valid_until": None}

    with space.operator.node.db.transaction() as session:
        service.give(session, record["id"], by=subject, minor_age=15)
    by_provider, by_consumer = space.check().json(), space.check("edtech", subject=subject, account=None).json()
    assert by_provider["allowed"] and by_consumer["allowed"] and by_provider["record_id"] == record["id"]

    with space.operator.node.db.transaction() as session:
        service.withdraw(session, record["id"], by=subject, minor_age=15)
    assert space.check().json()["allowed"] is False
    with space.call(space.school, "school") as client:
        history = client.get(f"/consent/records/{record['id']}").json()["history"]
    assert [event["status"] for event in history] == ["requested", "given", "withdrawn"]


def test_unknown_learner_is_404(space: Space) -> None:
    space.learner("eleve-1")
    response = space.request(account="nobody-linked-this")
    assert response.status_code == 404 and "nobody-linked-this" in response.json()["detail"]
    response = space.request(account=None, subject="sub_" + "0" * 32)
    assert response.status_code == 404 and "sub_000" in response.json()["detail"]


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"purpose": "dpv:SellToAdvertisers"}, "purpose"),
        ({"purpose": "https://example.org/not-dpv"}, "purpose"),
        ({"data_categories": ["genome"]}, "data_categories"),
        ({"duration_days": None, "valid_until": "2026-13-45"}, "valid_until"),
        ({"duration_days": None, "valid_until": "yesterday"}, "valid_until"),
        ({"duration_days": None, "valid_until": "2001-01-01"}, "valid_until"),
        ({"duration_days": 0}, "duration_days"),
        ({"consumer": "did:web:nowhere.example"}, "consumer"),
        ({"legal_basis": "because"}, "legal_basis"),
    ],
)
def test_bad_requests_are_4xx_naming_the_field(space: Space, overrides: dict[str, Any], field: str) -> None:
    space.learner("eleve-1")
    response = space.request(**overrides)
    assert 400 <= response.status_code < 500, response.text
    problem = response.json()
    assert response.headers["content-type"].startswith("application/problem+json")
    assert any(field in error["field"] for error in problem.get("errors", [])), problem


def test_a_consumer_that_is_not_a_member_is_refused(space: Space) -> None:
    space.learner("eleve-1")
    response = space.request(consumer=space.outsider.did("outsider"))
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "consumer" and "not an active member" in response.json()["detail"]


def test_only_members_and_only_the_parties_may_check(space: Space) -> None:
    space.learner("eleve-1")
    space.request()
    with space.call(space.outsider, "outsider") as client:
        response = client.get("/consent/check", params={"account": "eleve-1", "consumer": space.edtech.did("edtech"), "purpose": PURPOSE})
    assert response.status_code == 403 and "not an active member" in response.json()["detail"]
    response = space.check("edtech", consumer="did:web:someone-else.example")  # the edtech asks about a transfer to a third party
    assert response.status_code == 403


def test_unsigned_calls_are_refused(space: Space) -> None:
    with space.operator.client() as client:
        assert client.get("/consent/check", params={"subject": "sub_" + "0" * 32, "consumer": "did:web:x.example", "purpose": PURPOSE}).status_code == 401


def test_a_withdrawal_is_pushed_to_the_connectors_as_a_signed_notification(space: Space) -> None:
    subject = space.learner("eleve-1")
    with space.call(space.edtech, "edtech") as client:
        hook = f"{space.edtech.url}/participants/edtech/consent/notifications"
        assert client.put("/consent/webhook", json={"url": hook}).status_code == 204
    record = space.request().json()
    with space.operator.node.db.transaction() as session:
        service.give(session, record["id"], by=subject, minor_age=15)
        service.withdraw(session, record["id"], by=subject, minor_age=15)
    assert deliver_pending(space.operator.node) == 1  # the edtech has a webhook; the school has none
    with space.edtech.node.db.transaction() as session:
        received = session.scalars(select(ReceivedNotification)).all()
    assert [(r.record_id, r.status, r.seq) for r in received] == [(record["id"], "withdrawn", 3)]
    assert received[0].payload["consumer"] == space.edtech.did("edtech") and received[0].payload["purpose"] == PURPOSE_IRI
    assert deliver_pending(space.operator.node) == 0  # delivered once


def test_notifications_from_anyone_but_the_consent_service_are_refused(space: Space) -> None:
    with signed_client(space.school.signer("school"), space.edtech.did("edtech"), base_url=space.edtech.url) as client:
        response = client.post("/participants/edtech/consent/notifications", content=b"x.y.z", headers={"Content-Type": "application/jose"})
    assert response.status_code == 403 and "accepted from" in response.json()["detail"]


def test_expired_link_codes_do_not_link(space: Space) -> None:
    with space.operator.node.db.transaction() as session:
        issued = accounts.issue_link_code(session, provider_did="did:web:x.example", account="a", role="learner", lifetime=timedelta(seconds=-1))
        subject = accounts.register(session, login="late-learner", password="correct horse battery", display_name="Late", birth_date=date(2000, 1, 1))
    with pytest.raises(Exception, match="expired"), space.operator.node.db.transaction() as session:
        accounts.redeem_link_code(session, subject.id, issued.code)


def test_a_request_for_an_offering_takes_its_terms_from_the_offering_policy(space: Space) -> None:
    from dases.catalog import federation

    from .test_catalog_offerings import offering

    policy = {
        "permission": [
            {
                "action": "use",
                "constraint": [
                    {
                        "and": [
                            {"leftOperand": "purpose", "operator": "eq", "rightOperand": PURPOSE_IRI},
                            {"leftOperand": "elapsedTime", "operator": "lteq", "rightOperand": "P60D"},
                        ]
                    }
                ],
            }
        ]
    }
    with space.school.client(headers=ADMIN) as admin:
        published = admin.post(
            "/participants/school/offerings",
            json=offering(title="Suivi des élèves de seconde", policy=policy, data_categories=["learning_traces", "assessment_results"]),
        )
    assert published.status_code == 201, published.text
    federation.crawl(space.operator.node)
    with space.operator.node.db.transaction() as session:
        entry = session.scalars(select(federation.FederatedOffering)).one()
    space.learner("eleve-1")
    response = space.request(offering_id=entry.offering_id, purpose=None, data_categories=None, duration_days=None)
    assert response.status_code == 201, response.text
    record = response.json()
    assert record["purpose"] == PURPOSE_IRI and record["duration_days"] == 60
    assert record["data_categories"] == ["learning_traces", "assessment_results"]
    with space.operator.node.db.transaction() as session:
        terms = service.notice_terms(service.get_record(session, record["id"]))
    assert terms.offering == "Suivi des élèves de seconde" and terms.consumer == "EdTech Numérique"

    missing = space.request(offering_id="urn:uuid:no-such-offering", purpose=None, data_categories=None, duration_days=None)
    assert missing.status_code == 404 and "no-such-offering" in missing.json()["detail"]


def test_a_transfer_asks_once_which_learners_it_may_carry(space: Space) -> None:
    subjects = {account: space.learner(account) for account in ("eleve-1", "eleve-2", "eleve-3")}
    records = {account: space.request(account=account).json()["id"] for account in subjects}
    with space.operator.node.db.transaction() as session:
        for account in ("eleve-1", "eleve-2"):
            service.give(session, records[account], by=subjects[account], minor_age=15)
        service.withdraw(session, records["eleve-2"], by=subjects["eleve-2"], minor_age=15)
    body = {"consumer": space.edtech.did("edtech"), "purpose": PURPOSE, "accounts": ["eleve-1", "eleve-2", "eleve-3", "never-linked"]}
    with space.call(space.school, "school") as client:
        response = client.post("/consent/check-batch", json=body)
    assert response.status_code == 200, response.text
    assert response.json()["allowed"] == [{"account": "eleve-1", "record_id": records["eleve-1"]}]
    with space.call(space.edtech, "edtech") as client:  # the consumer learns nothing this way
        assert client.post("/consent/check-batch", json=body).json()["allowed"] == []


def test_exchange_reports_name_only_the_callers_own_records(space: Space) -> None:
    space.learner("eleve-1")
    record = space.request().json()
    report = {"consumer": space.edtech.did("edtech"), "transfer_id": "t-1", "agreement_id": "a-1", "at": "2026-11-21T10:00:00Z", "record_ids": [record["id"]]}
    with space.call(space.edtech, "edtech") as client:  # the consumer is not the provider of this record
        refused = client.post("/consent/exchanges", json=report)
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "record_ids"
    with space.call(space.school, "school") as client:
        naive = client.post("/consent/exchanges", json={**report, "at": "2026-11-21T10:00:00"})
        assert naive.status_code == 422 and "time zone" in naive.text
        accepted = client.post("/consent/exchanges", json=report)
    assert accepted.status_code == 201 and accepted.json() == {"recorded": 1, "without_consent": [record["id"]]}  # never given
