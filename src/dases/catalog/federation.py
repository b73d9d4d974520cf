"""The federated catalog of the operator's node: it crawls every active member's DSP catalog
with calls signed by the governance authority and serves one search over all of them.

What a member publishes is read as untrusted input: bodies and datasets are size-limited, only
`next` links under the member's own connector are followed, a catalog must name the member as
its `participantId`, datasets that cannot be negotiated (no offer) or stored are skipped and
counted, and a failed crawl keeps the member's previous entries and records the error. Entries
of members that are no longer active are dropped at the next crawl.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.orm import Session

from dases.catalog import dsp, index
from dases.catalog.index import FEDERATED_INDEX, SearchPage, SearchQuery
from dases.catalog.models import (
    CONTAINS_PII_IRI,
    DATA_CATEGORY_IRI,
    OFFERING_KIND_IRI,
    SERVICE_CATEGORY_IRI,
    DataCategory,
    FederatedOffering,
    FederatedSource,
    OfferingKind,
    ServiceCategory,
)
from dases.db import utcnow
from dases.errors import ConfigurationError, DasesError, UpstreamError
from dases.identity.client import signed_client
from dases.identity.did import InvalidDid, did_web_document_url
from dases.identity.keys import Signer
from dases.node import Node
from dases.periodic import start_periodic
from dases.registry import service as registry
from dases.registry.models import Member, MemberStatus

log = logging.getLogger(__name__)

DCT = "http://purl.org/dc/terms/"
DCAT = "http://www.w3.org/ns/dcat#"
PAGE_SIZE = 200
MAX_PAGES = 100
MAX_DATASETS_PER_MEMBER = 10_000
MAX_PAGE_BYTES = 8 * 1024 * 1024
MAX_DATASET_BYTES = 64 * 1024
CATALOG_REQUEST = {"@context": [dsp.DSP_CONTEXT], "@type": "CatalogRequestMessage"}


@dataclass(frozen=True)
class SourceReport:
    """How crawling one member went."""

    member_did: str
    connector_url: str | None
    ok: bool
    datasets: int = 0
    skipped: int = 0
    error: str | None = None


def connector_url_for(did: str, allow_http_hosts: Sequence[str]) -> str:
    """The DSP connector of a participant of a DASES node, from its did:web identifier:
    did:web:host%3Aport:participants:slug -> http(s)://host:port/participants/slug/dsp."""
    document_url = did_web_document_url(did, list(allow_http_hosts))
    if document_url.endswith("/.well-known/did.json"):
        raise InvalidDid(f"{did} names no participant path, so no DASES connector can be derived from it")
    return document_url[: -len("/did.json")] + "/dsp"


# --- reading a member's catalog --------------------------------------------------------------


def _post_json(client: httpx.Client, url: str) -> httpx.Response:
    """POST the catalog request, reading at most MAX_PAGE_BYTES of the answer."""
    with client.stream("POST", url, json=CATALOG_REQUEST) as response:
        body = bytearray()
        for chunk in response.iter_bytes():
            body += chunk
            if len(body) > MAX_PAGE_BYTES:
                raise UpstreamError(f"{url} answered more than {MAX_PAGE_BYTES} bytes")
        return httpx.Response(response.status_code, headers=response.headers, content=bytes(body), request=response.request)


def _fetch_catalog(signer: Signer, member_did: str, connector: str, timeout: float) -> tuple[list[Any], str]:
    """Every dataset of the member's catalog (following `next` links), and its DSP endpoint."""
    datasets: list[Any] = []
    endpoint = connector
    url: str | None = f"{connector}/catalog/request?limit={PAGE_SIZE}"
    pages = 0
    with signed_client(signer, member_did, timeout=timeout, follow_redirects=False) as client:
        while url is not None:
            pages += 1
            response = _post_json(client, url)
            if response.status_code != 200:
                raise UpstreamError(f"{url} answered HTTP {response.status_code}: {response.text[:300]}")
            try:
                body = response.json()
            except ValueError as error:
                raise UpstreamError(f"{url} answered a body that is not JSON") from error
            if not isinstance(body, dict) or body.get("@type") != "Catalog":
                raise UpstreamError(f"{url} answered something other than a DSP Catalog")
            if body.get("participantId") != member_did:
                raise UpstreamError(f"the catalog at {url} is that of {body.get('participantId')!r}, not of {member_did}")
            page = body.get("dataset", [])
            if not isinstance(page, list):
                raise UpstreamError(f"the catalog at {url} has a 'dataset' that is not an array")
            datasets += page
            services = body.get("service")
            if pages == 1 and isinstance(services, list) and services and isinstance(services[0], dict):
                declared = services[0].get("endpointURL")
                if isinstance(declared, str) and declared.startswith(("https://", "http://")) and len(declared) <= 2048:
                    endpoint = declared
            if len(datasets) > MAX_DATASETS_PER_MEMBER:
                raise UpstreamError(f"{member_did} lists more than {MAX_DATASETS_PER_MEMBER} datasets")
            next_url = response.links.get("next", {}).get("url")
            if next_url is None:
                url = None
            elif not next_url.startswith(f"{connector}/catalog/request"):
                raise UpstreamError(f"the catalog of {member_did} links to {next_url}, outside its connector {connector}")
            elif pages >= MAX_PAGES:
                raise UpstreamError(f"the catalog of {member_did} has more than {MAX_PAGES} pages")
            else:
                url = next_url
    return datasets, endpoint


def _first(node: dict[str, Any], name: str) -> Any:
    """A property under its DSP-context prefixed name (`dct:title`) or its full IRI."""
    prefix, _, local = name.partition(":")
    full = {"dct": DCT, "dcat": DCAT}[prefix] + local
    return node.get(name, node.get(full))


def _texts(value: Any) -> list[str]:
    values = value if isinstance(value, list) else [value]
    found = []
    for item in values:
        if isinstance(item, dict):
            item = item.get("@value", item.get("@id"))
        if isinstance(item, str) and item.strip():
            found.append(item.strip())
    return found


def _iris(value: Any) -> list[str]:
    values = value if isinstance(value, list) else [value]
    return [item["@id"] if isinstance(item, dict) else item for item in values if isinstance(item, str) or (isinstance(item, dict) and isinstance(item.get("@id"), str))]


def _vocabulary(iris: Iterable[str], prefix: str, vocabulary: type[Any]) -> list[str]:
    known = {member.value for member in vocabulary}
    return list(dict.fromkeys(iri[len(prefix) :] for iri in iris if iri.startswith(prefix) and iri[len(prefix) :] in known))


def _storable(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" not in value
    if isinstance(value, dict):
        return all("\x00" not in key and _storable(item) for key, item in value.items())
    if isinstance(value, list):
        return all(_storable(item) for item in value)
    return not (isinstance(value, float) and not math.isfinite(value))


def _datetime(value: Any) -> datetime | None:
    for text in _texts(value):
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            continue
        if parsed.tzinfo is not None:
            return parsed
    return None


def read_dataset(dataset: Any, member_did: str, connector: str, crawled_at: datetime) -> FederatedOffering | None:
    """A federated entry from one dataset of a member's catalog, or None when it cannot be one."""
    if not isinstance(dataset, dict):
        return None
    dataset_id = dataset.get("@id")
    policies = dataset.get("hasPolicy")
    if not (isinstance(dataset_id, str) and 0 < len(dataset_id) <= 512) or not (isinstance(policies, list) and policies):
        return None
    if not _storable(dataset) or len(json.dumps(dataset)) > MAX_DATASET_BYTES:
        return None
    themes = _iris(_first(dataset, "dcat:theme"))
    kinds = _vocabulary(_iris(_first(dataset, "dct:type")), OFFERING_KIND_IRI, OfferingKind)
    pii = dataset.get(CONTAINS_PII_IRI)
    keywords = list(dict.fromkeys(k[:64] for k in _texts(_first(dataset, "dcat:keyword"))))[:20]
    return FederatedOffering(
        member_did=member_did,
        offering_id=dataset_id,
        connector_url=connector,
        provider_did=member_did,
        kind=kinds[0] if kinds else OfferingKind.DATASET.value,
        contains_pii=pii if isinstance(pii, bool) else True,  # undeclared: treat as personal data
        title=(_texts(_first(dataset, "dct:title")) or [dataset_id])[0][:300],
        description=" ".join(_texts(_first(dataset, "dct:description")))[:5000],
        keywords=keywords,
        data_categories=_vocabulary(themes, DATA_CATEGORY_IRI, DataCategory),
        service_categories=_vocabulary(themes, SERVICE_CATEGORY_IRI, ServiceCategory),
        document=dataset,
        modified_at=_datetime(_first(dataset, "dct:modified")) or crawled_at,
        crawled_at=crawled_at,
    )


# --- storing it ------------------------------------------------------------------------------


def _replace_entries(session: Session, member_did: str, entries: list[FederatedOffering]) -> None:
    old = list(session.scalars(sa.select(FederatedOffering).where(FederatedOffering.member_did == member_did)))
    index.entries_removed(session, FEDERATED_INDEX, old)
    for entry in old:
        session.delete(entry)
    session.flush()
    for entry in entries:
        index.prepare(entry)
    session.add_all(entries)
    session.flush()
    index.entries_added(session, FEDERATED_INDEX, entries)


def _source(session: Session, member_did: str, connector: str) -> FederatedSource:
    source = session.get(FederatedSource, member_did)
    if source is None:
        source = FederatedSource(member_did=member_did, connector_url=connector, dataset_count=0)
        session.add(source)
    source.connector_url = connector
    return source


def _drop_departed(session: Session, active: set[str]) -> None:
    """Members no longer active leave the federated catalog."""
    known = set(session.scalars(sa.select(FederatedSource.member_did)))
    known |= set(session.scalars(sa.select(FederatedOffering.member_did).distinct()))
    for member_did in sorted(known - active):
        _replace_entries(session, member_did, [])
        source = session.get(FederatedSource, member_did)
        if source is not None:
            session.delete(source)


def crawl_member(node: Node, signer: Signer, member_did: str, *, timeout: float = 10.0) -> SourceReport:
    """Read one member's catalog and replace its entries; on failure keep them and record why."""
    started = utcnow()
    try:
        connector = connector_url_for(member_did, node.settings.allow_http_did_hosts)
    except InvalidDid as error:
        return SourceReport(member_did, None, ok=False, error=str(error))
    try:
        datasets, endpoint = _fetch_catalog(signer, member_did, connector, timeout)
    except (UpstreamError, httpx.HTTPError) as error:
        message = error.detail if isinstance(error, UpstreamError) else f"{type(error).__name__}: {error}"
        with node.db.transaction() as session:
            source = _source(session, member_did, connector)
            source.last_attempt_at = started
            source.last_error = message[:2000]
        log.warning("federated catalog: crawling %s failed: %s", member_did, message)
        return SourceReport(member_did, connector, ok=False, error=message)
    entries: dict[str, FederatedOffering] = {}
    for dataset in datasets:
        entry = read_dataset(dataset, member_did, endpoint, started)
        if entry is not None:
            entries.setdefault(entry.offering_id, entry)
    skipped = len(datasets) - len(entries)
    with node.db.transaction() as session:
        _replace_entries(session, member_did, list(entries.values()))
        source = _source(session, member_did, connector)
        source.last_attempt_at = source.last_success_at = started
        source.last_error = None if not skipped else f"{skipped} datasets skipped: not negotiable, too large or unstorable"
        source.dataset_count = len(entries)
    return SourceReport(member_did, connector, ok=True, datasets=len(entries), skipped=skipped)


def crawl(node: Node, members: Sequence[Member | str] | None = None, *, timeout: float = 10.0) -> list[SourceReport]:
    """Crawl the DSP catalogs of `members` (default: every active member of the registry; those
    given that are not active members are passed over).

    Runs on the operator's node only: calls are signed by the governance authority and
    addressed to each member's DID.
    """
    with node.db.transaction() as session:
        signer = registry.authority_signer(session, node.settings, node.sealer)
        active = [member.did for member in registry.list_members(session, MemberStatus.ACTIVE)]
        _drop_departed(session, set(active))
    wanted = active if members is None else [did for did in (m if isinstance(m, str) else m.did for m in members) if did in active]
    return [crawl_member(node, signer, member_did, timeout=timeout) for member_did in dict.fromkeys(wanted)]


def start_crawler(node: Node, interval_seconds: float, *, first_delay_seconds: float = 0.0) -> Callable[[], None]:
    """Crawl in a background thread every `interval_seconds`; returns the function that stops it.

    A failed round is logged and the next one runs on schedule. Meant for the operator's node
    (DASES_GOVERNANCE_AUTHORITY set); elsewhere it refuses to start.
    """
    if not node.settings.governance_authority:
        raise ConfigurationError("the federated catalog crawls from the operator's node: set DASES_GOVERNANCE_AUTHORITY")
    if interval_seconds <= 0:
        raise ConfigurationError(f"the crawl interval must be positive, not {interval_seconds}")

    def round_() -> None:
        try:
            reports = crawl(node)
        except DasesError as error:  # e.g. the governance authority is not created yet
            log.warning("federated catalog: crawl round skipped: %s", error.detail)
            return
        failed = [r.member_did for r in reports if not r.ok]
        log.info("federated catalog: crawled %d members, %d failed %s", len(reports), len(failed), failed or "")

    return start_periodic("dases-catalog-crawler", interval_seconds, round_, first_delay=first_delay_seconds, join_timeout=30)


# --- reading it ------------------------------------------------------------------------------


def search(session: Session, query: SearchQuery, **tuning: int) -> SearchPage[FederatedOffering]:
    """One search over every member's catalog, as last crawled."""
    return index.search(session, FEDERATED_INDEX, query, **tuning)


def sources(session: Session) -> list[FederatedSource]:
    return list(session.scalars(sa.select(FederatedSource).order_by(FederatedSource.member_did)))


def find_entry(session: Session, member_did: str, offering_id: str) -> FederatedOffering | None:
    """One member's dataset, as last crawled."""
    return session.scalar(
        sa.select(FederatedOffering).where(FederatedOffering.member_did == member_did, FederatedOffering.offering_id == offering_id)
    )
