"""The Dataspace Protocol catalog of a hosted participant, called by another node with signed
calls: every Catalog, Dataset and CatalogError body validates against the DSP 2025-1 schemas;
pages are linked with `Link` headers; filters narrow the catalog; unauthenticated calls, calls
addressed to another participant, unknown datasets and malformed messages get the right status
and a CatalogError."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from dases.catalog.dsp import DSP_CONTEXT, service_id
from dases.identity.client import signed_client

from .conftest import ADMIN_TOKEN, RunningNode
from .test_catalog_dsp_schemas import assert_dsp
from .test_catalog_offerings import offering

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
REQUEST = {"@context": [DSP_CONTEXT], "@type": "CatalogRequestMessage"}


class Nodes:
    """A provider node hosting edtech-a (and a second participant), and a consumer node hosting school-b."""

    def __init__(self, start_node: Callable[..., RunningNode]) -> None:
        self.provider = start_node()
        self.provider.add_participant("edtech-a", "EdTech A")
        self.provider.add_participant("other-a")
        self.consumer = start_node()
        self.consumer.add_participant("school-b", "School B")
        self.connector = f"{self.provider.url}/participants/edtech-a/dsp"

    def publish(self, **overrides: Any) -> dict[str, Any]:
        with self.provider.client(headers=ADMIN) as admin:
            response = admin.post("/participants/edtech-a/offerings", json=offering(**overrides))
        assert response.status_code == 201, response.text
        return response.json()

    def as_consumer(self, audience: str = "edtech-a") -> httpx.Client:
        return signed_client(self.consumer.signer("school-b"), self.provider.did(audience), base_url=self.provider.url, timeout=10)


@pytest.fixture
def nodes(start_node: Callable[..., RunningNode]) -> Nodes:
    return Nodes(start_node)


def test_the_catalog_is_a_valid_dsp_catalog_of_the_participant(nodes: Nodes) -> None:
    dataset = nodes.publish(keywords=["xAPI"], license="https://creativecommons.org/licenses/by/4.0/", landing_page="https://edtech-a.example/data")
    api = nodes.publish(
        kind="data_service", title="Skills matching API", data_categories=["skills_profile"], service_categories=["skills_matching"],
        contains_pii=False, endpoint_url="https://api.edtech-a.example/", distributions=[{"format": "HttpData-PULL"}, {"format": "HttpData-PUSH"}],
        policy={"permission": [{"action": "use", "duty": [{"action": "attribute"}]}], "prohibition": [{"action": "distribute"}]},
    )
    software = nodes.publish(kind="software_service", title="Early warning", service_categories=["dropout_detection"], data_categories=[])
    with nodes.as_consumer() as client:
        response = client.post("/participants/edtech-a/dsp/catalog/request", json=REQUEST)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    catalog = response.json()
    assert_dsp("Catalog", catalog)
    assert catalog["@context"] == [DSP_CONTEXT]
    assert catalog["participantId"] == nodes.provider.did("edtech-a")
    assert catalog["service"] == [{"@id": service_id(nodes.connector), "@type": "DataService", "endpointURL": nodes.connector}]
    datasets = {d["@id"]: d for d in catalog["dataset"]}
    assert list(datasets) == [dataset["id"], api["id"], software["id"]]
    first = datasets[dataset["id"]]
    assert first["hasPolicy"] == [dataset["policy"]] and "target" not in first["hasPolicy"][0]
    assert first["distribution"] == [{"@type": "Distribution", "format": "HttpData-PULL", "accessService": service_id(nodes.connector), "dcat:mediaType": {"@id": "https://www.iana.org/assignments/media-types/application/json"}}]
    assert first["dct:title"] == dataset["title"] and first["dcat:keyword"] == ["xAPI"]
    assert first["dcat:theme"] == [{"@id": "urn:dases:data-category:learning_traces"}]
    assert first["urn:dases:vocab:containsPII"] is True
    assert [d["format"] for d in datasets[api["id"]]["distribution"]] == ["HttpData-PULL", "HttpData-PUSH"]
    assert datasets[software["id"]]["dct:type"] == {"@id": "urn:dases:offering-kind:software_service"}


def test_an_empty_catalog_is_valid_too(nodes: Nodes) -> None:
    with nodes.as_consumer() as client:
        catalog = client.post("/participants/edtech-a/dsp/catalog/request", json={**REQUEST, "filter": []}).json()
    assert_dsp("Catalog", catalog)
    assert "dataset" not in catalog


def test_pages_are_linked_and_together_are_the_catalog(nodes: Nodes) -> None:
    published = [nodes.publish(title=f"Dataset {i}")["id"] for i in range(5)]
    seen: list[str] = []
    url: str | None = f"{nodes.connector}/catalog/request?limit=2"
    links = []
    with nodes.as_consumer() as client:
        while url:
            response = client.post(url, json=REQUEST)
            assert response.status_code == 200
            assert_dsp("Catalog", response.json())
            seen += [d["@id"] for d in response.json()["dataset"]]
            links.append(set(response.links))
            url = response.links.get("next", {}).get("url")
    assert seen == published
    assert links == [{"next"}, {"previous", "next"}, {"previous"}]


def test_filters_narrow_the_catalog(nodes: Nodes) -> None:
    traces = nodes.publish(title="Learning traces", keywords=["xAPI"])
    nodes.publish(title="Job offers", data_categories=["job_offers"], contains_pii=False, keywords=["jobs"])
    with nodes.provider.client(headers=ADMIN) as admin:
        assert admin.post("/participants/other-a/offerings", json=offering(title="Learning traces of another participant")).status_code == 201
    cases = [
        ([{"q": "learning traces"}], [traces["id"]]),
        ([{"data_category": "learning_traces"}, {"contains_pii": True}], [traces["id"]]),
        ([{"keyword": "XAPI"}], [traces["id"]]),
        ([{"kind": "data_service"}], []),
    ]
    with nodes.as_consumer() as client:
        for filters, expected in cases:
            response = client.post("/participants/edtech-a/dsp/catalog/request", json={**REQUEST, "filter": filters})
            assert response.status_code == 200, response.text
            assert_dsp("Catalog", response.json())
            assert [d["@id"] for d in response.json().get("dataset", [])] == expected, filters


def test_a_dataset_is_served_alone_with_its_service_embedded(nodes: Nodes) -> None:
    published = nodes.publish()
    with nodes.as_consumer() as client:
        response = client.get(f"/participants/edtech-a/dsp/catalog/datasets/{published['id']}")
    assert response.status_code == 200, response.text
    dataset = response.json()
    assert_dsp("Dataset", dataset)
    assert dataset["@context"] == [DSP_CONTEXT] and dataset["@id"] == published["id"]
    assert dataset["distribution"][0]["accessService"] == {"@id": service_id(nodes.connector), "@type": "DataService", "endpointURL": nodes.connector}


def assert_catalog_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert_dsp("CatalogError", body)
    assert body["code"] == code and body["reason"]
    return body


def test_unknown_and_retired_datasets_are_not_found(nodes: Nodes) -> None:
    published = nodes.publish()
    with nodes.provider.client(headers=ADMIN) as admin:
        assert admin.delete(f"/participants/edtech-a/offerings/{published['id']}").status_code == 200
    with nodes.as_consumer() as client:
        assert_catalog_error(client.get(f"/participants/edtech-a/dsp/catalog/datasets/{published['id']}"), 404, "not-found")
        assert_catalog_error(client.get("/participants/edtech-a/dsp/catalog/datasets/urn:uuid:nope"), 404, "not-found")
        catalog = client.post("/participants/edtech-a/dsp/catalog/request", json=REQUEST).json()
    assert "dataset" not in catalog


def test_calls_must_be_signed_and_addressed_to_the_participant(nodes: Nodes) -> None:
    published = nodes.publish()
    with nodes.consumer.client() as anonymous:
        response = anonymous.post(f"{nodes.connector}/catalog/request", json=REQUEST)
        assert_catalog_error(response, 401, "unauthorized:missing_credentials")
        assert response.headers["www-authenticate"].startswith("DASES-Token")
        assert_catalog_error(anonymous.get(f"{nodes.connector}/catalog/datasets/{published['id']}"), 401, "unauthorized:missing_credentials")
    with nodes.as_consumer(audience="other-a") as misaddressed:
        assert_catalog_error(misaddressed.post("/participants/edtech-a/dsp/catalog/request", json=REQUEST), 403, "forbidden")
        assert_catalog_error(misaddressed.get(f"/participants/edtech-a/dsp/catalog/datasets/{published['id']}"), 403, "forbidden")
    with nodes.as_consumer() as client:
        assert_catalog_error(client.post("/participants/nobody/dsp/catalog/request", json=REQUEST), 404, "not-found")


@pytest.mark.parametrize(
    ("message", "field"),
    [
        ({"@type": "CatalogRequestMessage"}, "@context"),
        ({"@context": ["https://example.org/ctx"], "@type": "CatalogRequestMessage"}, "@context"),
        ({**REQUEST, "@type": "DatasetRequestMessage"}, "@type"),
        ({**REQUEST, "filter": {"q": "x"}}, "filter"),
        ({**REQUEST, "filter": ["SELECT *"]}, "filter.0"),
        ({**REQUEST, "filter": [{"sql": "1=1"}]}, "filter.0.sql"),
        ({**REQUEST, "filter": [{"data_category": "gossip"}]}, "filter.0.data_category"),
        ({**REQUEST, "filter": [{"kind": "dataset"}, {"kind": "data_service"}]}, "filter.1.kind"),
        ({**REQUEST, "filter": [{"contains_pii": "yes"}]}, "filter.0.contains_pii"),
    ],
)
def test_malformed_requests_and_unsupported_filters_are_bad_requests(nodes: Nodes, message: dict[str, Any], field: str) -> None:
    with nodes.as_consumer() as client:
        body = assert_catalog_error(client.post("/participants/edtech-a/dsp/catalog/request", json=message), 400, "bad-request")
    assert any(reason.startswith(f"{field}:") for reason in body["reason"][1:]), body


def test_a_body_that_is_not_an_object_is_a_bad_request(nodes: Nodes) -> None:
    with nodes.as_consumer() as client:
        assert_catalog_error(client.post("/participants/edtech-a/dsp/catalog/request", json=["CatalogRequestMessage"]), 400, "bad-request")
        assert_catalog_error(client.post("/participants/edtech-a/dsp/catalog/request", content=b"{not json", headers={"content-type": "application/json"}), 400, "bad-request")
        assert_catalog_error(client.post("/participants/edtech-a/dsp/catalog/request?limit=0", json=REQUEST), 400, "bad-request")


def test_a_published_offer_can_be_negotiated_by_its_id(nodes: Nodes) -> None:
    """The catalog as contract negotiation uses it: the consumer's node reads the offer from the
    provider's DSP catalog, the provider's node finds it published and agrees; once retired,
    the offer can no longer be asked for."""
    published = nodes.publish(policy={"permission": [{"action": "use"}]})
    start = {"provider_url": nodes.connector, "offer_id": published["offer_id"]}
    with nodes.consumer.client(headers=ADMIN) as admin:
        started = admin.post("/participants/school-b/negotiations", json=start)
        assert started.status_code == 201, started.text
        assert started.json()["offer"] == {**published["policy"], "target": published["id"]}
        deadline = time.monotonic() + 15
        while (view := admin.get(f"/participants/school-b/negotiations/{started.json()['id']}").json())["state"] != "FINALIZED":
            assert time.monotonic() < deadline, view
            time.sleep(0.05)
    assert view["agreement"]["target"] == published["id"]
    with nodes.provider.client(headers=ADMIN) as admin:
        assert admin.delete(f"/participants/edtech-a/offerings/{published['id']}").status_code == 200
    with nodes.consumer.client(headers=ADMIN) as admin:
        assert admin.post("/participants/school-b/negotiations", json=start).status_code == 404
