"""What the portal's pages show: the catalog, an offering, a member's contracts and ledger, and
the governance of the data space, built from those building blocks' service functions.

Nothing here knows about HTTP (`portal_api.py` picks the visitor, the language and the status).
Every label a reader sees is an i18n string in the page language; identifiers (DIDs, offering
ids, hashes) appear only next to a readable name, for whoever needs to check them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from sqlalchemy.orm import Session

from dases.catalog import federation
from dases.catalog import service as catalog
from dases.catalog.dsp import IANA_MEDIA_TYPES
from dases.catalog.index import SearchQuery
from dases.catalog.models import (
    DataCategory,
    FederatedOffering,
    Offering,
    OfferingKind,
    OfferingStatus,
    ServiceCategory,
)
from dases.errors import Conflict, NotFound
from dases.governance import service as governance
from dases.governance.models import ProposalStatus
from dases.identity import service as identity
from dases.identity.keys import KeySealer
from dases.ledger import service as ledger
from dases.negotiation import service as negotiation
from dases.negotiation.states import Role, State
from dases.settings import Settings
from dases.web.i18n import translate
from dases.web.views import Names, when, when_exactly

CATALOG_PATH = "/portal/catalog"
SPACE_OFFERING_PATH = "/portal/space/offering"
SCOPES = ("node", "space")
PAGE_SIZE = 10
LEDGER_PAGE_SIZE = 20
CONTRACTS_PAGE_SIZE = 50
#: The catalog search reads at most 10,000 entries deep; deeper pages are refused, not emptied.
MAX_OFFSET = 10_000
MAX_QUERY_LENGTH = 200

FACETS: dict[str, tuple[str, list[str]]] = {
    "kind": ("kind_", [kind.value for kind in OfferingKind]),
    "data_category": ("data_", [category.value for category in DataCategory]),
    "service_category": ("service_", [category.value for category in ServiceCategory]),
}


def label(lang: str, facet: str, value: str) -> str:
    """A facet value in words (the catalog's vocabularies are closed, so every value has one)."""
    return translate(lang, FACETS[facet][0] + value)


# --- the catalog -----------------------------------------------------------------------------


@dataclass(frozen=True)
class CatalogFilters:
    """A catalog browse as the page's query string says it; values already checked."""

    text: str = ""
    #: "node": what this node's participants publish; "space": every member's catalog, as the
    #: operator's crawler last read it (only on the node hosting the governance authority).
    scope: str = "node"
    kind: str | None = None
    data_category: str | None = None
    service_category: str | None = None
    page: int = 1

    def chosen(self, facet: str) -> str | None:
        return getattr(self, facet)

    def query_string(self, **changes: Any) -> str:
        """This browse's address with some filters changed (None drops one); back to page 1
        unless the page is what changes."""
        values = {
            "scope": self.scope if self.scope != "node" else None,
            "q": self.text, "kind": self.kind, "data_category": self.data_category, "service_category": self.service_category,
        }
        values.update({("q" if key == "text" else key): value for key, value in changes.items() if key != "page"})
        page = changes.get("page", 1)
        pairs = [(key, value) for key, value in values.items() if value]
        if page and page > 1:
            pairs.append(("page", str(page)))
        return CATALOG_PATH + ("?" + urlencode(pairs) if pairs else "")


@dataclass(frozen=True)
class FacetValue:
    value: str
    label: str
    count: int
    selected: bool
    url: str


@dataclass(frozen=True)
class FacetGroup:
    name: str
    title: str
    values: list[FacetValue]


@dataclass(frozen=True)
class OfferingSummary:
    id: str
    url: str
    title: str
    description: str
    provider: str
    kind: str
    categories: list[str]


@dataclass(frozen=True)
class CatalogView:
    filters: CatalogFilters
    total: int
    offerings: list[OfferingSummary]
    facets: list[FacetGroup]
    first: int
    last: int
    previous_url: str | None
    next_url: str | None
    pages: int
    space_available: bool


def _provider_name(session: Session, names: Names, offering: Offering) -> str:
    """The provider's legal name from the registry (on the operator's node), else the name the
    node knows its hosted participant by."""
    try:
        fallback = identity.get_participant(session, offering.participant_slug).name
    except NotFound:
        fallback = offering.provider_did
    return names(offering.provider_did, fallback)


def _summary(session: Session, names: Names, offering: Offering, lang: str) -> OfferingSummary:
    description = offering.description if len(offering.description) <= 280 else offering.description[:277].rstrip() + "…"
    return OfferingSummary(
        id=offering.id,
        url=f"/portal/offerings/{offering.id}",
        title=offering.title,
        description=description,
        provider=_provider_name(session, names, offering),
        kind=label(lang, "kind", offering.kind),
        categories=[label(lang, "data_category", c) for c in offering.data_categories]
        + [label(lang, "service_category", c) for c in offering.service_categories],
    )


def space_offering_url(entry: FederatedOffering) -> str:
    return f"{SPACE_OFFERING_PATH}?{urlencode({'provider': entry.provider_did, 'id': entry.offering_id})}"


def _space_summary(names: Names, entry: FederatedOffering, lang: str) -> OfferingSummary:
    description = entry.description if len(entry.description) <= 280 else entry.description[:277].rstrip() + "…"
    return OfferingSummary(
        id=entry.offering_id,
        url=space_offering_url(entry),
        title=entry.title,
        description=description,
        provider=names(entry.provider_did),
        kind=label(lang, "kind", entry.kind),
        categories=[label(lang, "data_category", c) for c in entry.data_categories]
        + [label(lang, "service_category", c) for c in entry.service_categories],
    )


def catalog_view(session: Session, filters: CatalogFilters, lang: str, *, space_available: bool = False) -> CatalogView:
    """One page of the public catalog, with counts per facet value for the current search:
    this node's offerings, or (scope "space") every member's, through the federated index."""
    query = SearchQuery(
        text=filters.text or None,
        kind=OfferingKind(filters.kind) if filters.kind else None,
        data_category=DataCategory(filters.data_category) if filters.data_category else None,
        service_category=ServiceCategory(filters.service_category) if filters.service_category else None,
        limit=PAGE_SIZE,
        offset=(filters.page - 1) * PAGE_SIZE,
    )
    names = Names(session)
    summaries: list[OfferingSummary]
    if filters.scope == "space":
        space = federation.search(session, query)
        found_total, facets = space.total, space.facets
        summaries = [_space_summary(names, entry, lang) for entry in space.entries]
    else:
        local = catalog.search(session, query)
        found_total, facets = local.total, local.facets
        summaries = [_summary(session, names, offering, lang) for offering in local.entries]
    counts = {"kind": facets.kind, "data_category": facets.data_category, "service_category": facets.service_category}
    groups = []
    for facet, (_, values) in FACETS.items():
        chosen = filters.chosen(facet)
        entries = [
            FacetValue(
                value=value,
                label=label(lang, facet, value),
                count=counts[facet].get(value, 0),
                selected=value == chosen,
                url=filters.query_string(**{facet: None if value == chosen else value}),
            )
            for value in values
            if counts[facet].get(value, 0) or value == chosen
        ]
        groups.append(FacetGroup(facet, translate(lang, f"facet_{facet}"), entries))
    pages = max(1, -(-found_total // PAGE_SIZE))
    return CatalogView(
        filters=filters,
        total=found_total,
        offerings=summaries,
        facets=groups,
        first=query.offset + 1 if summaries else 0,
        last=query.offset + len(summaries),
        previous_url=filters.query_string(page=filters.page - 1) if filters.page > 1 else None,
        next_url=filters.query_string(page=filters.page + 1) if query.offset + PAGE_SIZE < found_total and filters.page * PAGE_SIZE < MAX_OFFSET else None,
        pages=pages,
        space_available=space_available,
    )


# --- one offering ----------------------------------------------------------------------------


def find_offering(session: Session, offering_id: str) -> Offering:
    """The offering `offering_id` of any participant hosted on this node (a handful of them,
    so asking each through the catalog's own lookup costs nothing)."""
    for participant in identity.list_participants(session):
        try:
            return catalog.get_offering(session, participant.slug, offering_id)
        except NotFound:
            continue
    raise NotFound(f"no offering {offering_id!r} on this node")


OPERAND_KEYS = {"purpose", "count", "dateTime", "elapsedTime", "spatial", "recipient", "industry", "language", "percentage", "deliveryChannel"}
OPERATOR_KEYS = {"eq", "neq", "lt", "lteq", "gt", "gteq", "isA", "hasPart", "isPartOf", "isAllOf", "isAnyOf", "isNoneOf", "term-lteq"}
ACTION_KEYS = {"use", "read", "distribute", "aggregate", "anonymize", "transfer", "reproduce", "modify", "delete", "display", "print", "derive", "index", "archive"}


def _local_name(value: str) -> str:
    """`odrl:purpose` and `http://www.w3.org/ns/odrl/2/purpose` both read `purpose`."""
    return value.rsplit("/", 1)[-1].rsplit("#", 1)[-1].split(":")[-1]


def _value_text(value: Any) -> str:
    if isinstance(value, dict):
        inner = value.get("@value", value.get("@id", json.dumps(value, ensure_ascii=False)))
        return str(inner)
    if isinstance(value, list):
        return ", ".join(_value_text(item) for item in value)
    return str(value)


def _constraint_text(constraint: Any, lang: str) -> str:
    """One ODRL constraint in words; logical constraints read as their operands joined."""
    if not isinstance(constraint, dict):
        return str(constraint)
    for logical in ("and", "andSequence", "or", "xone"):
        if logical in constraint:
            operands = constraint[logical]
            operands = operands.get("@list", operands) if isinstance(operands, dict) else operands
            joiner = translate(lang, "policy_or" if logical in ("or", "xone") else "policy_and")
            return "(" + f" {joiner} ".join(_constraint_text(item, lang) for item in operands or []) + ")"
    operand = _local_name(str(constraint.get("leftOperand", "")))
    operator = _local_name(str(constraint.get("operator", "")))
    operand_text = translate(lang, f"operand_{operand}") if operand in OPERAND_KEYS else operand
    operator_text = translate(lang, f"operator_{operator.replace('-', '_')}") if operator in OPERATOR_KEYS else operator
    unit = f" {_local_name(str(constraint['unit']))}" if constraint.get("unit") else ""
    return f"{operand_text} {operator_text} {_value_text(constraint.get('rightOperand', ''))}{unit}"


@dataclass(frozen=True)
class PolicyRule:
    kind: str
    action: str
    conditions: list[str]


def policy_rules(policy: dict[str, Any], lang: str) -> list[PolicyRule]:
    """The offer's permissions, prohibitions and obligations in words, in the page language."""
    rules = []
    for kind in ("permission", "prohibition", "obligation"):
        for rule in policy.get(kind, []) or []:
            if not isinstance(rule, dict):
                continue
            action = rule.get("action", "")
            if isinstance(action, dict):
                action = action.get("rdf:value", action.get("@id", ""))
            if isinstance(action, list):
                action = ", ".join(str(a) for a in action)
            name = _local_name(str(action))
            constraints = rule.get("constraint", []) or []
            rules.append(
                PolicyRule(
                    kind=translate(lang, f"policy_{kind}"),
                    action=translate(lang, f"action_odrl_{name}") if name in ACTION_KEYS else name,
                    conditions=[_constraint_text(c, lang) for c in (constraints if isinstance(constraints, list) else [constraints])],
                )
            )
    return rules


@dataclass(frozen=True)
class DistributionView:
    format: str
    media_type: str | None
    title: str | None
    description: str | None


@dataclass(frozen=True)
class OfferingView:
    id: str
    offer_id: str
    title: str
    description: str
    provider: str
    provider_did: str
    kind: str
    status: str
    retired: bool
    data_categories: list[str]
    service_categories: list[str]
    keywords: list[str]
    contains_pii: bool
    policy: list[PolicyRule]
    policy_json: str
    distributions: list[DistributionView]
    endpoint_url: str | None
    landing_page: str | None
    license: str | None
    skills: list[str]
    published: str
    modified: str
    #: For an offering of the data space catalog: where its connector is, when it was read.
    connector: str | None = None
    crawled: str | None = None


def offering_view(session: Session, offering_id: str, lang: str) -> OfferingView:
    offering = find_offering(session, offering_id)
    names = Names(session)
    retired = offering.status == OfferingStatus.RETIRED.value
    return OfferingView(
        id=offering.id,
        offer_id=offering.offer_id,
        title=offering.title,
        description=offering.description,
        provider=_provider_name(session, names, offering),
        provider_did=offering.provider_did,
        kind=label(lang, "kind", offering.kind),
        status=translate(lang, "offering_retired" if retired else "offering_active"),
        retired=retired,
        data_categories=[label(lang, "data_category", c) for c in offering.data_categories],
        service_categories=[label(lang, "service_category", c) for c in offering.service_categories],
        keywords=list(offering.keywords),
        contains_pii=offering.contains_pii,
        policy=policy_rules(offering.policy, lang),
        policy_json=json.dumps(offering.policy, indent=2, ensure_ascii=False),
        distributions=[
            DistributionView(d.get("format", ""), d.get("media_type"), d.get("title"), d.get("description")) for d in offering.distributions
        ],
        endpoint_url=offering.endpoint_url,
        landing_page=offering.landing_page,
        license=offering.license,
        # the field is recent: rows written before it existed read as no skills
        skills=list(getattr(offering, "skills", None) or []),
        published=when(offering.created_at, lang),
        modified=when(offering.modified_at, lang),
    )


def _ids(value: Any) -> list[str]:
    values = value if isinstance(value, list) else [value]
    return [item["@id"] if isinstance(item, dict) else item for item in values if isinstance(item, str) or (isinstance(item, dict) and isinstance(item.get("@id"), str))]


def _text(value: Any) -> str | None:
    if isinstance(value, dict):
        value = value.get("@value")
    return value if isinstance(value, str) else None


def _date_text(value: Any, lang: str) -> str | None:
    text = _text(value)
    try:
        return when(datetime.fromisoformat(text), lang) if text else None
    except ValueError:
        return text


def space_offering_view(session: Session, provider_did: str, offering_id: str, lang: str) -> OfferingView:
    """A member's dataset as its DSP catalog published it when the operator's crawler read it."""
    entry = federation.find_entry(session, provider_did, offering_id)
    if entry is None:
        raise NotFound(f"no offering {offering_id!r} of {provider_did!r} in the data space catalog")
    document = entry.document
    policies = [policy for policy in document.get("hasPolicy", []) if isinstance(policy, dict)]
    policy = policies[0] if policies else {}
    distributions = []
    for item in document.get("distribution", []) or []:
        if isinstance(item, dict):
            media = _ids(item.get("dcat:mediaType"))
            distributions.append(
                DistributionView(
                    format=str(_text(item.get("format")) or _ids(item.get("format")) or ""),
                    media_type=media[0].removeprefix(IANA_MEDIA_TYPES) if media else None,
                    title=_text(item.get("dct:title")),
                    description=_text(item.get("dct:description")),
                )
            )
    landing, licence = _ids(document.get("dcat:landingPage")), _ids(document.get("dct:license"))
    published = _date_text(document.get("dct:issued"), lang) or when(entry.modified_at, lang)
    return OfferingView(
        id=entry.offering_id,
        offer_id=str(policy.get("@id", "")),
        title=entry.title,
        description=entry.description,
        provider=Names(session)(entry.provider_did),
        provider_did=entry.provider_did,
        kind=label(lang, "kind", entry.kind),
        status=translate(lang, "offering_active"),
        retired=False,
        data_categories=[label(lang, "data_category", c) for c in entry.data_categories],
        service_categories=[label(lang, "service_category", c) for c in entry.service_categories],
        keywords=list(entry.keywords),
        contains_pii=entry.contains_pii,
        policy=policy_rules(policy, lang),
        policy_json=json.dumps(policy, indent=2, ensure_ascii=False),
        distributions=distributions,
        endpoint_url=None,
        landing_page=landing[0] if landing else None,
        license=licence[0] if licence else None,
        skills=_ids(document.get("dct:subject")),
        published=published,
        modified=when(entry.modified_at, lang),
        connector=entry.connector_url,
        crawled=when_exactly(entry.crawled_at, lang),
    )


# --- a member's contracts --------------------------------------------------------------------


@dataclass(frozen=True)
class MemberView:
    slug: str
    name: str
    did: str


def member(session: Session, slug: str) -> MemberView:
    """A participant hosted on this node; NotFound (a 404 page) for any other slug."""
    participant = identity.get_participant(session, slug)
    return MemberView(participant.slug, participant.name, participant.did)


def members(session: Session) -> list[MemberView]:
    return [MemberView(p.slug, p.name, p.did) for p in identity.list_participants(session)]


@dataclass(frozen=True)
class ContractRow:
    id: str
    role: str
    counterpart: str
    counterpart_did: str
    offering: str
    offering_id: str | None
    offering_local: bool
    state: str
    status: str
    signed: str | None
    agreement_id: str | None
    updated: str


@dataclass(frozen=True)
class ContractsView:
    member: MemberView
    total: int
    rows: list[ContractRow]
    page: int
    previous_page: int | None
    next_page: int | None


def _offering_title(session: Session, slug: str, role: str, target: str | None) -> tuple[str | None, bool]:
    """The title of the offering a contract is about, when this node publishes it."""
    if target is None or role != Role.PROVIDER.value:
        return None, False
    try:
        return catalog.get_offering(session, slug, target).title, True
    except NotFound:
        return None, False


def _signed_at(agreement: dict[str, Any] | None, lang: str) -> str | None:
    stamp = (agreement or {}).get("timestamp")
    if not isinstance(stamp, str):
        return None
    try:
        return when_exactly(datetime.fromisoformat(stamp), lang)
    except ValueError:
        return stamp


def contracts_view(session: Session, slug: str, page: int, lang: str) -> ContractsView:
    """The participant's negotiations and agreements, newest first, each with its counterpart."""
    who = member(session, slug)
    total, rows = negotiation.negotiations_of(session, slug, limit=CONTRACTS_PAGE_SIZE, offset=(page - 1) * CONTRACTS_PAGE_SIZE)
    if page > 1 and not rows:
        raise NotFound(f"{slug} has no contracts page {page}")
    names = Names(session)
    contracts = []
    for row in rows:
        target = (row.agreement or {}).get("target") or (row.offer or {}).get("target")
        title, local = _offering_title(session, slug, row.role, target if isinstance(target, str) else None)
        finalized = row.state == State.FINALIZED.value
        contracts.append(
            ContractRow(
                id=row.id,
                role=translate(lang, f"contract_role_{row.role}"),
                counterpart=names(row.counterparty_did),
                counterpart_did=row.counterparty_did,
                offering=title or (target if isinstance(target, str) else translate(lang, "contract_no_offering")),
                offering_id=target if local else None,
                offering_local=local,
                state=row.state.lower(),
                status=translate(lang, f"contract_state_{row.state.lower()}"),
                signed=_signed_at(row.agreement, lang) if finalized else None,
                agreement_id=(row.agreement or {}).get("@id") if finalized else None,
                updated=when_exactly(row.updated_at, lang),
            )
        )
    return ContractsView(
        member=who,
        total=total,
        rows=contracts,
        page=page,
        previous_page=page - 1 if page > 1 else None,
        next_page=page + 1 if page * CONTRACTS_PAGE_SIZE < total else None,
    )


# --- a member's ledger -----------------------------------------------------------------------


@dataclass(frozen=True)
class LedgerRow:
    seq: int
    when: str
    kind: str
    kind_code: str
    facts: list[tuple[str, str]]
    hash: str


@dataclass(frozen=True)
class LedgerView:
    member: MemberView
    verified: bool
    checked: int
    problem: str | None
    total: int
    rows: list[LedgerRow]
    page: int
    previous_page: int | None
    next_page: int | None


#: Body fields worth a line on the page, in this order; the export has them all.
LEDGER_FACTS = ("agreement_id", "transfer_id", "counterparty", "bytes", "record_count", "proposal_id", "choice", "adopted", "reason")


def _ledger_fact(key: str, value: Any, lang: str) -> tuple[str, str]:
    if isinstance(value, bool):
        text = translate(lang, "yes" if value else "no")
    elif isinstance(value, (dict, list)):
        text = json.dumps(value, ensure_ascii=False)
    else:
        text = str(value)
    return translate(lang, f"ledger_fact_{key}"), text


def ledger_view(session: Session, slug: str, page: int, lang: str) -> LedgerView:
    """Entries newest first, one page; the whole chain verified (hashes, order, signatures)
    each time the page is read, since the page's point is to show it is intact."""
    who = member(session, slug)
    report = ledger.verify(session, slug)
    total = report.checked if report.ok else len(ledger.entries(session, slug))
    newest = total - (page - 1) * LEDGER_PAGE_SIZE
    oldest = max(0, newest - LEDGER_PAGE_SIZE)
    if page > 1 and newest <= 0:
        raise NotFound(f"the ledger of {slug} has no page {page}")
    chunk = ledger.entries(session, slug, since_seq=oldest, limit=max(0, newest - oldest)) if newest > 0 else []
    rows = [
        LedgerRow(
            seq=entry.seq,
            when=when_exactly(entry.at, lang),
            kind=translate(lang, "ledger_kind_" + entry.kind.replace(".", "_")) if ("ledger_kind_" + entry.kind.replace(".", "_")) in _KIND_KEYS else entry.kind,
            kind_code=entry.kind,
            facts=[_ledger_fact(key, entry.body[key], lang) for key in LEDGER_FACTS if key in entry.body],
            hash=entry.hash,
        )
        for entry in reversed(chunk)
    ]
    return LedgerView(
        member=who,
        verified=report.ok,
        checked=report.checked,
        problem=report.problem,
        total=total,
        rows=rows,
        page=page,
        previous_page=page - 1 if page > 1 else None,
        next_page=page + 1 if oldest > 0 else None,
    )


_KIND_KEYS = {"ledger_kind_" + kind.replace(".", "_") for kind in ledger.KINDS}


# --- governance ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ResultView:
    adopted: bool
    eligible: int
    voted: int
    yes: int
    no: int
    abstain: int
    quorum_reached: bool
    majority_reached: bool
    effect: str | None
    tallied: str


@dataclass(frozen=True)
class ProposalView:
    id: str
    title: str
    text: str
    assembly: str
    kind: str
    status: str
    status_code: str
    opens: str
    closes: str
    quorum: str
    majority: str
    electorate: int
    result: ResultView | None


@dataclass(frozen=True)
class RuleVersion:
    version: int
    text: str
    adopted: str


@dataclass(frozen=True)
class RuleView:
    key: str
    version: int
    text: str
    adopted: str
    earlier: list[RuleVersion]


@dataclass(frozen=True)
class GovernanceView:
    hosted: bool
    assemblies: list[tuple[str, str, int]]
    proposals: list[ProposalView] = field(default_factory=list)
    rules: list[RuleView] = field(default_factory=list)


def _effect_text(effect: dict[str, Any], lang: str) -> str | None:
    if "rule_key" in effect:
        return translate(lang, "effect_rule", rule=effect["rule_key"], version=effect["version"])
    if "offering_id" in effect:
        return translate(lang, "effect_offering")
    if "amount" in effect:
        return translate(lang, "effect_funding", amount=effect["amount"], currency=effect["currency"])
    return None


def _result(session: Session, authority: governance.Authority | None, proposal_id: str, closes_at: datetime, now: datetime, lang: str) -> ResultView | None:
    """The published result, once the window has closed: the first read tallies it, as the
    governance API does, so the page never shows a closed vote without its outcome."""
    if authority is None or now < closes_at:
        return None
    try:
        result = governance.result(session, authority, proposal_id, now)
    except Conflict:
        return None
    return ResultView(
        adopted=result.adopted,
        eligible=result.eligible,
        voted=result.voted,
        yes=result.yes,
        no=result.no,
        abstain=result.abstain,
        quorum_reached=result.quorum_reached,
        majority_reached=result.majority_reached,
        effect=_effect_text(result.effect, lang),
        tallied=when_exactly(result.tallied_at, lang),
    )


def governance_view(session: Session, settings: Settings, sealer: KeySealer, now: datetime, lang: str) -> GovernanceView:
    """Assemblies, proposals (newest window first) with their results, and the rules in force
    with their earlier versions. Only the node hosting the governance authority has any."""
    if not settings.governance_authority:
        return GovernanceView(hosted=False, assemblies=[])
    authority = governance.authority(settings, sealer)
    assemblies = governance.list_assemblies(session)
    titles = {assembly.key: assembly.title for assembly in assemblies}
    proposals = []
    for proposal in governance.list_proposals(session, limit=100):
        result = _result(session, authority, proposal.id, proposal.closes_at, now, lang)
        status = proposal.status
        if result is not None:
            status = ProposalStatus.ADOPTED.value if result.adopted else ProposalStatus.REJECTED.value
        elif now < proposal.opens_at:
            status = "upcoming"
        proposals.append(
            ProposalView(
                id=proposal.id,
                title=proposal.title,
                text=proposal.text,
                assembly=titles.get(proposal.assembly_key, proposal.assembly_key),
                kind=translate(lang, f"proposal_kind_{proposal.kind}"),
                status=translate(lang, f"proposal_status_{status}"),
                status_code=status,
                opens=when_exactly(proposal.opens_at, lang),
                closes=when_exactly(proposal.closes_at, lang),
                quorum=f"{proposal.quorum_permille / 10:g} %",
                majority=translate(lang, f"majority_{proposal.majority}"),
                electorate=len(proposal.electorate),
                result=result,
            )
        )
    rules = []
    for rule in governance.current_rules(session):
        history = governance.rule_history(session, rule.key)
        rules.append(
            RuleView(
                key=rule.key,
                version=rule.version,
                text=rule.text,
                adopted=when(rule.adopted_at, lang),
                earlier=[RuleVersion(old.version, old.text, when(old.adopted_at, lang)) for old in reversed(history) if old.version != rule.version],
            )
        )
    return GovernanceView(
        hosted=True,
        assemblies=[(assembly.title, assembly.key, len(assembly.members)) for assembly in assemblies],
        proposals=proposals,
        rules=rules,
    )
