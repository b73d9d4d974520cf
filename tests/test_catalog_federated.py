"""The federated catalog, across three nodes: the operator onboards two members through the
registry, crawls their DSP catalogs with calls signed by its governance authority, and serves
one search over both; a re-crawl replaces a member's entries, a revoked member's entries go,
an unreachable member keeps its previous entries and its error is recorded, and the crawler
runs by itself in the background until stopped."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from dases.catalog import federation
from dases.catalog.index import SearchQuery
from dases.catalog.models import DataCategory, FederatedOffering
from dases.errors import ConfigurationError, Conflict
from dases.identity.client import signed_client
from dases.identity.did import InvalidDid

from .conftest import ADMIN_TOKEN, RunningNode
from .test_catalog_offerings import offering

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
APPLICATION = {"legal_name": "Member", "registration_number": "123 456 789", "country": "FR", "roles": ["data_provider"]}


class Space:
    def __init__(self, start_node: Callable[..., RunningNode]) -> None:
        self.operator = start_node(governance_authority="operator")
        self.operator.add_participant("operator", "Data space operator")
        self.node_a = start_node()
        self.node_a.add_participant("edtech-a", "EdTech A")
        self.node_b = start_node()
        self.node_b.add_participant("school-b", "School B")
        self.member_ids = {"edtech-a": self.onboard(self.node_a, "edtech-a"), "school-b": self.onboard(self.node_b, "school-b")}

    def onboard(self, node: RunningNode, slug: str) -> str:
        with signed_client(node.signer(slug), self.operator.did("operator"), base_url=self.operator.url, timeout=10) as client:
            applied = client.post("/registry/applications", json={**APPLICATION, "legal_name": slug.title()})
        assert applied.status_code == 201, applied.text
        with self.operator.client(headers=ADMIN) as admin:
            assert admin.post(f"/registry/members/{applied.json()['id']}/approve").status_code == 200
        return applied.json()["id"]

    def publish(self, node: RunningNode, slug: str, **overrides: Any) -> dict[str, Any]:
        with node.client(headers=ADMIN) as admin:
            response = admin.post(f"/participants/{slug}/offerings", json=offering(**overrides))
        assert response.status_code == 201, response.text
        return response.json()

    def crawl(self) -> dict[str, federation.SourceReport]:
        return {report.member_did: report for report in federation.crawl(self.operator.node)}

    def search(self, **params: Any) -> dict[str, Any]:
        with self.operator.client() as client:
            response = client.get("/catalog/federated/search", params=params)
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture
def space(start_node: Callable[..., RunningNode]) -> Space:
    return Space(start_node)


def test_one_search_over_every_members_catalog(space: Space) -> None:
    traces = space.publish(space.node_a, "edtech-a", title="MOOC learning traces", keywords=["xAPI"])
    space.publish(space.node_a, "edtech-a", kind="software_service", title="Adaptive learning engine", data_categories=[], service_categories=["adaptive_learning"], contains_pii=False)
    space.publish(space.node_b, "school-b", title="Student skills profiles", data_categories=["skills_profile", "soft_skills"])
    space.publish(space.node_b, "school-b", title="Job offers", data_categories=["job_offers"], contains_pii=False)
    did_a, did_b = space.node_a.did("edtech-a"), space.node_b.did("school-b")

    reports = space.crawl()
    assert set(reports) == {did_a, did_b}
    assert all(r.ok and r.skipped == 0 for r in reports.values()) and reports[did_a].datasets == 2 and reports[did_b].datasets == 2
    assert reports[did_a].connector_url == f"{space.node_a.url}/participants/edtech-a/dsp"

    everything = space.search()
    assert everything["total"] == 4 and everything["facets_exact"]
    assert everything["facets"]["provider"] == {did_a: 2, did_b: 2}
    assert everything["facets"]["kind"] == {"dataset": 3, "software_service": 1}
    assert everything["facets"]["contains_pii"] == {"false": 2, "true": 2}
    found = space.search(q="learning")
    assert {hit["title"] for hit in found["items"]} == {"MOOC learning traces", "Adaptive learning engine"}
    hit = space.search(q="traces")["items"][0]
    assert hit["id"] == traces["id"] and hit["provider"] == did_a and hit["keywords"] == ["xAPI"]
    assert hit["connector_url"] == f"{space.node_a.url}/participants/edtech-a/dsp"
    assert hit["dataset"]["hasPolicy"] == [traces["policy"]], "the offer to negotiate travels with the hit"
    assert [h["title"] for h in space.search(provider=did_b, contains_pii="false")["items"]] == ["Job offers"]
    assert space.search(data_category="soft_skills")["items"][0]["title"] == "Student skills profiles"
    assert space.search(keyword="mooc")["total"] == 3, "every offering but the traces keeps the default keywords"

    with space.operator.client() as client:
        sources = {s["member_did"]: s for s in client.get("/catalog/federated/sources").json()}
    assert sources[did_a]["dataset_count"] == 2 and sources[did_a]["last_error"] is None and sources[did_a]["last_success_at"]


def test_a_new_crawl_replaces_a_members_entries(space: Space) -> None:
    first = space.publish(space.node_a, "edtech-a", title="First traces")
    space.publish(space.node_b, "school-b", title="School data")
    space.crawl()
    with space.node_a.client(headers=ADMIN) as admin:
        assert admin.delete(f"/participants/edtech-a/offerings/{first['id']}").status_code == 200
    space.publish(space.node_a, "edtech-a", title="Second traces", data_categories=["soft_skills"])
    space.crawl()
    assert {h["title"] for h in space.search()["items"]} == {"Second traces", "School data"}
    assert space.search(q="first")["total"] == 0
    assert space.search()["facets"]["data_category"] == {"learning_traces": 1, "soft_skills": 1}


def test_revoked_members_leave_and_unreachable_members_stay(space: Space) -> None:
    space.publish(space.node_a, "edtech-a", title="A data")
    space.publish(space.node_b, "school-b", title="B data")
    space.crawl()
    assert space.search()["total"] == 2

    space.node_b.stop()
    reports = space.crawl()
    did_b = space.node_b.did("school-b")
    assert not reports[did_b].ok and reports[did_b].error
    assert {h["title"] for h in space.search()["items"]} == {"A data", "B data"}, "a failed crawl keeps the last entries"
    with space.operator.client() as client:
        source = {s["member_did"]: s for s in client.get("/catalog/federated/sources").json()}[did_b]
    assert source["last_error"] and source["last_attempt_at"] > source["last_success_at"]

    with space.operator.client(headers=ADMIN) as admin:
        assert admin.post(f"/registry/members/{space.member_ids['edtech-a']}/revoke").status_code == 200
    reports = space.crawl()
    assert set(reports) == {did_b}
    assert [h["title"] for h in space.search()["items"]] == ["B data"]
    with space.operator.client() as client:
        assert [s["member_did"] for s in client.get("/catalog/federated/sources").json()] == [did_b]


def test_crawling_now_over_http_needs_the_admin(space: Space) -> None:
    space.publish(space.node_a, "edtech-a")
    with space.operator.client() as client:
        assert client.post("/catalog/federated/crawl").status_code == 401
    with space.operator.client(headers=ADMIN) as admin:
        response = admin.post("/catalog/federated/crawl")
    assert response.status_code == 200
    assert {r["member_did"]: r["datasets"] for r in response.json()} == {space.node_a.did("edtech-a"): 1, space.node_b.did("school-b"): 0}
    with space.node_a.client(headers=ADMIN) as admin:
        refused = admin.post("/catalog/federated/crawl")
    assert refused.status_code == 409, "only the operator's node crawls"
    with pytest.raises(Conflict):
        federation.crawl(space.node_a.node)


def test_the_background_crawler_keeps_the_catalog_fresh(space: Space) -> None:
    stop = federation.start_crawler(space.operator.node, interval_seconds=0.2)
    try:
        space.publish(space.node_a, "edtech-a", title="Fresh data")
        deadline = time.monotonic() + 15
        while space.search()["total"] == 0 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert space.search()["items"][0]["title"] == "Fresh data"
    finally:
        stop()
    with pytest.raises(ConfigurationError):
        federation.start_crawler(space.node_a.node, interval_seconds=1)


def test_connectors_derive_from_member_dids() -> None:
    allow = ["127.0.0.1"]
    assert federation.connector_url_for("did:web:127.0.0.1%3A8001:participants:edtech-a", allow) == "http://127.0.0.1:8001/participants/edtech-a/dsp"
    assert federation.connector_url_for("did:web:node.example.org:participants:school-b", allow) == "https://node.example.org/participants/school-b/dsp"
    for bad in ("did:web:node.example.org", "did:key:z6Mk", "did:web:evil.example:..:x"):
        with pytest.raises(InvalidDid):
            federation.connector_url_for(bad, allow)


def test_what_a_member_publishes_is_read_defensively() -> None:
    now = datetime.now(UTC)
    member = "did:web:member.example:participants:m"
    offer = [{"@id": "urn:uuid:o", "@type": "Offer", "permission": [{"action": "use"}]}]

    def read(dataset: Any) -> FederatedOffering | None:
        return federation.read_dataset(dataset, member, "https://member.example/participants/m/dsp", now)

    assert read("not an object") is None
    assert read({"@id": "urn:uuid:d"}) is None, "no offer: nothing to negotiate"
    assert read({"@id": "urn:uuid:d", "hasPolicy": offer, "dct:title": "a\x00b"}) is None, "unstorable"
    assert read({"@id": "urn:uuid:d", "hasPolicy": offer, "dct:description": "x" * 70_000}) is None, "too large"
    minimal = read({"@id": "urn:uuid:d", "hasPolicy": offer})
    assert minimal is not None and minimal.title == "urn:uuid:d" and minimal.kind == "dataset" and minimal.contains_pii is True
    full = read({
        "@id": "urn:uuid:e", "hasPolicy": offer,
        "http://purl.org/dc/terms/title": [{"@value": "Traces", "@language": "en"}],
        "dcat:keyword": ["xAPI", 3, "MOOC"], "dcat:theme": [{"@id": "urn:dases:data-category:learning_traces"}, {"@id": "urn:dases:data-category:gossip"}, "urn:dases:service-category:learning_analytics"],
        "dct:type": {"@id": "urn:dases:offering-kind:data_service"}, "urn:dases:vocab:containsPII": False,
        "dct:modified": {"@value": "2026-01-02T03:04:05Z", "@type": "xsd:dateTime"},
    })
    assert full is not None
    assert (full.title, full.keywords, full.kind, full.contains_pii) == ("Traces", ["xAPI", "MOOC"], "data_service", False)
    assert (full.data_categories, full.service_categories) == ([DataCategory.LEARNING_TRACES.value], ["learning_analytics"])
    assert full.modified_at == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_federated_search_service_matches_http(space: Space) -> None:
    space.publish(space.node_b, "school-b", title="Skills", data_categories=["skills_profile"])
    space.crawl()
    with space.operator.node.db.transaction() as session:
        page = federation.search(session, SearchQuery(data_category=DataCategory.SKILLS_PROFILE))
        assert [entry.title for entry in page.entries] == ["Skills"]
