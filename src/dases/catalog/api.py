"""HTTP routes of the catalog.

- publishing (admin): `/participants/{slug}/offerings`;
- search (public): `/catalog/search`, and on the operator's node `/catalog/federated/search`;
- DCAT-AP 3 export (public): `/catalog/dcat`;
- the Dataspace Protocol catalog of each hosted participant (signed calls, errors as DSP
  CatalogError bodies): `/participants/{slug}/dsp/catalog/...`.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field

from dases.catalog import dcat, dsp, federation, service
from dases.catalog.index import Facets, SearchPage, SearchQuery
from dases.catalog.models import (
    DataCategory,
    FederatedOffering,
    FederatedSource,
    Offering,
    OfferingIn,
    OfferingKind,
    OfferingStatus,
    ServiceCategory,
)
from dases.errors import DasesError, field_errors_from_validation, problem_responses
from dases.identity.auth import Caller
from dases.identity.service import SLUG_PATTERN
from dases.node import AdminDep, NodeDep, SessionDep
from dases.types import Text

router = APIRouter(tags=["catalog"])

Slug = Annotated[str, Path(pattern=SLUG_PATTERN, max_length=63, description="Participant slug")]
OfferingId = Annotated[str, Path(pattern=r"^urn:uuid:[0-9a-f-]{36}$", description="Offering id (urn:uuid)")]
Limit = Annotated[int, Query(ge=1, le=100, description="Page size")]
Offset = Annotated[int, Query(ge=0, le=10_000, description="Entries to skip (at most 10,000: refine the query instead)")]


# --- schemas ---------------------------------------------------------------------------------


class DistributionOut(BaseModel):
    format: str
    media_type: str | None = None
    title: str | None = None
    description: str | None = None


class OfferingOut(BaseModel):
    id: str = Field(description="The offering's id, also its DSP dataset id.")
    offer_id: str = Field(description="The @id of its ODRL offer, for contract negotiation.")
    participant: str = Field(description="Slug of the publishing participant on this node.")
    provider: str = Field(description="DID of the publishing participant.")
    kind: OfferingKind
    status: OfferingStatus
    title: str
    description: str
    keywords: list[str]
    data_categories: list[DataCategory]
    service_categories: list[ServiceCategory]
    contains_pii: bool
    policy: dict[str, Any] = Field(description="The ODRL offer, as the DSP catalog publishes it.")
    distributions: list[DistributionOut]
    endpoint_url: str | None
    landing_page: str | None
    license: str | None
    skills: list[str] = Field(default_factory=list, description="ESCO skills a training teaches.")
    created_at: datetime
    modified_at: datetime
    retired_at: datetime | None


class OfferingList(BaseModel):
    total: int
    items: list[OfferingOut]


class FacetsOut(BaseModel):
    """Matching entries per facet value, largest first; values with none are left out."""

    data_category: dict[str, int]
    service_category: dict[str, int]
    provider: dict[str, int]
    kind: dict[str, int]
    contains_pii: dict[str, int] = Field(description="Keys 'true' and 'false'.")


class OfferingHit(BaseModel):
    id: str
    offer_id: str
    participant: str
    provider: str
    kind: OfferingKind
    title: str
    description: str
    keywords: list[str]
    data_categories: list[DataCategory]
    service_categories: list[ServiceCategory]
    contains_pii: bool
    modified_at: datetime


class FederatedHit(BaseModel):
    id: str = Field(description="The dataset id in its provider's catalog.")
    provider: str = Field(description="DID of the member whose catalog lists it.")
    connector_url: str = Field(description="The provider's DSP endpoint, where to negotiate it.")
    kind: OfferingKind
    title: str
    description: str
    keywords: list[str]
    data_categories: list[DataCategory]
    service_categories: list[ServiceCategory]
    contains_pii: bool
    modified_at: datetime
    crawled_at: datetime
    dataset: dict[str, Any] = Field(description="The DSP Dataset as the provider publishes it (offers, distributions).")


class SearchResultBase(BaseModel):
    total: int = Field(description="How many entries match, all pages together.")
    limit: int
    offset: int
    facets: FacetsOut
    facets_exact: bool = Field(description="False when the query matched so many entries that facet counts are estimated from a sample.")


class OfferingSearchResult(SearchResultBase):
    items: list[OfferingHit]


class FederatedSearchResult(SearchResultBase):
    items: list[FederatedHit]


class SourceOut(BaseModel):
    member_did: str
    connector_url: str
    last_attempt_at: datetime | None
    last_success_at: datetime | None
    last_error: str | None
    dataset_count: int


class CrawlReportOut(BaseModel):
    member_did: str
    connector_url: str | None
    ok: bool
    datasets: int
    skipped: int
    error: str | None


class CatalogErrorOut(BaseModel):
    """A Dataspace Protocol CatalogError."""

    context: list[str] = Field(alias="@context")
    type: Literal["CatalogError"] = Field(alias="@type")
    code: str | None = None
    reason: list[Any] | None = None


# --- publishing ------------------------------------------------------------------------------


def _offering_out(offering: Offering) -> OfferingOut:
    return OfferingOut(
        id=offering.id, offer_id=offering.offer_id, participant=offering.participant_slug, provider=offering.provider_did,
        kind=OfferingKind(offering.kind), status=OfferingStatus(offering.status), title=offering.title,
        description=offering.description, keywords=offering.keywords, data_categories=offering.data_categories,
        service_categories=offering.service_categories, contains_pii=offering.contains_pii, policy=offering.policy,
        distributions=[DistributionOut(**d) for d in offering.distributions], endpoint_url=offering.endpoint_url,
        landing_page=offering.landing_page, license=offering.license, skills=offering.skills or [], created_at=offering.created_at,
        modified_at=offering.modified_at, retired_at=offering.retired_at,
    )


@router.post(
    "/participants/{slug}/offerings",
    response_model=OfferingOut,
    status_code=201,
    dependencies=[AdminDep],
    responses=problem_responses(401, 403, 404, 422),
)
def publish(slug: Slug, body: OfferingIn, session: SessionDep) -> OfferingOut:
    """Publish an offering of a hosted participant in the catalog (admin)."""
    return _offering_out(service.publish(session, slug, body))


@router.get("/participants/{slug}/offerings", response_model=OfferingList, responses=problem_responses(404, 422))
def list_offerings(
    slug: Slug,
    session: SessionDep,
    status: Annotated[OfferingStatus | None, Query(description="Only offerings in this status; all when left out.")] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> OfferingList:
    """A participant's offerings, oldest first (public, as the catalog is)."""
    total, offerings = service.list_offerings(session, slug, status=status, limit=limit, offset=offset)
    return OfferingList(total=total, items=[_offering_out(o) for o in offerings])


@router.get("/participants/{slug}/offerings/{offering_id}", response_model=OfferingOut, responses=problem_responses(404, 422))
def show_offering(slug: Slug, offering_id: OfferingId, session: SessionDep) -> OfferingOut:
    return _offering_out(service.get_offering(session, slug, offering_id))


@router.delete(
    "/participants/{slug}/offerings/{offering_id}",
    response_model=OfferingOut,
    dependencies=[AdminDep],
    responses=problem_responses(401, 403, 404, 422),
)
def retire(slug: Slug, offering_id: OfferingId, session: SessionDep) -> OfferingOut:
    """Withdraw an offering from the catalog (admin). It stays readable here, marked retired,
    so that agreements naming it still resolve."""
    return _offering_out(service.retire(session, slug, offering_id))


# --- search ----------------------------------------------------------------------------------


def _query(
    q: Annotated[Text | None, Query(max_length=200, description="Words to find in titles, keywords and descriptions (all of them; prefixes from 3 letters).")] = None,
    data_category: Annotated[DataCategory | None, Query()] = None,
    service_category: Annotated[ServiceCategory | None, Query()] = None,
    provider: Annotated[Text | None, Query(min_length=1, max_length=512, description="Provider DID (or, on the local catalog, slug).")] = None,
    contains_pii: Annotated[bool | None, Query()] = None,
    kind: Annotated[OfferingKind | None, Query()] = None,
    keyword: Annotated[Text | None, Query(min_length=1, max_length=64, description="An exact keyword (case-insensitive).")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Offset = 0,
) -> SearchQuery:
    return SearchQuery(
        text=q, data_category=data_category, service_category=service_category, provider=provider,
        contains_pii=contains_pii, kind=kind, keyword=keyword, limit=limit, offset=offset,
    )


def _facets(facets: Facets) -> FacetsOut:
    return FacetsOut(**facets.__dict__)


def _result_fields(page: SearchPage[Any], query: SearchQuery) -> dict[str, Any]:
    return {"total": page.total, "limit": query.limit, "offset": query.offset, "facets": _facets(page.facets), "facets_exact": page.facets_exact}


def _hit(offering: Offering) -> OfferingHit:
    return OfferingHit(
        id=offering.id, offer_id=offering.offer_id, participant=offering.participant_slug, provider=offering.provider_did,
        kind=OfferingKind(offering.kind), title=offering.title, description=offering.description, keywords=offering.keywords,
        data_categories=offering.data_categories, service_categories=offering.service_categories,
        contains_pii=offering.contains_pii, modified_at=offering.modified_at,
    )


def _federated_hit(entry: FederatedOffering) -> FederatedHit:
    return FederatedHit(
        id=entry.offering_id, provider=entry.provider_did, connector_url=entry.connector_url, kind=OfferingKind(entry.kind),
        title=entry.title, description=entry.description, keywords=entry.keywords, data_categories=entry.data_categories,
        service_categories=entry.service_categories, contains_pii=entry.contains_pii, modified_at=entry.modified_at,
        crawled_at=entry.crawled_at, dataset=entry.document,
    )


SearchQueryDep = Annotated[SearchQuery, Depends(_query)]


@router.get("/catalog/search", response_model=OfferingSearchResult, responses=problem_responses(422))
def search(query: SearchQueryDep, session: SessionDep) -> OfferingSearchResult:
    """Full-text and faceted search over the offerings published on this node."""
    page = service.search(session, query)
    return OfferingSearchResult(items=[_hit(o) for o in page.entries], **_result_fields(page, query))


@router.get("/catalog/federated/search", response_model=FederatedSearchResult, responses=problem_responses(422))
def federated_search(query: SearchQueryDep, session: SessionDep) -> FederatedSearchResult:
    """One search over the DSP catalogs of every member, as the operator's crawler last read them."""
    page = federation.search(session, query)
    return FederatedSearchResult(items=[_federated_hit(e) for e in page.entries], **_result_fields(page, query))


def _source_out(source: FederatedSource) -> SourceOut:
    return SourceOut.model_validate(source, from_attributes=True)


@router.get("/catalog/federated/sources", response_model=list[SourceOut])
def federated_sources(session: SessionDep) -> list[SourceOut]:
    """The members' catalogs the federated catalog is made of, and how their last crawl went."""
    return [_source_out(source) for source in federation.sources(session)]


@router.post(
    "/catalog/federated/crawl",
    response_model=list[CrawlReportOut],
    dependencies=[AdminDep],
    responses=problem_responses(401, 403, 404, 409),
)
def crawl_now(node: NodeDep) -> list[CrawlReportOut]:
    """Crawl every active member's catalog now rather than at the next scheduled round (admin, operator's node)."""
    return [CrawlReportOut(**report.__dict__) for report in federation.crawl(node)]


# --- DCAT-AP ---------------------------------------------------------------------------------

_DCAT_RESPONSE = {
    200: {
        "description": "The catalog as DCAT-AP 3",
        "content": {dcat.MEDIA_TYPES["turtle"]: {"schema": {"type": "string"}}, dcat.MEDIA_TYPES["jsonld"]: {"schema": {}}},
    }
}


@router.get("/catalog/dcat", response_class=Response, responses={**_DCAT_RESPONSE, **problem_responses(422)})
def dcat_export(
    node: NodeDep,
    session: SessionDep,
    format: Annotated[Literal["turtle", "jsonld"], Query(description="turtle (text/turtle) or jsonld (application/ld+json)")] = "turtle",
    limit: Annotated[int, Query(ge=1, le=5000, description="Offerings per page, oldest first")] = 1000,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> Response:
    """The node's active offerings as DCAT-AP 3, for data portals and harvesters (public)."""
    body = service.dcat_export(session, node.settings, format, limit=limit, offset=offset)
    return Response(body, media_type=dcat.MEDIA_TYPES[format])


# --- Dataspace Protocol catalog --------------------------------------------------------------


class DspRoute(APIRoute):
    """A DSP endpoint: every error, including a refused call token or a malformed message,
    answers with a DSP CatalogError body (application/json) and the matching HTTP status."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def dsp_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except DasesError as error:
                return JSONResponse(dsp.catalog_error(error), status_code=error.status, headers=error.headers)
            except RequestValidationError as error:
                invalid = dsp.BadCatalogRequest("the request does not match the DSP catalog binding", errors=field_errors_from_validation(error.errors()))
                return JSONResponse(dsp.catalog_error(invalid), status_code=invalid.status)

        return dsp_handler


_CATALOG_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": CatalogErrorOut, "description": f"DSP CatalogError ({meaning})"}
    for status, meaning in ((400, "malformed request or unsupported filter"), (401, "no valid call token"), (403, "token addressed to another participant"), (404, "unknown participant or dataset"))
}
_DSP_JSON = {"content": {"application/json": {"schema": {"type": "object"}}}}


def catalog_request(
    slug: Slug,
    caller: Caller,
    node: NodeDep,
    session: SessionDep,
    message: Annotated[dict[str, Any], Body(description="A DSP CatalogRequestMessage.", examples=[{"@context": [dsp.DSP_CONTEXT], "@type": "CatalogRequestMessage", "filter": []}])],
    limit: Annotated[int, Query(ge=1, le=500, description="Datasets per page")] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> JSONResponse:
    """The participant's DSP catalog; pages are linked with `Link: <...>; rel="next"` / `"previous"`."""
    page = service.dsp_catalog(session, node.settings.base_url, slug, caller.audience, message, limit=limit, offset=offset)
    request_url = f"{dsp.connector_url(node.settings.base_url, slug)}/catalog/request"
    links = [f'<{request_url}?limit={limit}&offset={o}>; rel="{rel}"' for rel, o in (("previous", page.previous_offset), ("next", page.next_offset)) if o is not None]
    return JSONResponse(page.body, headers={"Link": ", ".join(links)} if links else None)


def dataset_request(
    slug: Slug,
    dataset_id: Annotated[str, Path(min_length=1, max_length=512, description="The dataset (offering) id")],
    caller: Caller,
    node: NodeDep,
    session: SessionDep,
) -> JSONResponse:
    """One dataset of the participant's DSP catalog, with its offers and distributions."""
    return JSONResponse(service.dsp_dataset(session, node.settings.base_url, slug, caller.audience, dataset_id))


router.add_api_route(
    "/participants/{slug}/dsp/catalog/request",
    catalog_request,
    methods=["POST"],
    response_class=JSONResponse,
    responses={200: {"description": "A DSP Catalog", **_DSP_JSON}, **_CATALOG_ERRORS},
    route_class_override=DspRoute,
    tags=["dsp"],
)
router.add_api_route(
    "/participants/{slug}/dsp/catalog/datasets/{dataset_id}",
    dataset_request,
    methods=["GET"],
    response_class=JSONResponse,
    responses={200: {"description": "A DSP Dataset", **_DSP_JSON}, **_CATALOG_ERRORS},
    route_class_override=DspRoute,
    tags=["dsp"],
)
