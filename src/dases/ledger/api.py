"""HTTP routes of the ledger: read, verify and export a participant's entries (admin only)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import StreamingResponse
from pydantic import AwareDatetime, BaseModel

from dases.errors import problem_responses
from dases.identity import service as identity
from dases.ledger import service
from dases.node import AdminDep, NodeDep, SessionDep

router = APIRouter(prefix="/participants/{slug}/ledger", tags=["ledger"], dependencies=[AdminDep])
Slug = Annotated[str, Path(min_length=1, max_length=63, pattern=r"^[a-z0-9][a-z0-9-]*$")]


class EntryOut(BaseModel):
    seq: int
    at: datetime
    kind: str
    body: dict[str, Any]
    prev_hash: str
    hash: str
    signature: str


class VerifyOut(BaseModel):
    ok: bool
    checked: int
    bad_seq: int | None
    problem: str | None


@router.get("", response_model=list[EntryOut], responses=problem_responses(401, 403, 404, 422))
def list_entries(
    slug: Slug,
    session: SessionDep,
    since_seq: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[EntryOut]:
    identity.get_participant(session, slug)
    return [EntryOut.model_validate(entry, from_attributes=True) for entry in service.entries(session, slug, since_seq=since_seq, limit=limit)]


@router.get("/verify", response_model=VerifyOut, responses=problem_responses(401, 403, 404))
def verify(slug: Slug, session: SessionDep) -> VerifyOut:
    """Walk the hash chain and check every signature: the first entry edited, deleted or moved."""
    identity.get_participant(session, slug)
    report = service.verify(session, slug)
    return VerifyOut(ok=report.ok, checked=report.checked, bad_seq=report.bad_seq, problem=report.problem)


@router.get(
    "/export",
    responses={**problem_responses(401, 403, 404, 422), 200: {"content": {"text/csv": {}, "application/x-ndjson": {}}}},
    response_class=StreamingResponse,
)
def export(
    slug: Slug,
    node: NodeDep,
    format: Literal["csv", "json"] = "csv",
    since: Annotated[AwareDatetime | None, Query(description="first instant included (with an offset)")] = None,
    until: Annotated[AwareDatetime | None, Query(description="first instant excluded (with an offset)")] = None,
) -> StreamingResponse:
    """Transfer entries as rows for billing and value sharing: CSV, or JSON lines."""
    with node.db.transaction() as session:
        identity.get_participant(session, slug)

    def rows() -> Any:
        with node.db.transaction() as session:
            yield from service.export(session, slug, format, since=since, until=until)

    media_type = "text/csv" if format == "csv" else "application/x-ndjson"
    return StreamingResponse(rows(), media_type=media_type, headers={"Content-Disposition": f'attachment; filename="ledger-{slug}.{format if format == "csv" else "jsonl"}"'})
