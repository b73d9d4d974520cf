"""What a provider releases for one transfer: checked, filtered at the source, fixed once.

`prepare` runs the enforcement (agreement, signatures, revocation, policy) and finds the
offering's data source; `release` then produces the payload, outside any database transaction
because it may read a large source:

- personal data (`containsPII`): the learners the source holds records about are sent to the
  consent service in one signed call; only the records of those whose consent for this purpose
  and this consumer is `given` at that moment are written to a staged payload file (in the
  source's format: CSV, JSON lines or Parquet), and the ids of the consent records that allowed
  them go to the ledger;
- a file without personal data is served as it is (its SHA-256 cached while it does not change);
- a query without personal data is staged whole.

Whatever cannot be checked is not released: an unreachable consent service, a purpose-less
agreement for personal data, an unreadable source each deny the transfer with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from dases.catalog import service as catalog
from dases.db import utcnow
from dases.errors import DasesError
from dases.identity.resolver import DidResolver
from dases.node import Node
from dases.transfer import sources
from dases.transfer.adapters import AgreementBook, ConsentGate
from dases.transfer.enforcement import enforce
from dases.transfer.models import DataSource, Transfer

EXTENSIONS = {"text/csv": "csv", "application/x-ndjson": "jsonl", "application/vnd.apache.parquet": "parquet"}


class Denied(Exception):
    """The transfer may not go on; `code` and `reason` go to the consumer and the ledger."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


@dataclass(frozen=True)
class Plan:
    transfer_id: str
    slug: str
    offering_id: str
    consumer_did: str
    purpose: str | None
    contains_pii: bool
    config: dict[str, Any]


@dataclass(frozen=True)
class Payload:
    path: Path
    sha256: str
    size: int
    media_type: str
    staged: bool
    record_count: int | None = None
    mtime_ns: int | None = None
    consent_record_ids: list[str] = field(default_factory=list)


def staging_dir(node: Node) -> Path:
    return node.settings.data_dir / "transfers" / "staged"


def prepare(session: Session, agreements: AgreementBook, resolver: DidResolver, transfer: Transfer) -> Plan:
    """The release plan of a provider's transfer, once enforcement allows it; Denied otherwise."""
    verdict = enforce(session, agreements, resolver, transfer)
    if not verdict.allowed:
        raise Denied(verdict.code, verdict.reason)
    offering_id = transfer.offering_id or ""
    source = session.get(DataSource, offering_id)
    if source is None or source.participant_slug != transfer.participant_slug:
        raise Denied("no-data-source", f"no data source is attached to the offering {offering_id}")
    try:
        offering = catalog.get_offering(session, transfer.participant_slug, offering_id)
    except DasesError as error:
        raise Denied("offering-unknown", error.detail) from error
    offered = {distribution.get("format") for distribution in offering.distributions}
    if transfer.format not in offered:
        raise Denied("format-not-offered", f"the offering is distributed as {', '.join(sorted(map(str, offered)))}, not {transfer.format}")
    return Plan(transfer.id, transfer.participant_slug, offering_id, transfer.counterparty_did, verdict.purpose, offering.contains_pii, dict(source.config))


def release(node: Node, consent: ConsentGate, plan: Plan) -> Payload:
    """The payload of the plan's transfer (see the module docstring); Denied with the reason."""
    try:
        if plan.contains_pii:
            return _personal(node, consent, plan)
        if plan.config.get("kind") == "file":
            return _file_as_is(node, plan)
        released = sources.stage(sources.records(plan.config, node.db), _staged_path(node, plan, plan.config))
        return Payload(released.path, released.sha256, released.size, released.media_type, True, released.record_count)
    except Denied:
        raise
    except (DasesError, OSError, SQLAlchemyError, UnicodeDecodeError) as error:
        detail = error.detail if isinstance(error, DasesError) else f"{type(error).__name__}: {error}"
        raise Denied("source-unreadable", f"the offering's data could not be read: {detail}"[:1000]) from error


def _staged_path(node: Node, plan: Plan, config: dict[str, Any]) -> Path:
    media_type = sources.records(config, node.db).media_type
    return staging_dir(node) / f"{plan.transfer_id}.{EXTENSIONS.get(media_type, 'bin')}"


def _personal(node: Node, consent: ConsentGate, plan: Plan) -> Payload:
    if not plan.purpose:
        raise Denied("purpose-missing", "personal data is released only for a purpose: the agreement names none")
    records = sources.records(plan.config, node.db)
    accounts = sources.learners(records)
    try:
        allowed = {learner.account: learner.record_id for learner in consent.allowed(node, plan.slug, plan.consumer_did, plan.purpose, accounts)} if accounts else {}
    except DasesError as error:
        raise Denied("consent-unavailable", f"the learners' consent could not be checked, so no personal data is released: {error.detail}") from error
    released = sources.stage(records, _staged_path(node, plan, plan.config), keep=lambda account: account in allowed)
    return Payload(
        released.path, released.sha256, released.size, released.media_type, True, released.record_count,
        consent_record_ids=sorted(set(allowed.values())),
    )


def _file_as_is(node: Node, plan: Plan) -> Payload:
    """The source file itself, with its SHA-256 from the cache while size and mtime are unchanged."""
    path = Path(plan.config["path"])
    stat = path.stat()
    with node.db.transaction() as session:
        source = session.get(DataSource, plan.offering_id)
        cached = source is not None and source.digest_size == stat.st_size and source.digest_mtime_ns == stat.st_mtime_ns
        sha256 = source.digest_sha256 if cached and source is not None else None
    if sha256 is None:
        sha256 = sources.file_digest(path)
        with node.db.transaction() as session:
            source = session.get(DataSource, plan.offering_id)
            if source is not None:
                source.digest_sha256, source.digest_size, source.digest_mtime_ns, source.updated_at = sha256, stat.st_size, stat.st_mtime_ns, utcnow()
    media_type = sources.MEDIA_TYPES.get(plan.config.get("format", ""), "application/octet-stream")
    return Payload(path, sha256, stat.st_size, media_type, False, mtime_ns=stat.st_mtime_ns)
