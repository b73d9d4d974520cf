"""Trainings in the catalog: an offering of kind `training` lists the ESCO skills it teaches; they
are returned, searchable by kind, exported in DCAT-AP as `dct:subject` (the export still validates
against the DCAT-AP 3.0.1 shapes with no violation) and in the DSP dataset; only trainings teach
skills, and a skill that is not an ESCO skill URI is refused naming the field."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from rdflib import URIRef
from rdflib import namespace as vocab

from dases.app import create_app
from dases.catalog import dsp
from dases.catalog import service as catalog
from dases.settings import Settings

from .conftest import ADMIN_TOKEN
from .skills_support import FRONT_END_DESIGN, MARKUP_LANGUAGES, STYLE_SHEET_LANGUAGES, training
from .test_catalog_dcat import export, shacl_results
from .test_catalog_offerings import offering

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture
def client(tmp_path: Path, database_url: str) -> Iterator[TestClient]:
    settings = Settings(data_dir=tmp_path / "node", database_url=database_url, node_secret="catalog-training-secret-0123456789", admin_token=ADMIN_TOKEN)
    with TestClient(create_app(settings)) as test_client:
        assert test_client.post("/participants", json={"slug": "edtech-a", "name": "EdTech A"}, headers=ADMIN).status_code == 201
        yield test_client


def publish(client: TestClient, body: dict[str, Any]) -> Any:
    return client.post("/participants/edtech-a/offerings", json=body, headers=ADMIN)


def test_a_training_keeps_its_skills_once_each_and_is_found_by_kind(client: TestClient) -> None:
    response = publish(client, training("Front-end bootcamp", [MARKUP_LANGUAGES, STYLE_SHEET_LANGUAGES, MARKUP_LANGUAGES]))
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["kind"] == "training" and created["skills"] == [MARKUP_LANGUAGES, STYLE_SHEET_LANGUAGES]
    assert client.get(f"/participants/edtech-a/offerings/{created['id']}").json()["skills"] == [MARKUP_LANGUAGES, STYLE_SHEET_LANGUAGES]
    assert publish(client, offering()).json()["skills"] == []
    found = client.get("/catalog/search", params={"kind": "training"}).json()
    assert [hit["id"] for hit in found["items"]] == [created["id"]] and found["facets"]["kind"] == {"training": 1}


def test_only_trainings_teach_skills_and_only_esco_skills(client: TestClient) -> None:
    dataset = publish(client, offering(skills=[MARKUP_LANGUAGES]))
    assert dataset.status_code == 422
    assert dataset.json()["errors"] == [{"field": "skills", "rule": "not_allowed", "message": "only for kind training"}]
    not_esco = publish(client, training("Python", ["https://example.org/skills/python"]))
    assert not_esco.status_code == 422 and not_esco.json()["errors"][0]["field"].endswith("skills.0")
    occupation = publish(client, training("Web", ["http://data.europa.eu/esco/occupation/c40a2919-48a9-40ea-b506-1f34f693496d"]))
    assert occupation.status_code == 422
    too_many = publish(client, training("Everything", [f"http://data.europa.eu/esco/skill/00000000-0000-4000-8000-{n:012d}" for n in range(51)]))
    assert too_many.status_code == 422 and too_many.json()["errors"][0]["field"].endswith("skills")


@pytest.mark.parametrize("fmt", ["turtle", "jsonld"])
def test_dcat_export_names_the_skills_as_subjects_and_still_validates(client: TestClient, fmt: str) -> None:
    created = publish(client, training("Front-end bootcamp", [MARKUP_LANGUAGES, FRONT_END_DESIGN])).json()
    publish(client, offering())
    graph = export(client, fmt)
    assert shacl_results(graph) == []
    subjects = set(graph.objects(URIRef(created["id"]), vocab.DCTERMS.subject))
    assert subjects == {URIRef(MARKUP_LANGUAGES), URIRef(FRONT_END_DESIGN)}
    assert (URIRef(created["id"]), vocab.RDF.type, vocab.DCAT.DataService) in graph


def test_the_dsp_dataset_carries_the_skills(client: TestClient) -> None:
    created = publish(client, training("Front-end bootcamp", [MARKUP_LANGUAGES])).json()
    node = client.app.state.node  # type: ignore[attr-defined]
    with node.db.transaction() as session:
        dataset = dsp.root_dataset(catalog.get_offering(session, "edtech-a", created["id"]), "https://node.example/participants/edtech-a/dsp")
    assert dataset["dct:subject"] == [{"@id": MARKUP_LANGUAGES}]
    assert dataset["dct:type"] == {"@id": "urn:dases:offering-kind:training"}
