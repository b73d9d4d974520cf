"""Pull transfers between two real nodes on loopback, without personal data: the DSP transfer
process on both sides (every message validated against the DSP 2025-1 schemas, as conftest sets
`dsp_schema_dir`), the data plane's token, Range and digest rules, the policy checked again at
every transfer, suspension and resumption, termination by either side."""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from dases.identity.client import signed_client
from dases.transfer.messages import DSP_CONTEXT, TransferSchemas

from .conftest import ADMIN_TOKEN, SHARED, RunningNode
from .test_catalog_offerings import offering

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
SCHEMAS = TransferSchemas(SHARED / "specs" / "dsp")
TWICE = {"permission": [{"action": "use", "constraint": [{"leftOperand": "count", "operator": "lteq", "rightOperand": {"@value": "2", "@type": "xsd:integer"}}]}]}


def assert_dsp(body: dict[str, Any]) -> dict[str, Any]:
    assert SCHEMAS.errors(body) == [], body
    return body


def wait_for(read: Callable[[], dict[str, Any]], done: Callable[[dict[str, Any]], bool], timeout: float = 20) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        view = read()
        if done(view):
            return view
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out; last seen: {json.dumps(view, default=str)[:2000]}")
        time.sleep(0.05)


class Exchange:
    """A provider node and a consumer node, an offering with a data source, and its agreement.

    Works for any pair of nodes: the data space of `tests/spaces.py` passes its school and EdTech."""

    def __init__(self, provider: RunningNode, provider_slug: str, consumer: RunningNode, consumer_slug: str) -> None:
        self.provider, self.provider_slug = provider, provider_slug
        self.consumer, self.consumer_slug = consumer, consumer_slug
        self.connector = f"{provider.url}/participants/{provider_slug}/dsp"

    @classmethod
    def pair(cls, start_node: Callable[..., RunningNode], provider_settings: dict[str, Any] | None = None) -> Exchange:
        provider = start_node(**(provider_settings or {}))
        provider.add_participant("edtech-a", "EdTech A")
        consumer = start_node()
        consumer.add_participant("school-b", "School B")
        return cls(provider, "edtech-a", consumer, "school-b")

    # --- the provider's operator ---

    def publish(self, source: dict[str, Any], **overrides: Any) -> str:
        with self.provider.client(headers=ADMIN) as admin:
            response = admin.post(f"/participants/{self.provider_slug}/offerings", json=offering(**overrides))
            assert response.status_code == 201, response.text
            published = response.json()
            attached = admin.put(f"/participants/{self.provider_slug}/offerings/{published['id']}/source", json=source)
            assert attached.status_code == 200, attached.text
        self.offer_id = published["offer_id"]
        return str(published["id"])

    # --- the consumer's operator ---

    def agree(self) -> str:
        """Negotiate the published offer to FINALIZED; the agreement's id."""
        with self.consumer.client(headers=ADMIN) as admin:
            started = admin.post(f"/participants/{self.consumer_slug}/negotiations", json={"provider_url": self.connector, "offer_id": self.offer_id})
            assert started.status_code == 201, started.text
            url = f"/participants/{self.consumer_slug}/negotiations/{started.json()['id']}"
            finalized = wait_for(lambda: admin.get(url).json(), lambda view: view["state"] in ("FINALIZED", "TERMINATED"))
        assert finalized["state"] == "FINALIZED", finalized
        return str(finalized["agreement"]["@id"])

    def transfer(self, agreement_id: str, **options: Any) -> dict[str, Any]:
        with self.consumer.client(headers=ADMIN) as admin:
            response = admin.post(f"/participants/{self.consumer_slug}/transfers", json={"agreement_id": agreement_id, **options})
        assert response.status_code == 201, response.text
        return dict(response.json())

    def show(self, transfer_id: str, side: str = "consumer") -> dict[str, Any]:
        node, slug = (self.consumer, self.consumer_slug) if side == "consumer" else (self.provider, self.provider_slug)
        with node.client(headers=ADMIN) as admin:
            response = admin.get(f"/participants/{slug}/transfers/{transfer_id}")
        assert response.status_code == 200, response.text
        return dict(response.json())

    def wait(self, transfer_id: str, *states: str, side: str = "consumer", timeout: float = 20) -> dict[str, Any]:
        return wait_for(lambda: self.show(transfer_id, side), lambda view: view["state"] in states, timeout)

    def finish(self, transfer_id: str) -> dict[str, Any]:
        return self.wait(transfer_id, "COMPLETED", "TERMINATED")

    def provider_side(self, consumer_view: dict[str, Any]) -> dict[str, Any]:
        with self.provider.client(headers=ADMIN) as admin:
            listed = admin.get(f"/participants/{self.provider_slug}/transfers", params={"agreement_id": consumer_view["agreement_id"]}).json()
        match = [view for view in listed if view["consumer_pid"] == consumer_view["consumer_pid"]]
        assert len(match) == 1, listed
        return self.show(match[0]["id"], "provider")

    def data(self, transfer_id: str) -> bytes:
        with self.consumer.client(headers=ADMIN) as admin:
            response = admin.get(f"/participants/{self.consumer_slug}/transfers/{transfer_id}/data")
        assert response.status_code == 200, response.text
        return response.content

    def action(self, side: str, transfer_id: str, verb: str, **body: Any) -> httpx.Response:
        node, slug = (self.consumer, self.consumer_slug) if side == "consumer" else (self.provider, self.provider_slug)
        with node.client(headers=ADMIN) as admin:
            return admin.post(f"/participants/{slug}/transfers/{transfer_id}/{verb}", json=body)

    def as_consumer(self) -> httpx.Client:
        """Signed DSP calls from the consumer's participant to the provider's."""
        return signed_client(self.consumer.signer(self.consumer_slug), self.provider.did(self.provider_slug), base_url=self.connector, timeout=10)


def address(view: dict[str, Any]) -> tuple[str, dict[str, str]]:
    data_address = view["data_address"]
    assert_dsp({"@context": [DSP_CONTEXT], "@type": "TransferStartMessage", "providerPid": "p", "consumerPid": "c", "dataAddress": data_address})
    return data_address["endpoint"], {item["name"]: item["value"] for item in data_address["endpointProperties"]}


@pytest.fixture
def payload_file(tmp_path: Path) -> Path:
    """About 3 MiB of JSON lines, so that a pull spans several data plane chunks."""
    path = tmp_path / "source" / "cohort.jsonl"
    path.parent.mkdir()
    with path.open("w") as out:
        for i in range(30_000):
            out.write(json.dumps({"learner": f"l{i % 97}", "score": i % 20, "pad": "x" * 60}) + "\n")
    return path


@pytest.fixture
def exchange(start_node: Callable[..., RunningNode]) -> Exchange:
    return Exchange.pair(start_node)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_a_pulled_file_arrives_whole_verified_and_both_sides_complete(exchange: Exchange, payload_file: Path) -> None:
    exchange.publish({"kind": "file", "path": str(payload_file)}, contains_pii=False, policy=TWICE)
    agreement_id = exchange.agree()
    started = exchange.transfer(agreement_id)
    assert started["state"] in ("REQUESTED", "STARTED", "COMPLETED") and started["role"] == "consumer"

    consumer = exchange.finish(started["id"])
    assert consumer["state"] == "COMPLETED", consumer
    expected = payload_file.read_bytes()
    assert exchange.data(started["id"]) == expected
    assert consumer["payload_sha256"] == _sha256(expected) and consumer["payload_size"] == len(expected) == consumer["received_bytes"]
    assert [event["kind"] for event in consumer["events"]] == ["TransferRequestMessage", "TransferStartMessage", "TransferCompletionMessage"]

    provider = exchange.wait(exchange.provider_side(consumer)["id"], "COMPLETED", side="provider")
    assert provider["payload_sha256"] == consumer["payload_sha256"] and provider["agreement_id"] == agreement_id
    assert [event["kind"] for event in provider["events"]] == ["TransferRequestMessage", "TransferStartMessage", "TransferCompletionMessage"]
    assert provider["data_address"] is None  # the token is the consumer's, never shown on the provider's side

    # The transfer is over: its token opens nothing any more.
    endpoint, properties = address(consumer)
    response = httpx.get(endpoint, headers={"Authorization": f"Bearer {properties['authorization']}"})
    assert response.status_code == 401 and response.json()["reason"] == "token_revoked"
    assert payload_file.exists()  # a source file served as is is never removed by a transfer


def test_the_data_plane_resumes_with_range_and_states_the_digest(exchange: Exchange, payload_file: Path) -> None:
    exchange.publish({"kind": "file", "path": str(payload_file), "format": "jsonl"}, contains_pii=False, policy=TWICE)
    started = exchange.transfer(exchange.agree(), auto_download=False)
    view = exchange.wait(started["id"], "STARTED")
    endpoint, properties = address(view)
    expected = payload_file.read_bytes()
    assert properties["sha256"] == _sha256(expected) and properties["size"] == str(len(expected)) and properties["authType"] == "bearer"
    bearer = {"Authorization": f"Bearer {properties['authorization']}"}

    whole = httpx.get(endpoint, headers=bearer)
    assert whole.status_code == 200 and whole.content == expected
    assert whole.headers["accept-ranges"] == "bytes" and whole.headers["etag"] == f'"{_sha256(expected)}"'
    assert whole.headers["repr-digest"].startswith("sha-256=:") and whole.headers["content-type"].startswith("application/x-ndjson")

    rest = httpx.get(endpoint, headers={**bearer, "Range": "bytes=1000000-"})
    assert rest.status_code == 206 and rest.content == expected[1_000_000:]
    assert rest.headers["content-range"] == f"bytes 1000000-{len(expected) - 1}/{len(expected)}"
    assert rest.headers["repr-digest"] == whole.headers["repr-digest"]  # the digest of the whole payload, on every part
    middle = httpx.get(endpoint, headers={**bearer, "Range": "bytes=10-19"})
    assert middle.status_code == 206 and middle.content == expected[10:20]
    head = httpx.head(endpoint, headers=bearer)
    assert head.status_code == 200 and head.headers["content-length"] == str(len(expected)) and head.content == b""

    beyond = httpx.get(endpoint, headers={**bearer, "Range": f"bytes={len(expected)}-"})
    assert beyond.status_code == 416 and beyond.headers["content-range"] == f"bytes */{len(expected)}"
    assert httpx.get(endpoint).status_code == 401
    wrong = httpx.get(endpoint, headers={"Authorization": "Bearer not-the-token"})
    assert wrong.status_code == 401 and wrong.json()["reason"] == "unknown_token"
    other = endpoint.rsplit("/", 1)[0] + "/00000000-0000-0000-0000-000000000000"
    assert httpx.get(other, headers=bearer).status_code == 401  # a token opens its own transfer only


def test_the_policy_is_evaluated_again_at_every_transfer(exchange: Exchange, payload_file: Path) -> None:
    exchange.publish({"kind": "file", "path": str(payload_file)}, contains_pii=False, policy=TWICE)
    agreement_id = exchange.agree()
    for _ in range(2):
        assert exchange.finish(exchange.transfer(agreement_id)["id"])["state"] == "COMPLETED"
    third = exchange.finish(exchange.transfer(agreement_id)["id"])
    assert third["state"] == "TERMINATED" and third["termination_code"] == "policy-denied"
    assert "count" in third["termination_reason"], third["termination_reason"]
    assert third["received_bytes"] == 0


def test_suspension_revokes_the_token_and_resumption_issues_a_new_one(exchange: Exchange, payload_file: Path) -> None:
    exchange.publish({"kind": "file", "path": str(payload_file)}, contains_pii=False, policy=TWICE)
    started = exchange.transfer(exchange.agree(), auto_download=False)
    endpoint, first = address(exchange.wait(started["id"], "STARTED"))

    suspended = exchange.action("consumer", started["id"], "suspend", reason="maintenance window")
    assert suspended.status_code == 200 and suspended.json()["state"] == "SUSPENDED", suspended.text
    provider = exchange.wait(exchange.provider_side(started)["id"], "SUSPENDED", side="provider")
    assert provider["termination_reason"] == "maintenance window"
    refused = httpx.get(endpoint, headers={"Authorization": f"Bearer {first['authorization']}"})
    assert refused.status_code == 401 and refused.json()["reason"] == "token_revoked"
    assert exchange.action("consumer", started["id"], "suspend").status_code == 409  # not STARTED any more

    assert exchange.action("consumer", started["id"], "resume").status_code == 200
    resumed = wait_for(lambda: exchange.show(started["id"]), lambda v: v["state"] == "STARTED" and v["data_address"] is not None)
    endpoint, second = address(resumed)
    assert second["authorization"] != first["authorization"]
    assert httpx.get(endpoint, headers={"Authorization": f"Bearer {second['authorization']}"}).content == payload_file.read_bytes()
    assert exchange.show(provider["id"], "provider")["state"] == "STARTED"


def test_the_provider_terminates_and_the_consumer_learns_why(exchange: Exchange, payload_file: Path) -> None:
    exchange.publish({"kind": "file", "path": str(payload_file)}, contains_pii=False, policy=TWICE)
    started = exchange.transfer(exchange.agree(), auto_download=False)
    exchange.wait(started["id"], "STARTED")
    provider = exchange.provider_side(started)
    ended = exchange.action("provider", provider["id"], "terminate", reason="the source is being corrected")
    assert ended.status_code == 200 and ended.json()["state"] == "TERMINATED"
    consumer = exchange.wait(started["id"], "TERMINATED")
    assert consumer["termination_reason"] == "the source is being corrected" and consumer["termination_code"] == "terminated"
    assert exchange.action("consumer", started["id"], "terminate").status_code == 409


def test_a_changed_source_file_is_refused_rather_than_served_mixed(exchange: Exchange, payload_file: Path) -> None:
    exchange.publish({"kind": "file", "path": str(payload_file)}, contains_pii=False, policy=TWICE)
    started = exchange.transfer(exchange.agree(), auto_download=False)
    endpoint, properties = address(exchange.wait(started["id"], "STARTED"))
    with payload_file.open("a") as out:
        out.write('{"learner": "late"}\n')
    os.utime(payload_file, ns=(time.time_ns(), time.time_ns()))
    response = httpx.get(endpoint, headers={"Authorization": f"Bearer {properties['authorization']}", "Range": "bytes=100-"})
    assert response.status_code == 409 and response.json()["reason"] == "payload_changed"


def test_dsp_errors_have_the_transfer_error_shape(exchange: Exchange, payload_file: Path) -> None:
    exchange.publish({"kind": "file", "path": str(payload_file)}, contains_pii=False, policy=TWICE)
    agreement_id = exchange.agree()
    callback = f"{exchange.consumer.url}/participants/{exchange.consumer_slug}/dsp"
    request = {"@context": [DSP_CONTEXT], "@type": "TransferRequestMessage", "consumerPid": "urn:uuid:c-1", "agreementId": agreement_id, "format": "HttpData-PULL", "callbackAddress": callback}
    with exchange.as_consumer() as client:
        unknown = client.post("/transfers/request", json={**request, "agreementId": "urn:uuid:no-such-agreement"})
        assert unknown.status_code == 404 and assert_dsp(unknown.json())["code"] == "unknown-agreement"
        elsewhere = client.post("/transfers/request", json={**request, "callbackAddress": "http://127.0.0.1:1/participants/x/dsp"})
        assert elsewhere.status_code == 400 and assert_dsp(elsewhere.json())["code"] == "invalid-callback"
        malformed = client.post("/transfers/request", json={**request, "format": 7})
        assert malformed.status_code == 400 and assert_dsp(malformed.json())["code"] == "invalid-message"
        opened = client.post("/transfers/request", json=request)
        assert opened.status_code == 201 and assert_dsp(opened.json())["state"] == "REQUESTED"
        again = client.post("/transfers/request", json=request)  # the same request finds the same process
        assert again.json()["providerPid"] == opened.json()["providerPid"]
        provider_pid = opened.json()["providerPid"]
        state = client.get(f"/transfers/{provider_pid}")
        assert state.status_code == 200 and assert_dsp(state.json())["@type"] == "TransferProcess"
        pids = {"providerPid": provider_pid, "consumerPid": "urn:uuid:c-1"}
        illegal = client.post(f"/transfers/{provider_pid}/start", json={"@context": [DSP_CONTEXT], "@type": "TransferStartMessage", **pids})
        assert illegal.status_code == 400 and assert_dsp(illegal.json())["code"] == "illegal-transition"
        assert client.get("/transfers/urn:uuid:nothing").status_code == 404
