"""The DCAT-AP 3 export: a catalog with several datasets (several distributions each), data
services and software services of two participants, exported in Turtle and in JSON-LD,
validates with pyshacl against the DCAT-AP 3.0.1 shapes of ../shared/specs/dcat-ap/ with no
violation at all; the export carries the offerings' publishers, themes, distributions, access
services and ODRL offers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pyshacl import validate
from rdflib import Graph, Literal, URIRef
from rdflib import namespace as vocab

from dases.app import create_app
from dases.settings import Settings

from .conftest import ADMIN_TOKEN
from .test_catalog_offerings import offering

DCAT_AP_DIR = Path(__file__).resolve().parents[2] / "shared" / "specs" / "dcat-ap"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
RICH_POLICY = {
    "permission": [{
        "action": "use",
        "constraint": [{"and": [
            {"leftOperand": "purpose", "operator": "isAnyOf", "rightOperand": ["research", "education"]},
            {"leftOperand": "dateTime", "operator": "lt", "rightOperand": {"@value": "2027-01-01", "@type": "xsd:date"}},
        ]}],
        "duty": [{"action": "attribute"}],
    }],
    "prohibition": [{"action": "distribute"}],
}
#: Property shapes the published DCAT-AP 3.0.1 files name under sh:property without defining
#: them anywhere (pyshacl refuses to run with such references, so they are dropped; they have
#: no constraint to lose). The 3.0.1 SHACL file's own two dangling references are defined in
#: the ranges file, which is why both files are loaded together.
KNOWN_UNDEFINED_PROPERTY_SHAPES = 5


@cache
def dcat_ap_shapes() -> Graph:
    shapes = Graph()
    for name in ("dcat-ap-3.0.1-SHACL.ttl", "dcat-ap-3.0.1-ranges.ttl"):
        shapes.parse(DCAT_AP_DIR / name)
    undefined = [
        (shape, prop)
        for shape in shapes.subjects(vocab.RDF.type, vocab.SH.NodeShape)
        for prop in shapes.objects(shape, vocab.SH.property)
        if shapes.value(prop, vocab.SH.path) is None
    ]
    assert len(undefined) == KNOWN_UNDEFINED_PROPERTY_SHAPES, "the DCAT-AP shapes changed: review what is dropped"
    for shape, prop in undefined:
        shapes.remove((shape, vocab.SH.property, prop))
    return shapes


def shacl_results(data: Graph) -> list[tuple[str, str, str]]:
    """(severity, focus node, message) of every SHACL result, violations and warnings alike."""
    _conforms, report, _text = validate(data, shacl_graph=dcat_ap_shapes(), inference="none", allow_warnings=False)
    return [
        (str(report.value(result, vocab.SH.resultSeverity)), str(report.value(result, vocab.SH.focusNode)), str(report.value(result, vocab.SH.resultMessage)))
        for result in report.subjects(vocab.RDF.type, vocab.SH.ValidationResult)
    ]


@pytest.fixture
def client(tmp_path: Path, database_url: str) -> Iterator[TestClient]:
    settings = Settings(
        data_dir=tmp_path / "node", database_url=database_url, node_secret="catalog-dcat-secret-0123456789",
        admin_token=ADMIN_TOKEN, governance_authority="operator",
    )
    with TestClient(create_app(settings)) as test_client:
        for slug, name in (("operator", "Data space operator"), ("edtech-a", "EdTech A"), ("school-b", "School B")):
            assert test_client.post("/participants", json={"slug": slug, "name": name}, headers=ADMIN).status_code == 201
        yield test_client


def publish(client: TestClient, slug: str, **overrides: Any) -> dict[str, Any]:
    response = client.post(f"/participants/{slug}/offerings", json=offering(**overrides), headers=ADMIN)
    assert response.status_code == 201, response.text
    return response.json()


def publish_a_varied_catalog(client: TestClient) -> dict[str, dict[str, Any]]:
    return {
        "traces": publish(
            client, "edtech-a", policy=RICH_POLICY, data_categories=["learning_traces", "assessment_results"],
            license="https://creativecommons.org/licenses/by/4.0/", landing_page="https://edtech-a.example/data/traces",
            distributions=[
                {"format": "HttpData-PULL", "media_type": "application/json", "title": "xAPI statements", "description": "One JSON statement per line."},
                {"format": "HttpData-PUSH", "media_type": "text/csv"},
            ],
        ),
        "skills": publish(client, "school-b", title="Student skills profiles", data_categories=["skills_profile", "soft_skills", "hard_skills"], keywords=["ESCO"]),
        "jobs": publish(client, "school-b", title="Job offers", data_categories=["job_offers"], contains_pii=False, keywords=[],
                        distributions=[{"format": "HttpData-PULL"}], policy={"prohibition": [{"action": "commercialize"}]}),
        "matching": publish(
            client, "school-b", kind="data_service", title="Skills matching API", data_categories=["skills_profile"],
            service_categories=["skills_matching", "training_matching"], contains_pii=False, endpoint_url="https://school-b.example/api/match",
            license="https://opensource.org/license/mit",
        ),
        "warning": publish(client, "edtech-a", kind="software_service", title="Dropout early warning", data_categories=[],
                           service_categories=["dropout_detection", "learning_analytics"]),
    }


def export(client: TestClient, fmt: str, **params: Any) -> Graph:
    response = client.get("/catalog/dcat", params={"format": fmt, **params})
    assert response.status_code == 200, response.text
    media_type = {"turtle": "text/turtle", "jsonld": "application/ld+json"}[fmt]
    assert response.headers["content-type"].startswith(media_type)
    return Graph().parse(data=response.text, format={"turtle": "turtle", "jsonld": "json-ld"}[fmt])


@pytest.mark.parametrize("fmt", ["turtle", "jsonld"])
def test_the_export_validates_against_dcat_ap_3_with_no_violation(client: TestClient, fmt: str) -> None:
    publish_a_varied_catalog(client)
    graph = export(client, fmt)
    assert shacl_results(graph) == []
    assert len(set(graph.subjects(vocab.RDF.type, vocab.DCAT.Dataset))) == 3
    assert len(set(graph.subjects(vocab.RDF.type, vocab.DCAT.Distribution))) == 4
    assert len(set(graph.subjects(vocab.RDF.type, vocab.DCAT.DataService))) == 4, "two offered services and two connectors"


def test_an_empty_catalog_validates_too(client: TestClient) -> None:
    assert shacl_results(export(client, "turtle")) == []


def test_the_validation_is_not_vacuous(client: TestClient) -> None:
    published = publish_a_varied_catalog(client)
    graph = export(client, "turtle")
    dataset = URIRef(published["jobs"]["id"])
    graph.remove((dataset, vocab.DCTERMS.title, None))
    graph.remove((URIRef(f"{published['traces']['id']}#distribution-2"), vocab.DCAT.accessURL, None))
    graph.add((dataset, vocab.DCAT.theme, URIRef("urn:untyped:concept")))
    messages = [message for severity, _focus, message in shacl_results(graph) if severity == str(vocab.SH.Violation)]
    assert len(messages) == 3, messages


def test_the_export_describes_the_offerings(client: TestClient) -> None:
    published = publish_a_varied_catalog(client)
    graph = export(client, "turtle")
    catalog = URIRef("http://127.0.0.1:8000/catalog")
    operator = graph.value(catalog, vocab.DCTERMS.publisher)
    assert str(operator).endswith(":participants:operator") and graph.value(operator, vocab.FOAF.name) == Literal("Data space operator")

    traces = URIRef(published["traces"]["id"])
    assert (catalog, vocab.DCAT.dataset, traces) in graph
    publisher = graph.value(traces, vocab.DCTERMS.publisher)
    assert str(publisher) == published["traces"]["provider"] and graph.value(publisher, vocab.FOAF.name) == Literal("EdTech A")
    themes = {str(graph.value(theme, vocab.SKOS.prefLabel)) for theme in graph.objects(traces, vocab.DCAT.theme)}
    assert themes == {"Learning traces", "Assessment results"}
    connector = URIRef("http://127.0.0.1:8000/participants/edtech-a/dsp")
    distributions = list(graph.objects(traces, vocab.DCAT.distribution))
    assert len(distributions) == 2
    for distribution in distributions:
        assert graph.value(distribution, vocab.DCAT.accessURL) == connector
        assert graph.value(graph.value(distribution, vocab.DCAT.accessService), vocab.DCAT.endpointURL) == connector
    media_types = {str(graph.value(d, vocab.DCAT.mediaType)) for d in distributions}
    assert media_types == {"https://www.iana.org/assignments/media-types/application/json", "https://www.iana.org/assignments/media-types/text/csv"}

    policy = graph.value(traces, vocab.ODRL2.hasPolicy)
    assert str(policy) == published["traces"]["offer_id"] and (policy, vocab.RDF.type, vocab.ODRL2.Offer) in graph
    permission = graph.value(policy, vocab.ODRL2.permission)
    assert graph.value(permission, vocab.ODRL2.action) == vocab.ODRL2.use and graph.value(permission, vocab.ODRL2.target) == traces
    assert graph.value(graph.value(permission, vocab.ODRL2.duty), vocab.ODRL2.action) == vocab.ODRL2.attribute
    assert (graph.value(graph.value(policy, vocab.ODRL2.prohibition), vocab.ODRL2.action)) == vocab.ODRL2.distribute

    matching = URIRef(published["matching"]["id"])
    assert (matching, vocab.RDF.type, vocab.DCAT.DataService) in graph and (catalog, vocab.DCAT.service, matching) in graph
    assert graph.value(matching, vocab.DCAT.endpointURL) == URIRef("https://school-b.example/api/match")
    warning = URIRef(published["warning"]["id"])
    assert str(graph.value(graph.value(warning, vocab.DCTERMS.type), vocab.SKOS.prefLabel)) == "Software service"


def test_retired_offerings_leave_the_export_and_pages_split_it(client: TestClient) -> None:
    published = publish_a_varied_catalog(client)
    assert client.delete(f"/participants/school-b/offerings/{published['jobs']['id']}", headers=ADMIN).status_code == 200
    graph = export(client, "turtle")
    assert (URIRef(published["jobs"]["id"]), None, None) not in graph
    first, rest = export(client, "turtle", limit=2), export(client, "turtle", limit=2, offset=2)
    offering_ids = {URIRef(o["id"]) for o in published.values()}

    def offered(g: Graph) -> set[Any]:
        return {s for kind in (vocab.DCAT.Dataset, vocab.DCAT.DataService) for s in g.subjects(vocab.RDF.type, kind)} & offering_ids

    assert len(offered(first)) == 2 and len(offered(rest)) == 2 and not offered(first) & offered(rest)
    assert shacl_results(first) == [] and shacl_results(rest) == []


def test_json_ld_uses_readable_prefixes(client: TestClient) -> None:
    publish_a_varied_catalog(client)
    document = json.loads(client.get("/catalog/dcat", params={"format": "jsonld"}).text)
    assert document["@context"]["dcat"] == str(vocab.DCAT)
    assert any(node.get("@type") == "dcat:Catalog" for node in document["@graph"])


def test_an_unknown_format_is_refused(client: TestClient) -> None:
    response = client.get("/catalog/dcat", params={"format": "rdfxml"})
    assert response.status_code == 422 and response.json()["errors"][0]["field"].endswith("format")
