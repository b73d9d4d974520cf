"""The DSP contract negotiation between two real nodes on loopback, provider and consumer side:
every state and transition, repeated and illegal messages, termination and time-out.

Both nodes validate every DSP message they send and receive against the DSP 2025-1 JSON
Schemas (conftest sets `dsp_schema_dir`), so each scenario also proves the messages valid.
The scenarios follow the DSP TCK's negotiation list: consumer-initiated request to agreement,
provider counter-offer then consumer acceptance, consumer counter-request, provider-initiated
offer, termination by either side, and the error cases.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from sqlalchemy.orm import Session

from dases.identity.client import signed_client
from dases.identity.resolver import DidResolver
from dases.negotiation.adapters import OdrlJudge
from dases.negotiation.agreements import sign_agreement, verify_agreement_signature
from dases.negotiation.messages import DSP_CONTEXT, DspSchemas

from .conftest import ADMIN_TOKEN, SHARED, RunningNode

TARGET = "urn:uuid:0d1b8f0e-1111-4e3a-9c7f-000000000001"
OFFER = {
    "@id": "urn:uuid:0d1b8f0e-2222-4e3a-9c7f-000000000002",
    "@type": "Offer",
    "target": TARGET,
    "permission": [{"action": "use", "constraint": [{"leftOperand": "purpose", "operator": "eq", "rightOperand": "learning-analytics"}]}],
}
SCHEMAS = DspSchemas(SHARED / "specs" / "dsp")


class Offers:
    """The provider's published offers, as the catalog would answer."""

    def __init__(self, *offers: dict[str, Any], gate: threading.Event | None = None) -> None:
        self.offers = {offer["@id"]: offer for offer in offers}
        self.gate = gate

    def find(self, session: Session, provider_slug: str, offer_id: str) -> dict[str, Any] | None:
        if self.gate is not None:
            self.gate.wait(30)
        return self.offers.get(offer_id)


EXPIRED_OFFER = {
    "@id": "urn:uuid:0d1b8f0e-3333-4e3a-9c7f-000000000003",
    "@type": "Offer",
    "target": TARGET,
    "permission": [{"action": "use", "constraint": [{"leftOperand": "dateTime", "operator": "lteq", "rightOperand": "2020-01-01T00:00:00Z"}]}],
}


class Pair:
    def __init__(self, start_node: Callable[..., RunningNode], provider_settings: dict[str, Any] | None = None, **consumer_settings: Any) -> None:
        self.provider = start_node(**(provider_settings or {}))
        self.provider.add_participant("edtech-a")
        self.consumer = start_node(**consumer_settings)
        self.consumer.add_participant("school-b")
        self.provider.app.state.negotiator.offers = Offers(OFFER, EXPIRED_OFFER)

    @property
    def provider_url(self) -> str:
        return f"{self.provider.url}/participants/edtech-a/dsp"

    @property
    def consumer_url(self) -> str:
        return f"{self.consumer.url}/participants/school-b/dsp"

    def admin(self, node: RunningNode) -> httpx.Client:
        return node.client(headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})

    def request(self, offer: dict[str, Any] = OFFER) -> dict[str, Any]:
        with self.admin(self.consumer) as admin:
            response = admin.post("/participants/school-b/negotiations", json={"provider_url": self.provider_url, "offer": offer})
        assert response.status_code == 201, response.text
        return response.json()

    def show(self, node: RunningNode, slug: str, negotiation_id: str) -> dict[str, Any]:
        with self.admin(node) as admin:
            response = admin.get(f"/participants/{slug}/negotiations/{negotiation_id}")
        assert response.status_code == 200, response.text
        return response.json()

    def provider_side(self, consumer_view: dict[str, Any]) -> dict[str, Any]:
        with self.admin(self.provider) as admin:
            listed = admin.get("/participants/edtech-a/negotiations").json()
        match = [n for n in listed if n["consumer_pid"] == consumer_view["consumer_pid"]]
        assert len(match) == 1, listed
        return self.show(self.provider, "edtech-a", match[0]["id"])

    def wait(self, node: RunningNode, slug: str, negotiation_id: str, state: str, timeout: float = 10) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            view = self.show(node, slug, negotiation_id)
            if view["state"] == state:
                return view
            if time.monotonic() > deadline:
                raise AssertionError(f"negotiation stayed {view['state']}, expected {state}: {view}")
            time.sleep(0.02)

    def dsp_as_consumer(self) -> httpx.Client:
        return signed_client(self.consumer.signer("school-b"), self.provider.did("edtech-a"), base_url=self.provider_url)

    def dsp_as_provider(self) -> httpx.Client:
        return signed_client(self.provider.signer("edtech-a"), self.consumer.did("school-b"), base_url=self.consumer_url)


@pytest.fixture
def pair(start_node: Callable[..., RunningNode]) -> Pair:
    return Pair(start_node)


def _states(view: dict[str, Any]) -> list[str]:
    return [event["state"] for event in view["events"]]


def test_request_to_finalized_with_an_agreement_signed_by_both(pair: Pair) -> None:
    started = pair.request()
    assert started["state"] in {"REQUESTED", "AGREED", "VERIFIED", "FINALIZED"}
    consumer = pair.wait(pair.consumer, "school-b", started["id"], "FINALIZED")
    provider = pair.provider_side(consumer)
    provider = pair.wait(pair.provider, "edtech-a", provider["id"], "FINALIZED")
    assert _states(consumer) == ["REQUESTED", "AGREED", "VERIFIED", "FINALIZED"]
    assert _states(provider) == ["REQUESTED", "AGREED", "VERIFIED", "FINALIZED"]

    agreement = consumer["agreement"]
    assert agreement == provider["agreement"]
    assert agreement["assigner"] == pair.provider.did("edtech-a") and agreement["assignee"] == pair.consumer.did("school-b")
    assert agreement["target"] == TARGET and agreement["permission"] == OFFER["permission"]
    # Anyone holding the agreement and the two signatures can verify it, with their own resolver.
    with httpx.Client() as http:
        outsider = DidResolver(http, allow_http_hosts=["127.0.0.1"])
        assert verify_agreement_signature(agreement, consumer["provider_signature"], agreement["assigner"], outsider).valid
        assert verify_agreement_signature(agreement, provider["consumer_signature"], agreement["assignee"], outsider).valid


def test_changed_terms_get_a_counter_offer_which_the_consumer_accepts(pair: Pair) -> None:
    wanted = {**OFFER, "permission": [{"action": "use"}]}
    started = pair.request(wanted)
    consumer = pair.wait(pair.consumer, "school-b", started["id"], "OFFERED")
    assert consumer["offer"]["permission"] == OFFER["permission"]  # the published terms
    with pair.admin(pair.consumer) as admin:
        accepted = admin.post(f"/participants/school-b/negotiations/{started['id']}/accept")
    assert accepted.status_code == 200, accepted.text
    consumer = pair.wait(pair.consumer, "school-b", started["id"], "FINALIZED")
    assert _states(consumer) == ["REQUESTED", "OFFERED", "ACCEPTED", "AGREED", "VERIFIED", "FINALIZED"]
    provider = pair.wait(pair.provider, "edtech-a", pair.provider_side(consumer)["id"], "FINALIZED")
    assert _states(provider) == ["REQUESTED", "OFFERED", "ACCEPTED", "AGREED", "VERIFIED", "FINALIZED"]


def test_consumer_counter_request_on_an_offer(pair: Pair) -> None:
    started = pair.request({**OFFER, "permission": [{"action": "use"}]})
    pair.wait(pair.consumer, "school-b", started["id"], "OFFERED")
    with pair.admin(pair.consumer) as admin:
        countered = admin.post(f"/participants/school-b/negotiations/{started['id']}/counter", json={"offer": OFFER})
    assert countered.status_code == 200, countered.text
    consumer = pair.wait(pair.consumer, "school-b", started["id"], "FINALIZED")
    assert _states(consumer) == ["REQUESTED", "OFFERED", "REQUESTED", "AGREED", "VERIFIED", "FINALIZED"]


def test_provider_initiated_offer_accepted_by_the_consumer(pair: Pair) -> None:
    with pair.admin(pair.provider) as admin:
        response = admin.post("/participants/edtech-a/negotiations/offers", json={"consumer_url": pair.consumer_url, "offer_id": OFFER["@id"]})
    assert response.status_code == 201, response.text
    provider = response.json()
    assert provider["state"] == "OFFERED" and provider["consumer_pid"]
    with pair.admin(pair.consumer) as admin:
        offered = [n for n in admin.get("/participants/school-b/negotiations").json() if n["provider_pid"] == provider["provider_pid"]]
        assert len(offered) == 1 and offered[0]["state"] == "OFFERED"
        assert admin.post(f"/participants/school-b/negotiations/{offered[0]['id']}/accept").status_code == 200
    consumer = pair.wait(pair.consumer, "school-b", offered[0]["id"], "FINALIZED")
    assert _states(consumer) == ["OFFERED", "ACCEPTED", "AGREED", "VERIFIED", "FINALIZED"]
    pair.wait(pair.provider, "edtech-a", provider["id"], "FINALIZED")


@pytest.mark.parametrize("terminator", ["consumer", "provider"])
def test_either_side_terminates_and_the_other_follows(pair: Pair, terminator: str) -> None:
    started = pair.request({**OFFER, "permission": [{"action": "use"}]})
    consumer = pair.wait(pair.consumer, "school-b", started["id"], "OFFERED")
    provider = pair.provider_side(consumer)
    node, slug, own = (pair.consumer, "school-b", consumer) if terminator == "consumer" else (pair.provider, "edtech-a", provider)
    with pair.admin(node) as admin:
        response = admin.post(f"/participants/{slug}/negotiations/{own['id']}/terminate", json={"reason": "no longer needed"})
    assert response.status_code == 200 and response.json()["state"] == "TERMINATED"
    other = pair.wait(pair.provider, "edtech-a", provider["id"], "TERMINATED") if terminator == "consumer" else pair.wait(pair.consumer, "school-b", consumer["id"], "TERMINATED")
    assert other["termination_reason"] == "no longer needed"


def test_unknown_offer_ends_terminated_with_the_reason(pair: Pair) -> None:
    started = pair.request({**OFFER, "@id": "urn:uuid:not-published"})
    consumer = pair.wait(pair.consumer, "school-b", started["id"], "TERMINATED")
    assert consumer["termination_code"] == "offer-unknown"


def test_policy_refusal_ends_terminated_with_the_reason(pair: Pair) -> None:
    started = pair.request(EXPIRED_OFFER)
    consumer = pair.wait(pair.consumer, "school-b", started["id"], "TERMINATED")
    assert consumer["termination_code"] == "policy-denied"
    assert "dateTime lteq 2020-01-01T00:00:00Z does not hold" in consumer["termination_reason"]


def _dsp_message(kind: str, **members: Any) -> dict[str, Any]:
    return {"@context": [DSP_CONTEXT], "@type": kind, **members}


def test_illegal_transition_is_a_400_in_the_dsp_error_shape(pair: Pair) -> None:
    started = pair.request({**OFFER, "permission": [{"action": "use"}]})
    consumer = pair.wait(pair.consumer, "school-b", started["id"], "OFFERED")
    message = _dsp_message("ContractAgreementVerificationMessage", providerPid=consumer["provider_pid"], consumerPid=consumer["consumer_pid"])
    with pair.dsp_as_consumer() as client:
        response = client.post(f"/negotiations/{consumer['provider_pid']}/agreement/verification", json=message)
    assert response.status_code == 400
    body = response.json()
    assert body["@type"] == "ContractNegotiationError" and body["code"] == "illegal-transition"
    assert SCHEMAS.errors(body) == []


def test_unknown_and_foreign_negotiations_are_404(pair: Pair, start_node: Callable[..., RunningNode]) -> None:
    started = pair.request({**OFFER, "permission": [{"action": "use"}]})
    consumer = pair.wait(pair.consumer, "school-b", started["id"], "OFFERED")
    with pair.dsp_as_consumer() as client:
        unknown = client.get("/negotiations/urn:uuid:nope")
        mine = client.get(f"/negotiations/{consumer['provider_pid']}")
    assert unknown.status_code == 404 and unknown.json()["@type"] == "ContractNegotiationError"
    assert mine.status_code == 200 and mine.json()["state"] == "OFFERED" and SCHEMAS.errors(mine.json()) == []
    stranger = start_node()
    stranger.add_participant("intruder")
    with signed_client(stranger.signer("intruder"), pair.provider.did("edtech-a"), base_url=pair.provider_url) as client:
        foreign = client.get(f"/negotiations/{consumer['provider_pid']}")
        terminate = client.post(
            f"/negotiations/{consumer['provider_pid']}/termination",
            json=_dsp_message("ContractNegotiationTerminationMessage", providerPid=consumer["provider_pid"], consumerPid=consumer["consumer_pid"]),
        )
    assert foreign.status_code == 404 and terminate.status_code == 404
    assert pair.show(pair.consumer, "school-b", started["id"])["state"] == "OFFERED"


def test_repeated_messages_change_nothing(pair: Pair) -> None:
    message = _dsp_message("ContractRequestMessage", consumerPid="urn:uuid:repeat-1", offer={**OFFER, "permission": [{"action": "use"}]}, callbackAddress=pair.consumer_url)
    pair.provider.app.state.negotiator.offers = Offers(OFFER, gate=threading.Event())  # hold the decision
    with pair.dsp_as_consumer() as client:
        first = client.post("/negotiations/request", json=message)
        second = client.post("/negotiations/request", json=message)
    assert first.status_code == 201 and second.status_code in (200, 201)
    assert first.json()["providerPid"] == second.json()["providerPid"]
    assert SCHEMAS.errors(first.json()) == []
    pair.provider.app.state.negotiator.offers.gate.set()


@pytest.mark.parametrize(
    ("mutate", "code"),
    [
        (lambda m: {**m, "@type": "ContractOfferMessage"}, "invalid-message"),
        (lambda m: {k: v for k, v in m.items() if k != "offer"}, "invalid-message"),
        (lambda m: {**m, "callbackAddress": "http://169.254.169.254/latest"}, "invalid-callback"),
        (lambda m: {**m, "@context": ["https://example.org/other"]}, "invalid-message"),
    ],
)
def test_bad_requests_are_refused_naming_the_problem(pair: Pair, mutate: Callable[[dict[str, Any]], dict[str, Any]], code: str) -> None:
    message = mutate(_dsp_message("ContractRequestMessage", consumerPid="urn:uuid:bad-1", offer=OFFER, callbackAddress=pair.consumer_url))
    with pair.dsp_as_consumer() as client:
        response = client.post("/negotiations/request", json=message)
    assert response.status_code == 400, response.text
    assert response.json()["code"] == code and response.json()["reason"][0]


def test_unsigned_dsp_calls_are_refused(pair: Pair) -> None:
    with httpx.Client(base_url=pair.provider_url) as client:
        response = client.post("/negotiations/request", json=_dsp_message("ContractRequestMessage", consumerPid="x", offer=OFFER, callbackAddress=pair.consumer_url))
    assert response.status_code == 401


def test_a_silent_provider_leaves_the_request_terminated_after_the_timeout(start_node: Callable[..., RunningNode]) -> None:
    pair = Pair(start_node, negotiation_timeout_seconds=0.5, negotiation_sweep_seconds=0.1)
    gate = threading.Event()
    pair.provider.app.state.negotiator.offers = Offers(OFFER, gate=gate)  # the provider never decides
    try:
        started = pair.request()
        consumer = pair.wait(pair.consumer, "school-b", started["id"], "TERMINATED", timeout=10)
        assert consumer["termination_code"] == "timeout"
        assert "did not answer" in consumer["termination_reason"]
        provider = pair.wait(pair.provider, "edtech-a", pair.provider_side(consumer)["id"], "TERMINATED")
        assert provider["termination_code"] == "timeout"
    finally:
        gate.set()


# --- The DSP TCK negotiation scenarios not covered above, by their TCK ids -----------------


class GatedJudge(OdrlJudge):
    """The node's ODRL judge, holding its decision until released, to observe the state before it."""

    def __init__(self, deny: bool = False) -> None:
        self.deny = deny
        self.gate = threading.Event()

    def decide(self, policy: dict[str, Any], context: dict[str, Any]) -> tuple[bool, list[str]]:
        self.gate.wait(30)
        return super().decide(EXPIRED_OFFER if self.deny else policy, context)


def _offered(pair: Pair) -> tuple[dict[str, Any], dict[str, Any]]:
    started = pair.request({**OFFER, "permission": [{"action": "use"}]})
    consumer = pair.wait(pair.consumer, "school-b", started["id"], "OFFERED")
    return consumer, pair.provider_side(consumer)


def _accepted(pair: Pair, judge: GatedJudge) -> tuple[dict[str, Any], dict[str, Any]]:
    consumer, provider = _offered(pair)
    pair.provider.app.state.negotiator.judge = judge
    with pair.admin(pair.consumer) as admin:
        assert admin.post(f"/participants/school-b/negotiations/{consumer['id']}/accept").status_code == 200
    pair.wait(pair.provider, "edtech-a", provider["id"], "ACCEPTED")
    return pair.wait(pair.consumer, "school-b", consumer["id"], "ACCEPTED"), provider


def test_cn_02_02_consumer_terminates_while_requested(pair: Pair) -> None:
    gate = threading.Event()
    pair.provider.app.state.negotiator.offers = Offers(OFFER, gate=gate)
    try:
        started = pair.request()
        provider = pair.provider_side(pair.show(pair.consumer, "school-b", started["id"]))
        assert provider["state"] == "REQUESTED"
        with pair.admin(pair.consumer) as admin:
            assert admin.post(f"/participants/school-b/negotiations/{started['id']}/terminate", json={"reason": "changed my mind"}).status_code == 200
        pair.wait(pair.provider, "edtech-a", provider["id"], "TERMINATED")
    finally:
        gate.set()


def test_cn_02_06_offer_accepted_then_provider_terminates(pair: Pair) -> None:
    judge = GatedJudge(deny=True)
    consumer, provider = _accepted(pair, judge)
    judge.gate.set()
    assert pair.wait(pair.consumer, "school-b", consumer["id"], "TERMINATED")["termination_code"] == "policy-denied"
    pair.wait(pair.provider, "edtech-a", provider["id"], "TERMINATED")


def _refused(response: httpx.Response, code: str = "illegal-transition") -> None:
    assert response.status_code == 400, response.text
    assert response.json()["code"] == code and SCHEMAS.errors(response.json()) == []


def test_cn_03_01_termination_after_finalized_is_refused(pair: Pair) -> None:
    consumer = pair.wait(pair.consumer, "school-b", pair.request()["id"], "FINALIZED")
    pair.wait(pair.provider, "edtech-a", pair.provider_side(consumer)["id"], "FINALIZED")
    message = _dsp_message("ContractNegotiationTerminationMessage", providerPid=consumer["provider_pid"], consumerPid=consumer["consumer_pid"])
    with pair.dsp_as_consumer() as client:
        _refused(client.post(f"/negotiations/{consumer['provider_pid']}/termination", json=message))


def test_cn_03_03_verification_while_accepted_is_refused(pair: Pair) -> None:
    judge = GatedJudge()
    consumer, _provider = _accepted(pair, judge)
    try:
        message = _dsp_message("ContractAgreementVerificationMessage", providerPid=consumer["provider_pid"], consumerPid=consumer["consumer_pid"])
        with pair.dsp_as_consumer() as client:
            _refused(client.post(f"/negotiations/{consumer['provider_pid']}/agreement/verification", json=message))
    finally:
        judge.gate.set()


def test_cn_03_04_a_second_counter_request_in_a_row_is_refused(pair: Pair) -> None:
    consumer, _provider = _offered(pair)
    pair.provider.app.state.negotiator.offers = Offers(OFFER, gate=threading.Event())  # hold the next decision
    message = _dsp_message("ContractRequestMessage", providerPid=consumer["provider_pid"], consumerPid=consumer["consumer_pid"], offer=OFFER)
    with pair.dsp_as_consumer() as client:
        assert client.post(f"/negotiations/{consumer['provider_pid']}/request", json=message).status_code == 200
        _refused(client.post(f"/negotiations/{consumer['provider_pid']}/request", json=message))
    pair.provider.app.state.negotiator.offers.gate.set()


@pytest.mark.parametrize(
    ("tck_id", "setup", "kind", "path"),
    [
        ("CN_C:03-01", "requested", "FINALIZED", "events"),
        ("CN_C:03-02", "offered", "ContractAgreementMessage", "agreement"),
        ("CN_C:03-03", "offered", "FINALIZED", "events"),
        ("CN_C:03-04", "accepted", "FINALIZED", "events"),
        ("CN_C:03-05", "accepted", "ContractOfferMessage", "offers"),
    ],
)
def test_consumer_refuses_provider_messages_out_of_order(pair: Pair, tck_id: str, setup: str, kind: str, path: str) -> None:
    judge = GatedJudge()
    gate = threading.Event()
    try:
        if setup == "requested":
            pair.provider.app.state.negotiator.offers = Offers(OFFER, gate=gate)
            consumer = pair.show(pair.consumer, "school-b", pair.request()["id"])
            deadline = time.monotonic() + 10
            while consumer["provider_pid"] is None and time.monotonic() < deadline:
                consumer = pair.show(pair.consumer, "school-b", consumer["id"])
        elif setup == "offered":
            consumer, _ = _offered(pair)
        else:
            consumer, _ = _accepted(pair, judge)
        pids = {"providerPid": consumer["provider_pid"], "consumerPid": consumer["consumer_pid"]}
        if kind == "FINALIZED":
            message = _dsp_message("ContractNegotiationEventMessage", eventType="FINALIZED", **pids)
        elif kind == "ContractAgreementMessage":
            agreement = {"@id": "urn:uuid:forged", "@type": "Agreement", "target": TARGET, "assigner": pair.provider.did("edtech-a"), "assignee": pair.consumer.did("school-b"), "permission": [{"action": "use"}]}
            message = _dsp_message(kind, agreement=agreement, **pids)
        else:
            message = _dsp_message(kind, offer=OFFER, **pids)
        with pair.dsp_as_provider() as client:
            _refused(client.post(f"/negotiations/{consumer['consumer_pid']}/{path}", json=message))
        assert pair.show(pair.consumer, "school-b", consumer["id"])["state"] == consumer["state"], tck_id
    finally:
        gate.set()
        judge.gate.set()


def test_repeated_events_are_idempotent(pair: Pair) -> None:
    judge = GatedJudge()
    consumer, provider = _accepted(pair, judge)
    accepted = _dsp_message("ContractNegotiationEventMessage", eventType="ACCEPTED", providerPid=consumer["provider_pid"], consumerPid=consumer["consumer_pid"])
    with pair.dsp_as_consumer() as client:
        again = client.post(f"/negotiations/{consumer['provider_pid']}/events", json=accepted)
    assert again.status_code == 200 and again.json()["state"] == "ACCEPTED"
    judge.gate.set()
    consumer = pair.wait(pair.consumer, "school-b", consumer["id"], "FINALIZED")
    finalized = _dsp_message("ContractNegotiationEventMessage", eventType="FINALIZED", providerPid=consumer["provider_pid"], consumerPid=consumer["consumer_pid"])
    with pair.dsp_as_provider() as client:
        repeated = client.post(f"/negotiations/{consumer['consumer_pid']}/events", json=finalized)
    assert repeated.status_code == 200 and repeated.json()["state"] == "FINALIZED"
    assert len(pair.show(pair.consumer, "school-b", consumer["id"])["events"]) == len(consumer["events"])


def test_a_token_for_another_participant_of_the_node_is_refused(pair: Pair) -> None:
    pair.provider.add_participant("other-provider")
    message = _dsp_message("ContractRequestMessage", consumerPid="urn:uuid:aud-1", offer=OFFER, callbackAddress=pair.consumer_url)
    with signed_client(pair.consumer.signer("school-b"), pair.provider.did("other-provider"), base_url=pair.provider_url) as client:
        response = client.post("/negotiations/request", json=message)
    assert response.status_code == 401 and response.json()["reason"] == "wrong_audience"
    with signed_client(pair.consumer.signer("school-b"), pair.provider.did("edtech-a"), base_url=f"{pair.provider.url}/participants/ghost/dsp") as client:
        assert client.post("/negotiations/request", json=message).status_code == 401


def test_an_agreement_that_differs_from_the_offer_is_rejected_from_agreed(pair: Pair) -> None:
    gate = threading.Event()
    pair.provider.app.state.negotiator.offers = Offers(OFFER, gate=gate)  # the provider node stays silent
    try:
        consumer = pair.show(pair.consumer, "school-b", pair.request()["id"])
        deadline = time.monotonic() + 10
        while consumer["provider_pid"] is None and time.monotonic() < deadline:
            consumer = pair.show(pair.consumer, "school-b", consumer["id"])
        agreement = {
            "@id": "urn:uuid:0d1b8f0e-4444-4e3a-9c7f-000000000004", "@type": "Agreement", "target": TARGET,
            "assigner": pair.provider.did("edtech-a"), "assignee": pair.consumer.did("school-b"),
            "timestamp": "2026-11-21T10:00:00Z", "permission": [{"action": "use"}],  # not the offered terms
        }
        message = _dsp_message("ContractAgreementMessage", providerPid=consumer["provider_pid"], consumerPid=consumer["consumer_pid"], agreement=agreement)
        message["urn:dases:vocab:agreementSignature"] = sign_agreement(agreement, pair.provider.signer("edtech-a"))
        with pair.dsp_as_provider() as client:
            assert client.post(f"/negotiations/{consumer['consumer_pid']}/agreement", json=message).status_code == 200
        consumer = pair.wait(pair.consumer, "school-b", consumer["id"], "TERMINATED")
        assert _states(consumer) == ["REQUESTED", "AGREED", "TERMINATED"]
        assert consumer["termination_code"] == "agreement-rejected" and "terms differ" in consumer["termination_reason"]
        pair.wait(pair.provider, "edtech-a", pair.provider_side(consumer)["id"], "TERMINATED")
    finally:
        gate.set()


@pytest.fixture
def held_pair(start_node: Callable[..., RunningNode]) -> Pair:
    """A provider whose operator finalizes by hand, so both sides rest in VERIFIED."""
    return Pair(start_node, provider_settings={"negotiation_auto_finalize": False})


def _verified(pair: Pair) -> tuple[dict[str, Any], dict[str, Any]]:
    consumer = pair.wait(pair.consumer, "school-b", pair.request()["id"], "VERIFIED")
    return consumer, pair.wait(pair.provider, "edtech-a", pair.provider_side(consumer)["id"], "VERIFIED")


def test_the_provider_operator_finalizes_a_verified_agreement(held_pair: Pair) -> None:
    consumer, provider = _verified(held_pair)
    with held_pair.admin(held_pair.consumer) as admin:
        wrong_side = admin.post(f"/participants/school-b/negotiations/{consumer['id']}/finalize")
    assert wrong_side.status_code == 409
    with held_pair.admin(held_pair.provider) as admin:
        assert admin.post(f"/participants/edtech-a/negotiations/{provider['id']}/finalize").json()["state"] == "FINALIZED"
    assert _states(held_pair.wait(held_pair.consumer, "school-b", consumer["id"], "FINALIZED")) == ["REQUESTED", "AGREED", "VERIFIED", "FINALIZED"]


@pytest.mark.parametrize("terminator", ["consumer", "provider"])
def test_a_verified_negotiation_can_still_be_terminated(held_pair: Pair, terminator: str) -> None:
    consumer, provider = _verified(held_pair)
    node, slug, own = (held_pair.consumer, "school-b", consumer) if terminator == "consumer" else (held_pair.provider, "edtech-a", provider)
    with held_pair.admin(node) as admin:
        assert admin.post(f"/participants/{slug}/negotiations/{own['id']}/terminate", json={"reason": "funding withdrawn"}).json()["state"] == "TERMINATED"
    other = held_pair.wait(held_pair.provider, "edtech-a", provider["id"], "TERMINATED") if terminator == "consumer" else held_pair.wait(held_pair.consumer, "school-b", consumer["id"], "TERMINATED")
    assert _states(other)[-2:] == ["VERIFIED", "TERMINATED"] and other["termination_reason"] == "funding withdrawn"
