"""Publishing offerings: an admin publishes datasets, data services and software services of a
hosted participant under an ODRL offer; the node gives ids, refuses malformed offers with a 422
naming each broken rule, lists, shows and retires them; the migration creates the catalog's
storage, full-text index included, on the backend under test."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from fastapi.testclient import TestClient
from sqlalchemy import inspect, text

from dases.app import create_app
from dases.catalog import service
from dases.catalog.offer_policy import validate_offer_policy
from dases.db import Database, alembic_config
from dases.errors import InvalidInput
from dases.settings import Settings

from .conftest import ADMIN_TOKEN, backend_name

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
USE_FOR_RESEARCH = {"permission": [{"action": "use", "constraint": [{"leftOperand": "purpose", "operator": "eq", "rightOperand": "research"}]}]}


def offering(**overrides: Any) -> dict[str, Any]:
    """A valid offering description; keyword arguments replace its fields."""
    body: dict[str, Any] = {
        "kind": "dataset",
        "title": "MOOC learning traces 2025",
        "description": "xAPI statements of learners enrolled in our MOOCs, pseudonymised.",
        "keywords": ["xAPI", "MOOC"],
        "data_categories": ["learning_traces"],
        "contains_pii": True,
        "policy": copy.deepcopy(USE_FOR_RESEARCH),
        "distributions": [{"format": "HttpData-PULL", "media_type": "application/json"}],
    }
    body.update(overrides)
    return body


@pytest.fixture
def client(tmp_path: Path, database_url: str) -> Iterator[TestClient]:
    settings = Settings(data_dir=tmp_path / "node", database_url=database_url, node_secret="catalog-test-secret-0123456789", admin_token=ADMIN_TOKEN)
    with TestClient(create_app(settings)) as test_client:
        for slug in ("edtech-a", "school-b"):
            assert test_client.post("/participants", json={"slug": slug, "name": slug.title()}, headers=ADMIN).status_code == 201
        yield test_client


def publish(client: TestClient, slug: str = "edtech-a", **overrides: Any) -> dict[str, Any]:
    response = client.post(f"/participants/{slug}/offerings", json=offering(**overrides), headers=ADMIN)
    assert response.status_code == 201, response.text
    return response.json()


def test_publishing_gives_the_offering_and_its_offer_their_ids(client: TestClient) -> None:
    published = publish(client)
    assert published["id"].startswith("urn:uuid:") and published["offer_id"].startswith("urn:uuid:")
    assert published["policy"] == {"@id": published["offer_id"], "@type": "Offer", **USE_FOR_RESEARCH}
    assert published["provider"] == client.get("/participants/edtech-a").json()["did"]
    assert published["participant"] == "edtech-a" and published["status"] == "active" and published["retired_at"] is None
    assert published["distributions"] == [{"format": "HttpData-PULL", "media_type": "application/json", "title": None, "description": None}]
    assert client.get(f"/participants/edtech-a/offerings/{published['id']}").json() == published


def test_services_and_defaults(client: TestClient) -> None:
    body = offering(kind="data_service", title="Skills matching API", data_categories=["skills_profile", "job_offers"],
                    service_categories=["skills_matching"], contains_pii=False, endpoint_url="https://api.edtech-a.example/match")
    del body["distributions"]
    response = client.post("/participants/edtech-a/offerings", json=body, headers=ADMIN)
    assert response.status_code == 201, response.text
    service_offering = response.json()
    assert service_offering["kind"] == "data_service"
    assert service_offering["endpoint_url"] == "https://api.edtech-a.example/match"
    assert service_offering["distributions"] == [{"format": "HttpData-PULL", "media_type": None, "title": None, "description": None}]
    software = publish(client, kind="software_service", title="Dropout early warning", service_categories=["dropout_detection"], data_categories=[])
    assert software["kind"] == "software_service" and software["data_categories"] == []


def test_keywords_and_categories_lose_their_repeats(client: TestClient) -> None:
    published = publish(client, keywords=["xAPI", "xapi", "  MOOC   courses ", "mooc courses"], data_categories=["learning_traces", "learning_traces"])
    assert published["keywords"] == ["xAPI", "MOOC courses"]
    assert published["data_categories"] == ["learning_traces"]


def test_publishing_needs_the_admin_token(client: TestClient) -> None:
    assert client.post("/participants/edtech-a/offerings", json=offering()).status_code == 401
    assert client.post("/participants/edtech-a/offerings", json=offering(), headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/participants/edtech-a/offerings").json()["total"] == 0


def test_publishing_for_an_unknown_participant_is_not_found(client: TestClient) -> None:
    response = client.post("/participants/nobody/offerings", json=offering(), headers=ADMIN)
    assert response.status_code == 404 and response.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize(
    ("policy", "field", "rule"),
    [
        ({"permission": [{"constraint": []}]}, "policy.permission.0.action", "required"),
        ({"permission": [{"action": "use", "constraint": [{"leftOperand": "purpose", "operator": "roughly", "rightOperand": "x"}]}]}, "policy.permission.0.constraint.0.operator", "enum"),
        ({"permission": [{"action": "use", "constraint": [{"operator": "eq", "rightOperand": "x"}]}]}, "policy.permission.0.constraint.0.leftOperand", "required"),
        ({"permission": [{"action": "use", "constraint": [{"leftOperand": "a", "operator": "eq"}]}]}, "policy.permission.0.constraint.0.rightOperand", "required"),
        ({"@id": "urn:uuid:mine", **USE_FOR_RESEARCH}, "policy.@id", "assigned_by_node"),
        ({"target": "urn:uuid:x", **USE_FOR_RESEARCH}, "policy.target", "not_allowed"),
        ({"obligation": [{"action": "compensate"}]}, "policy", "required"),
        ({"permission": []}, "policy.permission", "type"),
        ({"permission": {"action": "use"}}, "policy.permission", "type"),
        ({"@type": "Agreement", **USE_FOR_RESEARCH}, "policy.@type", "const"),
        ({"permissions": [{"action": "use"}]}, "policy.permissions", "unknown_property"),
        ({"permission": [{"action": "use", "constraint": [{"and": [], "or": []}]}]}, "policy.permission.0.constraint.0", "one_operator"),
        ({"permission": [{"action": "use", "constraint": [{"or": [{"leftOperand": "a", "operator": "eq", "rightOperand": "\x00"}]}]}]}, "policy.permission.0.constraint.0.or.0.rightOperand", "nul_character"),
        ({"permission": [{"action": "use", "duty": [{"action": "attribute", "remedy": [{"action": "x"}]}]}]}, "policy.permission.0.duty.0.remedy", "unknown_property"),
        ({"permission": [{"action": "   "}]}, "policy.permission.0.action", "type"),
    ],
)
def test_a_malformed_offer_is_refused_naming_the_field_and_the_rule(client: TestClient, policy: dict[str, Any], field: str, rule: str) -> None:
    response = client.post("/participants/edtech-a/offerings", json=offering(policy=policy), headers=ADMIN)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert {"field": field, "rule": rule} in [{"field": e["field"], "rule": e["rule"]} for e in response.json()["errors"]]


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"title": "   "}, "title"),
        ({"data_categories": ["gossip"]}, "data_categories"),
        ({"contains_pii": None}, "contains_pii"),
        ({"distributions": []}, "distributions"),
        ({"distributions": [{"format": "HTTP PULL"}]}, "format"),
        ({"endpoint_url": "https://api.example/x"}, "endpoint_url"),
        ({"keywords": ["ok", "nul\x00"]}, "keywords"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_a_malformed_description_is_refused_naming_the_field(client: TestClient, overrides: dict[str, Any], field: str) -> None:
    response = client.post("/participants/edtech-a/offerings", json=offering(**overrides), headers=ADMIN)
    assert response.status_code == 422, response.text
    assert any(field in error["field"] for error in response.json()["errors"]), response.json()


def test_validation_keeps_well_formed_offers_and_reports_every_broken_rule() -> None:
    nested = {
        "profile": "https://w3id.org/dases/odrl-profile",
        "permission": [{
            "action": "use",
            "constraint": [{"and": [
                {"leftOperand": "purpose", "operator": "isAnyOf", "rightOperand": ["research", "education"]},
                {"leftOperand": "dateTime", "operator": "lt", "rightOperand": {"@value": "2027-01-01", "@type": "xsd:date"}},
            ]}],
            "duty": [{"action": "attribute"}],
        }],
        "prohibition": [{"action": "distribute"}],
        "obligation": [{"action": "delete", "constraint": [{"leftOperand": "elapsedTime", "operator": "lteq", "rightOperand": "P30D"}]}],
    }
    published = validate_offer_policy(nested)
    assert published["@type"] == "Offer" and published["@id"].startswith("urn:uuid:")
    assert {k: v for k, v in published.items() if not k.startswith("@")} == nested
    with pytest.raises(InvalidInput) as refused:
        validate_offer_policy({"permission": [{}, {"action": 3}], "prohibition": "no"})
    assert {e.field for e in refused.value.errors} == {"policy.permission.0.action", "policy.permission.1.action", "policy.prohibition"}
    deep: dict[str, Any] = {"leftOperand": "a", "operator": "eq", "rightOperand": "b"}
    for _ in range(12):
        deep = {"and": [deep]}
    with pytest.raises(InvalidInput, match="deep"):
        validate_offer_policy({"permission": [{"action": "use", "constraint": [deep]}]})
    with pytest.raises(InvalidInput, match="bytes"):
        validate_offer_policy({"permission": [{"action": "use", "constraint": [{"leftOperand": "a", "operator": "eq", "rightOperand": "x" * 20_000}]}]})
    with pytest.raises(InvalidInput, match="finite"):
        validate_offer_policy({"permission": [{"action": "use", "constraint": [{"leftOperand": "a", "operator": "eq", "rightOperand": [float("nan")]}]}]})


def test_list_show_and_retire(client: TestClient) -> None:
    first, second = publish(client, title="First"), publish(client, title="Second")
    publish(client, "school-b", title="Other participant's")
    listed = client.get("/participants/edtech-a/offerings").json()
    assert listed["total"] == 2 and [o["title"] for o in listed["items"]] == ["First", "Second"]

    assert client.delete(f"/participants/edtech-a/offerings/{first['id']}").status_code == 401
    retired = client.delete(f"/participants/edtech-a/offerings/{first['id']}", headers=ADMIN)
    assert retired.status_code == 200 and retired.json()["status"] == "retired" and retired.json()["retired_at"]
    again = client.delete(f"/participants/edtech-a/offerings/{first['id']}", headers=ADMIN)
    assert again.status_code == 200 and again.json()["retired_at"] == retired.json()["retired_at"]

    assert [o["id"] for o in client.get("/participants/edtech-a/offerings", params={"status": "active"}).json()["items"]] == [second["id"]]
    assert [o["id"] for o in client.get("/participants/edtech-a/offerings", params={"status": "retired"}).json()["items"]] == [first["id"]]
    assert client.get(f"/participants/edtech-a/offerings/{first['id']}").json()["status"] == "retired"
    assert client.get(f"/participants/school-b/offerings/{first['id']}").status_code == 404
    assert client.get("/participants/edtech-a/offerings/urn:uuid:00000000-0000-0000-0000-000000000000").status_code == 404
    assert client.get("/participants/edtech-a/offerings/not-an-id").status_code == 422
    assert client.get("/participants/nobody/offerings").status_code == 404
    found = client.get("/catalog/search").json()
    assert found["total"] == 2 and first["id"] not in [hit["id"] for hit in found["items"]]
    assert client.get("/catalog/search", params={"q": "first"}).json()["total"] == 0


def test_published_offers_are_found_for_negotiation_until_retired(client: TestClient) -> None:
    published = publish(client)
    node = client.app.state.node  # type: ignore[attr-defined]
    with node.db.transaction() as session:
        offer = service.find_offer(session, "edtech-a", published["offer_id"])
        assert offer == {**published["policy"], "target": published["id"]}
        assert service.find_offer(session, "school-b", published["offer_id"]) is None
        assert service.find_offer(session, "edtech-a", "urn:uuid:unknown") is None
        service.retire(session, "edtech-a", published["id"])
        assert service.find_offer(session, "edtech-a", published["offer_id"]) is None


def test_the_migration_creates_the_catalog_storage_for_the_backend_and_removes_it(database_url: str) -> None:
    db = Database(database_url)
    try:
        db.migrate()
        tables = set(inspect(db.engine).get_table_names())
        assert {"offering", "federated_offering", "federated_source", "catalog_facet_count"} <= tables
        with db.engine.connect() as connection:
            if backend_name() == "sqlite":
                assert {"offering_fts", "federated_offering_fts"} <= tables
                sql = connection.execute(text("SELECT sql FROM sqlite_master WHERE name = 'offering_fts'")).scalar_one()
                assert "fts5" in sql.lower()
            else:
                columns = {c["name"] for c in inspect(db.engine).get_columns("offering")}
                assert "search_vector" in columns
                indexes = {i["name"] for i in inspect(db.engine).get_indexes("offering")}
                assert {"ix_offering_search_vector", "ix_offering_tags"} <= indexes
        with db.engine.begin() as connection:
            config = alembic_config(db.engine)
            config.attributes["connection"] = connection
            command.downgrade(config, "0001")
        assert not {"offering", "offering_fts", "catalog_facet_count"} & set(inspect(db.engine).get_table_names())
        db.migrate()
        assert "offering" in set(inspect(db.engine).get_table_names())
    finally:
        db.dispose()
