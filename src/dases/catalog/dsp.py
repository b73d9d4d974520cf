"""Dataspace Protocol 2025-1 catalog messages: what a provider's connector answers, and how it
reads a consumer's CatalogRequestMessage.

Datasets carry, besides what the DSP schemas require (`hasPolicy` offers, distributions with a
`format` and an `accessService`), the DCAT terms a consumer searches on, under the prefixes the
DSP context defines (`dct:title`, `dcat:keyword`, `dcat:theme`...), and the DASES terms as
absolute IRIs (`urn:dases:vocab:containsPII`), so the body stays valid JSON-LD under the DSP
context alone.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dases.catalog.models import (
    CONTAINS_PII_IRI,
    DATA_CATEGORY_IRI,
    OFFERING_KIND_IRI,
    SERVICE_CATEGORY_IRI,
    DataCategory,
    Offering,
    OfferingKind,
    ServiceCategory,
)
from dases.errors import DasesError, FieldError

DSP_CONTEXT = "https://w3id.org/dspace/2025/1/context.jsonld"
IANA_MEDIA_TYPES = "https://www.iana.org/assignments/media-types/"
FILTER_KEYS = ("q", "keyword", "data_category", "service_category", "kind", "contains_pii")


def connector_url(base_url: str, slug: str) -> str:
    """The DSP connector base URL of a participant hosted on the node at `base_url`."""
    return f"{base_url}/participants/{slug}/dsp"


def service_id(connector: str) -> str:
    """A stable id for the connector's DataService, so every catalog page names it alike."""
    return f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, connector)}"


def catalog_id(connector: str) -> str:
    return f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, connector + '#catalog')}"


def data_service(connector: str) -> dict[str, Any]:
    return {"@id": service_id(connector), "@type": "DataService", "endpointURL": connector}


def _datetime(value: datetime) -> dict[str, str]:
    return {"@value": value.isoformat().replace("+00:00", "Z"), "@type": "xsd:dateTime"}


def dataset(offering: Offering, connector: str, *, embed_service: bool = False) -> dict[str, Any]:
    """An offering as a DSP Dataset; its distributions name the connector's DataService, or embed it."""
    access_service: str | dict[str, Any] = data_service(connector) if embed_service else service_id(connector)
    themes = [{"@id": DATA_CATEGORY_IRI + c} for c in offering.data_categories]
    themes += [{"@id": SERVICE_CATEGORY_IRI + c} for c in offering.service_categories]
    body: dict[str, Any] = {
        "@id": offering.id,
        "@type": "Dataset",
        "dct:title": offering.title,
        "dct:description": offering.description,
        "dct:type": {"@id": OFFERING_KIND_IRI + offering.kind},
        "dct:publisher": {"@id": offering.provider_did},
        "dct:issued": _datetime(offering.created_at),
        "dct:modified": _datetime(offering.modified_at),
        CONTAINS_PII_IRI: offering.contains_pii,
    }
    if offering.keywords:
        body["dcat:keyword"] = list(offering.keywords)
    if themes:
        body["dcat:theme"] = themes
    if offering.skills:
        body["dct:subject"] = [{"@id": skill} for skill in offering.skills]
    if offering.landing_page:
        body["dcat:landingPage"] = {"@id": offering.landing_page}
    if offering.license:
        body["dct:license"] = {"@id": offering.license}
    body["hasPolicy"] = [offering.policy]
    body["distribution"] = [_distribution(d, access_service) for d in offering.distributions]
    return body


def _distribution(distribution: dict[str, Any], access_service: str | dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {"@type": "Distribution", "format": distribution["format"], "accessService": access_service}
    if distribution.get("media_type"):
        body["dcat:mediaType"] = {"@id": IANA_MEDIA_TYPES + distribution["media_type"]}
    if distribution.get("title"):
        body["dct:title"] = distribution["title"]
    if distribution.get("description"):
        body["dct:description"] = distribution["description"]
    return body


def root_dataset(offering: Offering, connector: str) -> dict[str, Any]:
    """The answer to a dataset request: one Dataset with its own context and the service embedded."""
    return {"@context": [DSP_CONTEXT], **dataset(offering, connector, embed_service=True)}


def catalog(participant_did: str, connector: str, offerings: list[Offering]) -> dict[str, Any]:
    """The answer to a catalog request (one page of it). DSP wants no empty `dataset` array."""
    body: dict[str, Any] = {
        "@context": [DSP_CONTEXT],
        "@id": catalog_id(connector),
        "@type": "Catalog",
        "participantId": participant_did,
        "service": [data_service(connector)],
    }
    if offerings:
        body["dataset"] = [dataset(offering, connector) for offering in offerings]
    return body


def catalog_error(error: DasesError) -> dict[str, Any]:
    """A DSP CatalogError: `code` the problem slug (with the reason when there is one)."""
    reasons: list[str] = [error.detail]
    reasons += [f"{e.field}: {e.message}" for e in error.errors]
    code = f"{error.slug}:{error.reason}" if error.reason else error.slug
    return {"@context": [DSP_CONTEXT], "@type": "CatalogError", "code": code, "reason": reasons}


class BadCatalogRequest(DasesError):
    """A catalog request message the connector cannot answer (DSP: HTTP 400)."""

    status, slug, title = 400, "bad-request", "Bad request"


@dataclass(frozen=True)
class CatalogFilter:
    """What a CatalogRequestMessage's `filter` asks for: the same facets as the node's search."""

    q: str | None = None
    keyword: str | None = None
    data_category: DataCategory | None = None
    service_category: ServiceCategory | None = None
    kind: OfferingKind | None = None
    contains_pii: bool | None = None

    @property
    def empty(self) -> bool:
        return self == CatalogFilter()


def read_catalog_request(message: Any) -> CatalogFilter:
    """Check a CatalogRequestMessage and read its filter.

    DASES filters are objects whose properties are search facets, all of which must hold:
    `[{"q": "skills", "data_category": "soft_skills", "contains_pii": false}]`. Anything else is
    refused with 400, as the DSP binding requires for filters a catalog service does not support.
    """
    errors: list[FieldError] = []
    if not isinstance(message, dict):
        raise BadCatalogRequest("a catalog request is a JSON object", errors=[FieldError("body", "type", "must be an object")])
    context = message.get("@context")
    if not (isinstance(context, list) and all(isinstance(c, str) for c in context) and DSP_CONTEXT in context):
        errors.append(FieldError("@context", "contains", f"must be an array of strings containing {DSP_CONTEXT}"))
    if message.get("@type") != "CatalogRequestMessage":
        errors.append(FieldError("@type", "const", "must be 'CatalogRequestMessage'"))
    raw_filter = message.get("filter", [])
    values: dict[str, Any] = {}
    if not isinstance(raw_filter, list):
        errors.append(FieldError("filter", "type", "must be an array"))
        raw_filter = []
    for index, expression in enumerate(raw_filter):
        if not isinstance(expression, dict):
            errors.append(FieldError(f"filter.{index}", "unsupported_filter", f"filters are objects with properties among {', '.join(FILTER_KEYS)}"))
            continue
        for key, value in expression.items():
            path = f"filter.{index}.{key}"
            read = _read_filter_value(key, value, path, errors)
            if read is None:
                continue
            if key in values and values[key] != read:
                errors.append(FieldError(path, "conflict", f"another filter already asks for {key} = {values[key]!r}"))
            values[key] = read
    if errors:
        raise BadCatalogRequest("the catalog request message is not one this connector can answer", errors=errors)
    return CatalogFilter(**values)


def _read_filter_value(key: str, value: Any, path: str, errors: list[FieldError]) -> Any:
    vocabularies: dict[str, type[Any]] = {"data_category": DataCategory, "service_category": ServiceCategory, "kind": OfferingKind}
    if key in vocabularies:
        try:
            return vocabularies[key](value)
        except ValueError:
            errors.append(FieldError(path, "enum", f"must be one of {', '.join(vocabularies[key])}"))
            return None
    if key == "contains_pii":
        if isinstance(value, bool):
            return value
        errors.append(FieldError(path, "type", "must be true or false"))
        return None
    if key in ("q", "keyword"):
        limit = 200 if key == "q" else 64
        if isinstance(value, str) and value.strip() and len(value) <= limit and "\x00" not in value:
            return value
        errors.append(FieldError(path, "type", f"must be a non-blank string of at most {limit} characters"))
        return None
    errors.append(FieldError(path, "unsupported_filter", f"unsupported filter property; supported: {', '.join(FILTER_KEYS)}"))
    return None
