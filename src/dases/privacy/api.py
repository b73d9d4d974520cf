"""HTTP routes of the privacy tools.

- The pseudonymisation service, hosted by the operator (the node's governance authority):
  its admin creates study domains, admits members to them and rotates their keys; admitted
  members get pseudonyms for batches of identifiers, and re-key pseudonyms they hold, over
  signed calls addressed to the operator.
- Differentially private answers of any hosted participant: its admin declares the datasets
  and grants each consumer a budget (epsilon) on each; consumers ask counts, histograms and
  bounded means over signed calls and are refused (403) once their budget is spent.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from dases.errors import Forbidden, NotFound, problem_responses
from dases.identity.auth import Caller
from dases.identity.models import Participant
from dases.identity.service import SLUG_PATTERN
from dases.identity.tokens import VerifiedCaller
from dases.node import AdminDep, Node, NodeDep, SessionDep
from dases.privacy import service
from dases.privacy.service import (
    DOMAIN_PATTERN,
    BudgetView,
    DomainKeySealer,
    DomainView,
    PrivateQuery,
)
from dases.registry import service as registry
from dases.types import Text

router = APIRouter(tags=["privacy"])

#: The most identifiers (or pseudonyms) one call carries: about 4 MB of JSON.
MAX_BATCH = 100_000

Slug = Annotated[str, Path(pattern=SLUG_PATTERN, max_length=63)]
Domain = Annotated[str, Path(pattern=DOMAIN_PATTERN, max_length=63, description="The study domain.")]
DID_PATTERN = r"^did:[a-z0-9]+:[^\s\x00]+$"
Did = Annotated[str, Field(min_length=8, max_length=512, pattern=DID_PATTERN)]
#: Checked by pydantic's Rust core (length, no NUL), not a Python validator per item: a batch
#: holds up to 100,000 of them.
Identifier = Annotated[str, Field(min_length=1, max_length=256, pattern=r"^[^\x00]+$")]
Dataset = Annotated[Text, Field(min_length=1, max_length=200)]


def sealer_of(node: Node) -> DomainKeySealer:
    return DomainKeySealer(node.settings.resolved_node_secret())


def _operator(node: Node, session: Session, slug: str) -> Participant:
    """The hosted participant running the pseudonymisation service: the governance authority."""
    participant = session.get(Participant, slug)
    if participant is None or node.settings.governance_authority != slug:
        raise NotFound(f"{slug!r} runs no pseudonymisation service on this node")
    return participant


def _member(node: Node, session: Session, slug: str, caller: VerifiedCaller) -> str:
    """The caller's DID, once its call is addressed to the operator and it is an active member."""
    operator = _operator(node, session, slug)
    if caller.audience != operator.did:
        raise Forbidden(f"pseudonym calls are addressed to the pseudonymisation service {operator.did}")
    if not registry.is_active_member(session, caller.did):
        raise Forbidden(f"{caller.did} is not an active member of the data space")
    return caller.did


class DomainIn(BaseModel):
    name: str = Field(pattern=DOMAIN_PATTERN, max_length=63, description="A slug: lower-case letters, digits, hyphens.")
    title: Text = Field(min_length=1, max_length=200)


class DomainOut(BaseModel):
    name: str
    title: str
    version: int = Field(description="The current key version; pseudonyms read ps<version>_...")
    members: list[str]
    created_at: datetime


class MemberIn(BaseModel):
    did: Did


class IdentifiersIn(BaseModel):
    identifiers: list[Identifier] = Field(min_length=1, max_length=MAX_BATCH, description="Your ids for the learners.")


class PseudonymsIn(BaseModel):
    pseudonyms: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(min_length=1, max_length=MAX_BATCH)


class PseudonymsOut(BaseModel):
    domain: str
    version: int
    pseudonyms: list[str] = Field(description="In the order of the request.")


def _pseudonyms_response(result: service.Pseudonyms) -> Response:
    """Serialised directly: the strings are ours and ASCII, and re-validating 100,000 of them
    against `PseudonymsOut` would cost more than computing them."""
    body = {"domain": result.domain, "version": result.version, "pseudonyms": result.pseudonyms}
    return Response(json.dumps(body, separators=(",", ":")), media_type="application/json")


def _domain_out(view: DomainView) -> DomainOut:
    return DomainOut(name=view.name, title=view.title, version=view.version, members=view.members, created_at=view.created_at)


@router.post("/participants/{slug}/pseudonym-domains", response_model=DomainOut, status_code=201, dependencies=[AdminDep],
             responses=problem_responses(401, 403, 404, 409, 422))
def create_domain(slug: Slug, body: DomainIn, node: NodeDep, session: SessionDep) -> DomainOut:
    """Open a study domain with its first key (admin of the operator)."""
    _operator(node, session, slug)
    return _domain_out(service.create_domain(session, sealer_of(node), body.name, body.title))


@router.get("/participants/{slug}/pseudonym-domains", response_model=list[DomainOut], dependencies=[AdminDep],
            responses=problem_responses(401, 403, 404, 422))
def list_domains(slug: Slug, node: NodeDep, session: SessionDep) -> list[DomainOut]:
    _operator(node, session, slug)
    return [_domain_out(view) for view in service.list_domains(session)]


@router.post("/participants/{slug}/pseudonym-domains/{domain}/members", response_model=DomainOut, dependencies=[AdminDep],
             responses=problem_responses(401, 403, 404, 422))
def admit(slug: Slug, domain: Domain, body: MemberIn, node: NodeDep, session: SessionDep) -> DomainOut:
    """Admit a member to the study: from now on it may ask for the domain's pseudonyms."""
    _operator(node, session, slug)
    return _domain_out(service.admit(session, domain, body.did))


@router.delete("/participants/{slug}/pseudonym-domains/{domain}/members", response_model=DomainOut, dependencies=[AdminDep],
               responses=problem_responses(401, 403, 404, 422))
def dismiss(
    slug: Slug, domain: Domain, did: Annotated[str, Query(min_length=8, max_length=512, pattern=DID_PATTERN)], node: NodeDep, session: SessionDep
) -> DomainOut:
    _operator(node, session, slug)
    return _domain_out(service.dismiss(session, domain, did))


@router.post("/participants/{slug}/pseudonym-domains/{domain}/rotate", response_model=DomainOut, dependencies=[AdminDep],
             responses=problem_responses(401, 403, 404, 422))
def rotate(slug: Slug, domain: Domain, node: NodeDep, session: SessionDep) -> DomainOut:
    """A new key version: pseudonyms change; holders re-key what they stored with `.../rekey`."""
    _operator(node, session, slug)
    return _domain_out(service.rotate(session, sealer_of(node), domain))


@router.post("/participants/{slug}/pseudonyms/{domain}", response_model=PseudonymsOut, responses=problem_responses(401, 403, 404, 422))
def pseudonymise(slug: Slug, domain: Domain, body: IdentifiersIn, caller: Caller, node: NodeDep, session: SessionDep) -> Response:
    """Pseudonyms of a batch of identifiers, same order, for a member admitted to the domain."""
    member = _member(node, session, slug, caller)
    return _pseudonyms_response(service.pseudonymise(session, sealer_of(node), domain, member, body.identifiers))


@router.post("/participants/{slug}/pseudonyms/{domain}/rekey", response_model=PseudonymsOut, responses=problem_responses(401, 403, 404, 422))
def rekey(slug: Slug, domain: Domain, body: PseudonymsIn, caller: Caller, node: NodeDep, session: SessionDep) -> Response:
    """Pseudonyms of older key versions carried to the current one, same order."""
    member = _member(node, session, slug, caller)
    return _pseudonyms_response(service.rekey(session, sealer_of(node), domain, member, body.pseudonyms))


class BudgetIn(BaseModel):
    dataset: Dataset
    consumer: Did
    epsilon: float = Field(ge=0, le=1000, description="Total epsilon the consumer may spend on the dataset.")


class BudgetOut(BaseModel):
    dataset: str
    consumer: str
    epsilon: float
    spent: float
    remaining: float


def _budget_out(view: BudgetView) -> BudgetOut:
    return BudgetOut(dataset=view.dataset, consumer=view.consumer, epsilon=view.epsilon, spent=view.spent, remaining=view.remaining)


def _hosted(session: Session, slug: str) -> None:
    if session.get(Participant, slug) is None:
        raise NotFound(f"no participant {slug!r} on this node")


@router.put("/participants/{slug}/privacy/budgets", response_model=BudgetOut, dependencies=[AdminDep], responses=problem_responses(401, 403, 404, 422))
def grant_budget(slug: Slug, body: BudgetIn, session: SessionDep) -> BudgetOut:
    """Grant (or change) a consumer's total epsilon on one of this participant's datasets."""
    _hosted(session, slug)
    return _budget_out(service.grant(session, slug, body.dataset, body.consumer, body.epsilon))


@router.get("/participants/{slug}/privacy/budgets", response_model=list[BudgetOut], dependencies=[AdminDep], responses=problem_responses(401, 403, 404, 422))
def list_budgets(slug: Slug, session: SessionDep) -> list[BudgetOut]:
    _hosted(session, slug)
    return [_budget_out(view) for view in service.budgets(session, slug)]



DatasetName = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$", description="The dataset's name, as in its budgets.")]


class DatasetIn(BaseModel):
    path: str = Field(min_length=1, max_length=4096, pattern=r"^[^\x00]+$", description="Absolute path of a CSV, JSON lines or Parquet file.")


class DatasetOut(BaseModel):
    name: str
    path: str
    format: str


class QueryIn(BaseModel):
    query: Literal["count", "histogram", "mean"]
    epsilon: float = Field(gt=0, le=10, description="The privacy loss this answer spends.")
    column: Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[^\x00]+$")] | None = None
    bins: list[Annotated[str, Field(max_length=200, pattern=r"^[^\x00]*$")]] = Field(default_factory=list, max_length=1000)
    lower: float | None = Field(default=None, allow_inf_nan=False)
    upper: float | None = Field(default=None, allow_inf_nan=False)


class QueryOut(BaseModel):
    dataset: str
    query: str
    epsilon: float
    remaining: float = Field(description="Epsilon left to the caller on this dataset.")
    value: int | float | None = Field(default=None, description="The noisy count (an integer) or mean.")
    bins: list[str] | None = None
    counts: list[int] | None = None


@router.put("/participants/{slug}/privacy/datasets/{name}", response_model=DatasetOut, dependencies=[AdminDep],
            responses=problem_responses(401, 403, 404, 422))
def register_dataset(slug: Slug, name: DatasetName, body: DatasetIn, node: NodeDep, session: SessionDep) -> DatasetOut:
    """Declare the file a dataset's private answers are computed from."""
    _hosted(session, slug)
    view = service.register_dataset(session, slug, name, body.path, node.settings.data_dir)
    return DatasetOut(name=view.name, path=view.path, format=view.format)


@router.post("/participants/{slug}/privacy/datasets/{name}/queries", response_model=QueryOut, responses=problem_responses(401, 403, 404, 422))
def private_query(slug: Slug, name: DatasetName, body: QueryIn, caller: Caller, session: SessionDep) -> QueryOut:
    """A noisy count, histogram over declared bins, or bounded mean; charged to the caller's
    budget on this dataset, refused (403) once it is spent or if none was granted."""
    participant = session.get(Participant, slug)
    if participant is None or caller.audience != participant.did:
        raise Forbidden(f"private queries to {slug!r} are addressed to its DID")
    query = PrivateQuery(kind=body.query, epsilon=body.epsilon, column=body.column, bins=body.bins, lower=body.lower, upper=body.upper)
    result, left = service.answer(session, slug, name, caller.did, query)
    return QueryOut(dataset=name, query=body.query, epsilon=body.epsilon, remaining=left.remaining, **result)
