"""The node's catalog as DCAT-AP 3, in Turtle or JSON-LD, for open-data portals and harvesters.

Datasets become `dcat:Dataset`s with one `dcat:Distribution` per transfer format, reached
through the provider's DSP connector (`dcat:accessURL` and `dcat:accessService`); data and
software services become `dcat:DataService`s. Every class and property DCAT-AP 3.0.1 makes
mandatory is there (titles, descriptions, publishers with a `foaf:name`, access URLs, endpoint
URLs), and every object whose class DCAT-AP constrains is typed (concepts with a preferred
label in a titled concept scheme, media types, licence documents...), so the export validates
against the DCAT-AP SHACL shapes with no violation. The ODRL offer of each offering is
attached with `odrl:hasPolicy`, its rules translated to ODRL triples.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from rdflib import BNode, Graph, Literal, Namespace, URIRef
from rdflib.collection import Collection
from rdflib.namespace import DCAT, DCTERMS, FOAF, ODRL2, RDF, RDFS, SKOS, XSD
from sqlalchemy.orm import Session

from dases.catalog import dsp
from dases.catalog.models import (
    CONTAINS_PII_IRI,
    DATA_CATEGORY_IRI,
    LABELS,
    OFFERING_KIND_IRI,
    SERVICE_CATEGORY_IRI,
    DataCategory,
    Offering,
    OfferingKind,
    OfferingStatus,
    ServiceCategory,
)
from dases.identity import service as identity

DCATAP = Namespace("http://data.europa.eu/r5r/")
DSP_STANDARD = URIRef("https://w3id.org/dspace/2025/1/")
FORMAT_IRI = "urn:dases:format:"
MEDIA_TYPES = {"turtle": "text/turtle", "jsonld": "application/ld+json"}
JSONLD_CONTEXT = {
    "dcat": str(DCAT),
    "dct": str(DCTERMS),
    "foaf": str(FOAF),
    "skos": str(SKOS),
    "odrl": str(ODRL2),
    "rdfs": str(RDFS),
    "xsd": str(XSD),
    "dcatap": str(DCATAP),
    "dases": "urn:dases:vocab:",
}
_SCHEMES = {
    DATA_CATEGORY_IRI: ("DASES data categories", DataCategory),
    SERVICE_CATEGORY_IRI: ("DASES service categories", ServiceCategory),
    OFFERING_KIND_IRI: ("DASES offering kinds", OfferingKind),
}


@dataclass(frozen=True)
class Agent:
    iri: str
    name: str


def _when(value: datetime) -> Literal:
    return Literal(value.isoformat().replace("+00:00", "Z"), datatype=XSD.dateTime)


class _Builder:
    """Adds resources to one graph, typing each shared resource once."""

    def __init__(self, base_url: str) -> None:
        self.graph = Graph()
        for prefix, namespace in JSONLD_CONTEXT.items():
            self.graph.bind(prefix, Namespace(namespace))
        self.base_url = base_url
        self.catalog = URIRef(f"{base_url}/catalog")

    def agent(self, agent: Agent) -> URIRef:
        node = URIRef(agent.iri)
        self.graph.add((node, RDF.type, FOAF.Agent))
        self.graph.set((node, FOAF.name, Literal(agent.name)))
        return node

    def concept(self, scheme_iri: str, value: str) -> URIRef:
        title, _vocabulary = _SCHEMES[scheme_iri]
        scheme = URIRef(scheme_iri.rstrip(":"))
        self.graph.add((scheme, RDF.type, SKOS.ConceptScheme))
        self.graph.set((scheme, DCTERMS.title, Literal(title, lang="en")))
        self.graph.add((self.catalog, DCAT.themeTaxonomy, scheme))
        concept = URIRef(scheme_iri + value)
        self.graph.add((concept, RDF.type, SKOS.Concept))
        self.graph.set((concept, SKOS.prefLabel, Literal(LABELS.get(value, value), lang="en")))
        self.graph.add((concept, SKOS.inScheme, scheme))
        return concept

    def connector(self, connector_url: str, provider: URIRef, provider_name: str) -> URIRef:
        node = URIRef(dsp.service_id(connector_url))
        graph = self.graph
        if (node, RDF.type, DCAT.DataService) not in graph:
            graph.add((node, RDF.type, DCAT.DataService))
            graph.add((node, DCTERMS.title, Literal(f"Dataspace Protocol connector of {provider_name}", lang="en")))
            graph.add((node, DCAT.endpointURL, self.typed(connector_url, RDFS.Resource)))
            graph.add((node, DCTERMS.conformsTo, DSP_STANDARD))
            graph.add((DSP_STANDARD, RDF.type, DCTERMS.Standard))
            graph.add((node, DCTERMS.publisher, provider))
            graph.add((self.catalog, DCAT.service, node))
        return node

    def typed(self, iri: str, rdf_class: URIRef) -> URIRef:
        node = URIRef(iri)
        self.graph.add((node, RDF.type, rdf_class))
        return node


def _rdf_term(name: str) -> URIRef:
    """An ODRL term: `use` and `odrl:use` are ODRL's, anything with a scheme is an IRI already."""
    if name.startswith("odrl:"):
        return ODRL2[name[len("odrl:") :]]
    if ":" in name:
        return URIRef(name)
    return ODRL2[name]


def _right_operand(graph: Graph, value: Any) -> list[Any]:
    if isinstance(value, list):
        return [term for item in value for term in _right_operand(graph, item)]
    if isinstance(value, dict):
        if isinstance(value.get("@id"), str):
            return [URIRef(value["@id"])]
        if "@value" in value:
            datatype = value.get("@type")
            if isinstance(datatype, str) and datatype.startswith("xsd:"):
                datatype = XSD[datatype[len("xsd:") :]]
            return [Literal(str(value["@value"]), datatype=URIRef(datatype) if isinstance(datatype, str) else None)]
        return [Literal(json.dumps(value, sort_keys=True))]
    return [Literal(value)]


def _constraint(graph: Graph, constraint: dict[str, Any]) -> BNode:
    node = BNode()
    graph.add((node, RDF.type, ODRL2.Constraint))
    for operator in ("and", "andSequence", "or", "xone"):
        if operator in constraint:
            graph.set((node, RDF.type, ODRL2.LogicalConstraint))
            members = [_constraint(graph, item) for item in constraint[operator]]
            head = BNode()
            Collection(graph, head, members)
            graph.add((node, ODRL2[operator], head))
            return node
    graph.add((node, ODRL2.leftOperand, _rdf_term(constraint["leftOperand"])))
    graph.add((node, ODRL2.operator, _rdf_term(constraint["operator"])))
    for term in _right_operand(graph, constraint["rightOperand"]):
        graph.add((node, ODRL2.rightOperand, term))
    return node


_RULE_CLASSES = {"permission": ODRL2.Permission, "prohibition": ODRL2.Prohibition, "obligation": ODRL2.Duty, "duty": ODRL2.Duty, "remedy": ODRL2.Duty, "consequence": ODRL2.Duty}


def _rules(graph: Graph, subject: URIRef | BNode, kind: str, rules: list[dict[str, Any]], target: URIRef | None) -> None:
    for rule in rules:
        node = BNode()
        graph.add((subject, ODRL2[kind], node))
        graph.add((node, RDF.type, _RULE_CLASSES[kind]))
        graph.add((node, ODRL2.action, _rdf_term(rule["action"])))
        if target is not None:
            graph.add((node, ODRL2.target, target))
        for constraint in rule.get("constraint", []):
            graph.add((node, ODRL2.constraint, _constraint(graph, constraint)))
        for sub_rule in ("duty", "remedy", "consequence"):
            if sub_rule in rule:
                _rules(graph, node, sub_rule, rule[sub_rule], None)


def _policy(builder: _Builder, policy: dict[str, Any], target: URIRef, assigner: URIRef) -> URIRef:
    graph = builder.graph
    node = URIRef(policy["@id"])
    graph.add((node, RDF.type, ODRL2.Offer))
    graph.add((node, RDF.type, ODRL2.Policy))
    graph.add((node, ODRL2.assigner, assigner))
    for profile in [policy["profile"]] if isinstance(policy.get("profile"), str) else policy.get("profile", []):
        graph.add((node, ODRL2.profile, URIRef(profile)))
    for kind in ("permission", "prohibition", "obligation"):
        _rules(graph, node, kind, policy.get(kind, []), target)
    return node


def _add_offering(builder: _Builder, offering: Offering, provider: URIRef, provider_name: str, connector_url: str) -> None:
    graph = builder.graph
    node = URIRef(offering.id)
    is_dataset = offering.kind == OfferingKind.DATASET
    graph.add((node, RDF.type, DCAT.Dataset if is_dataset else DCAT.DataService))
    graph.add((builder.catalog, DCAT.dataset if is_dataset else DCAT.service, node))
    graph.add((node, DCTERMS.identifier, Literal(offering.id)))
    graph.add((node, DCTERMS.title, Literal(offering.title)))
    graph.add((node, DCTERMS.description, Literal(offering.description)))
    graph.add((node, DCTERMS.publisher, provider))
    graph.add((node, DCTERMS.type, builder.concept(OFFERING_KIND_IRI, offering.kind)))
    if is_dataset:
        graph.add((node, DCTERMS.issued, _when(offering.created_at)))
        graph.add((node, DCTERMS.modified, _when(offering.modified_at)))
    for keyword in offering.keywords:
        graph.add((node, DCAT.keyword, Literal(keyword)))
    for category in offering.data_categories:
        graph.add((node, DCAT.theme, builder.concept(DATA_CATEGORY_IRI, category)))
    for category in offering.service_categories:
        graph.add((node, DCAT.theme, builder.concept(SERVICE_CATEGORY_IRI, category)))
    for skill in offering.skills or []:
        # dct:subject, not dcat:theme: DCAT-AP wants a theme to be a skos:Concept with a
        # prefLabel, and the catalog keeps ESCO's URIs, not its labels (ESCO publishes those).
        graph.add((node, DCTERMS.subject, URIRef(skill)))
    graph.add((node, URIRef(CONTAINS_PII_IRI), Literal(offering.contains_pii)))
    if offering.landing_page:
        graph.add((node, DCAT.landingPage, builder.typed(offering.landing_page, FOAF.Document)))
    licence = builder.typed(offering.license, DCTERMS.LicenseDocument) if offering.license else None
    graph.add((node, ODRL2.hasPolicy, _policy(builder, offering.policy, node, provider)))
    connector = builder.connector(connector_url, provider, provider_name)
    if not is_dataset:
        # DCAT-AP's range shapes want the endpoint typed; without RDFS inference, it has to be said.
        graph.add((node, DCAT.endpointURL, builder.typed(offering.endpoint_url or connector_url, RDFS.Resource)))
        if licence is not None:
            graph.add((node, DCTERMS.license, licence))
        return
    for position, distribution in enumerate(offering.distributions):
        part = URIRef(f"{offering.id}#distribution-{position + 1}")
        graph.add((node, DCAT.distribution, part))
        graph.add((part, RDF.type, DCAT.Distribution))
        graph.add((part, DCAT.accessURL, URIRef(connector_url)))
        graph.add((part, DCAT.accessService, connector))
        graph.add((part, DCTERMS.format, builder.typed(FORMAT_IRI + distribution["format"], DCTERMS.MediaTypeOrExtent)))
        if distribution.get("media_type"):
            graph.add((part, DCAT.mediaType, builder.typed(dsp.IANA_MEDIA_TYPES + distribution["media_type"], DCTERMS.MediaType)))
        if distribution.get("title"):
            graph.add((part, DCTERMS.title, Literal(distribution["title"])))
        if distribution.get("description"):
            graph.add((part, DCTERMS.description, Literal(distribution["description"])))
        if licence is not None:
            graph.add((part, DCTERMS.license, licence))


def catalog_graph(
    base_url: str, publisher: Agent, offerings: Sequence[Offering], providers: dict[str, identity.ParticipantView]
) -> Graph:
    """The DCAT-AP graph of a catalog of these offerings, published by `publisher`."""
    builder = _Builder(base_url)
    graph = builder.graph
    graph.add((builder.catalog, RDF.type, DCAT.Catalog))
    graph.add((builder.catalog, DCTERMS.title, Literal("DASES catalog", lang="en")))
    graph.add((
        builder.catalog,
        DCTERMS.description,
        Literal(f"Datasets, data services and software services offered through the education & skills data space node {base_url}.", lang="en"),
    ))
    graph.add((builder.catalog, DCTERMS.publisher, builder.agent(publisher)))
    graph.add((builder.catalog, FOAF.homepage, builder.typed(f"{base_url}/catalog/search", FOAF.Document)))
    if offerings:
        graph.add((builder.catalog, DCTERMS.modified, _when(max(o.modified_at for o in offerings))))
    for offering in offerings:
        participant = providers[offering.participant_slug]
        provider = builder.agent(Agent(participant.did, participant.name))
        _add_offering(builder, offering, provider, participant.name, dsp.connector_url(base_url, participant.slug))
    return graph


def serialize(graph: Graph, fmt: str) -> str:
    if fmt == "jsonld":
        return graph.serialize(format="json-ld", context=JSONLD_CONTEXT, auto_compact=True)
    return graph.serialize(format="turtle")


def export(session: Session, base_url: str, publisher: Agent, fmt: str, *, limit: int = 1000, offset: int = 0) -> str:
    """The active offerings of this node (oldest first, one page of them) as DCAT-AP, serialized."""
    offerings = list(
        session.scalars(
            sa.select(Offering).where(Offering.status == OfferingStatus.ACTIVE.value).order_by(Offering.pk).limit(limit).offset(offset)
        )
    )
    providers = {view.slug: view for view in identity.list_participants(session)}
    return serialize(catalog_graph(base_url, publisher, offerings, providers), fmt)
