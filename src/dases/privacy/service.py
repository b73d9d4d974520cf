"""The pseudonymisation service (study domains, keys, batches, rotation) and the privacy budget
ledger of differentially private answers. No HTTP here.

Keys never leave this module in the clear: they are generated here, sealed under the node secret
before they reach the database, and opened only to build a `Pseudonymiser` for one batch.
Providers send identifiers and get pseudonyms; they never see a key, so no provider can compute a
domain's pseudonyms offline, nor another domain's at all (it is not admitted there).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from dases.db import utcnow
from dases.errors import (
    ConfigurationError,
    Conflict,
    DasesError,
    FieldError,
    Forbidden,
    InvalidInput,
    NotFound,
)
from dases.privacy.models import (
    PrivacyBudget,
    PrivacyCharge,
    PrivateDataset,
    PseudonymBatch,
    PseudonymDomain,
    PseudonymKey,
    PseudonymMember,
)
from dases.privacy.pseudonyms import KEY_BYTES, Pseudonymiser, parse_pseudonym

if TYPE_CHECKING:  # Polars is imported where a dataset is read: ~40 MiB resident
    import polars as pl

DOMAIN_PATTERN = r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$"
_DOMAIN = re.compile(DOMAIN_PATTERN)
_NONCE_BYTES = 12
MICRO = 1_000_000
T = TypeVar("T")


class PrivacyBudgetExhausted(DasesError):
    """The consumer has spent the epsilon granted on this dataset (or was granted none)."""

    status, slug, title = 403, "privacy-budget-exhausted", "Privacy budget exhausted"


class DomainKeySealer:
    """Seals pseudonym keys with AES-256-GCM under a key derived from the node secret, as
    participant private keys are (`dases.identity.keys.KeySealer`), with its own HKDF label so
    that the two kinds of sealed key cannot be opened as each other. The domain and version are
    the associated data: a sealed key copied onto another domain's row does not open."""

    def __init__(self, node_secret: bytes) -> None:
        if len(node_secret) < 16:
            raise ConfigurationError("the node secret must be at least 16 bytes long")
        derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"dases/keys/v1", info=b"pseudonym-key-seal").derive(node_secret)
        self._aead = AESGCM(derived)

    def __repr__(self) -> str:
        return "DomainKeySealer(<secret>)"

    @staticmethod
    def _label(domain: str, version: int) -> bytes:
        return f"pseudonym-key:{domain}:{version}".encode()

    def seal(self, key: bytes, domain: str, version: int) -> bytes:
        nonce = os.urandom(_NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, key, self._label(domain, version))

    def open(self, sealed: bytes, domain: str, version: int) -> bytes:
        try:
            return self._aead.decrypt(sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:], self._label(domain, version))
        except InvalidTag as error:
            raise ConfigurationError(
                f"the key of {domain} version {version} cannot be decrypted: the node secret differs from the one it was sealed with"
            ) from error


@dataclass(frozen=True)
class DomainView:
    name: str
    title: str
    version: int
    members: list[str]
    created_at: datetime


def _domain(session: Session, name: str) -> PseudonymDomain:
    domain = session.get(PseudonymDomain, name)
    if domain is None:
        raise NotFound(f"no study domain {name!r}")
    return domain


def _view(session: Session, domain: PseudonymDomain) -> DomainView:
    members = session.scalars(select(PseudonymMember.member_did).where(PseudonymMember.domain_name == domain.name).order_by(PseudonymMember.member_did))
    return DomainView(domain.name, domain.title, domain.version, list(members), domain.created_at)


def _add_key(session: Session, sealer: DomainKeySealer, name: str, version: int) -> None:
    session.add(PseudonymKey(domain_name=name, version=version, sealed_key=sealer.seal(os.urandom(KEY_BYTES), name, version)))


def create_domain(session: Session, sealer: DomainKeySealer, name: str, title: str) -> DomainView:
    if not _DOMAIN.match(name):
        raise InvalidInput(f"{name!r} is not a domain name", errors=[FieldError("name", "pattern", f"must match {DOMAIN_PATTERN}")])
    if session.get(PseudonymDomain, name) is not None:
        raise Conflict(f"the study domain {name!r} exists already")
    domain = PseudonymDomain(name=name, title=title, version=1, created_at=utcnow())
    session.add(domain)
    session.flush()
    _add_key(session, sealer, name, 1)
    session.flush()
    return _view(session, domain)


def list_domains(session: Session) -> list[DomainView]:
    return [_view(session, domain) for domain in session.scalars(select(PseudonymDomain).order_by(PseudonymDomain.name))]


def get_domain(session: Session, name: str) -> DomainView:
    return _view(session, _domain(session, name))


def admit(session: Session, name: str, member_did: str) -> DomainView:
    domain = _domain(session, name)
    if session.get(PseudonymMember, (name, member_did)) is None:
        session.add(PseudonymMember(domain_name=name, member_did=member_did))
        session.flush()
    return _view(session, domain)


def dismiss(session: Session, name: str, member_did: str) -> DomainView:
    domain = _domain(session, name)
    member = session.get(PseudonymMember, (name, member_did))
    if member is None:
        raise NotFound(f"{member_did} is not admitted to {name!r}")
    session.delete(member)
    session.flush()
    return _view(session, domain)


def rotate(session: Session, sealer: DomainKeySealer, name: str) -> DomainView:
    """A new key version becomes current; the previous one is retired but kept, because the
    current pseudonyms are chained through it (see `dases.privacy.pseudonyms`)."""
    domain = session.scalars(select(PseudonymDomain).where(PseudonymDomain.name == name).with_for_update()).first()
    if domain is None:
        raise NotFound(f"no study domain {name!r}")
    now = utcnow()
    session.execute(update(PseudonymKey).where(PseudonymKey.domain_name == name, PseudonymKey.version == domain.version).values(retired_at=now))
    domain.version += 1
    _add_key(session, sealer, name, domain.version)
    session.flush()
    return _view(session, domain)


def _admitted(session: Session, name: str, member_did: str) -> PseudonymDomain:
    domain = _domain(session, name)
    if session.get(PseudonymMember, (name, member_did)) is None:
        raise Forbidden(f"{member_did} is not admitted to the study domain {name!r}")
    return domain


def pseudonymiser(session: Session, sealer: DomainKeySealer, name: str) -> Pseudonymiser:
    rows = session.scalars(select(PseudonymKey).where(PseudonymKey.domain_name == name).order_by(PseudonymKey.version)).all()
    keys = [sealer.open(row.sealed_key, name, row.version) for row in rows]
    if [row.version for row in rows] != list(range(1, len(rows) + 1)):
        raise ConfigurationError(f"the key versions of {name!r} are not contiguous from 1")
    return Pseudonymiser(name, keys)


@dataclass(frozen=True)
class Pseudonyms:
    domain: str
    version: int
    pseudonyms: list[str]


def _record(session: Session, name: str, member_did: str, kind: str, version: int, count: int) -> None:
    session.add(PseudonymBatch(domain_name=name, member_did=member_did, kind=kind, version=version, count=count))


def pseudonymise(session: Session, sealer: DomainKeySealer, name: str, member_did: str, identifiers: Sequence[str]) -> Pseudonyms:
    """The domain's current pseudonyms of these identifiers, in the same order, for an admitted member."""
    _admitted(session, name, member_did)
    engine = pseudonymiser(session, sealer, name)
    result = engine.pseudonymise(identifiers)
    _record(session, name, member_did, "pseudonymise", engine.version, len(identifiers))
    return Pseudonyms(name, engine.version, result)


def rekey(session: Session, sealer: DomainKeySealer, name: str, member_did: str, pseudonyms: Sequence[str]) -> Pseudonyms:
    """Old pseudonyms of the domain carried to its current key version, in the same order; for
    an admitted member re-keying the pseudonymised data it holds."""
    domain = _admitted(session, name, member_did)
    parsed = []
    errors = []
    for index, pseudonym in enumerate(pseudonyms):
        pair = parse_pseudonym(pseudonym)
        if pair is None:
            errors.append(FieldError(f"pseudonyms[{index}]", "pattern", "a pseudonym reads ps<version>_<32 hex digits>"))
        elif pair[0] > domain.version:
            errors.append(FieldError(f"pseudonyms[{index}]", "version", f"{name!r} has no key version {pair[0]} (current: {domain.version})"))
        else:
            parsed.append(pair)
    if errors:
        raise InvalidInput(f"{len(errors)} pseudonym(s) cannot be re-keyed: {errors[0].field}: {errors[0].message}", errors=errors[:20])
    engine = pseudonymiser(session, sealer, name)
    result = engine.rekey(parsed)
    _record(session, name, member_did, "rekey", engine.version, len(parsed))
    return Pseudonyms(name, engine.version, result)


def batches(session: Session, name: str) -> list[PseudonymBatch]:
    return list(session.scalars(select(PseudonymBatch).where(PseudonymBatch.domain_name == name).order_by(PseudonymBatch.id)))


# --- privacy budgets -----------------------------------------------------------------------


@dataclass(frozen=True)
class BudgetView:
    dataset: str
    consumer: str
    epsilon: float
    spent: float

    @property
    def remaining(self) -> float:
        return max(self.epsilon - self.spent, 0.0)


def to_micro(epsilon: float) -> int:
    return round(epsilon * MICRO)


def _budget_view(row: PrivacyBudget) -> BudgetView:
    return BudgetView(row.dataset, row.consumer, row.total_micro / MICRO, row.spent_micro / MICRO)


def grant(session: Session, slug: str, dataset: str, consumer: str, epsilon: float) -> BudgetView:
    """Set the total epsilon a consumer may spend on a dataset (what it spent stays spent)."""
    if not 0 <= epsilon <= 1000:
        raise InvalidInput("a budget's epsilon is between 0 and 1000", errors=[FieldError("epsilon", "range", "0 <= epsilon <= 1000")])
    row = session.get(PrivacyBudget, (slug, dataset, consumer))
    if row is None:
        row = PrivacyBudget(participant_slug=slug, dataset=dataset, consumer=consumer, total_micro=to_micro(epsilon), spent_micro=0)
        session.add(row)
    else:
        row.total_micro = to_micro(epsilon)
    session.flush()
    return _budget_view(row)


def budget(session: Session, slug: str, dataset: str, consumer: str) -> BudgetView:
    row = session.get(PrivacyBudget, (slug, dataset, consumer))
    if row is None:
        raise NotFound(f"{consumer} has no privacy budget on {dataset!r}")
    return _budget_view(row)


def budgets(session: Session, slug: str) -> list[BudgetView]:
    rows = session.scalars(select(PrivacyBudget).where(PrivacyBudget.participant_slug == slug).order_by(PrivacyBudget.dataset, PrivacyBudget.consumer))
    return [_budget_view(row) for row in rows]


def spend(session: Session, slug: str, dataset: str, consumer: str, epsilon: float, query: str) -> BudgetView:
    """Charge one query to the budget, or refuse it. One conditional UPDATE does the check and
    the charge, so two concurrent queries cannot both spend the last of a budget."""
    amount = to_micro(epsilon)
    if amount <= 0:
        raise InvalidInput("a query spends a positive epsilon", errors=[FieldError("epsilon", "positive", "epsilon > 0")])
    key = (PrivacyBudget.participant_slug == slug, PrivacyBudget.dataset == dataset, PrivacyBudget.consumer == consumer)
    charged = session.execute(
        update(PrivacyBudget)
        .where(*key, PrivacyBudget.spent_micro + amount <= PrivacyBudget.total_micro)
        .values(spent_micro=PrivacyBudget.spent_micro + amount, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if charged.rowcount != 1:  # type: ignore[attr-defined]
        row = session.get(PrivacyBudget, (slug, dataset, consumer))
        if row is None:
            raise PrivacyBudgetExhausted(f"{consumer} was granted no privacy budget on {dataset!r}")
        left = (row.total_micro - row.spent_micro) / MICRO
        raise PrivacyBudgetExhausted(
            f"this query needs epsilon {epsilon:g} but {consumer} has {left:g} left of {row.total_micro / MICRO:g} on {dataset!r}"
        )
    session.add(PrivacyCharge(participant_slug=slug, dataset=dataset, consumer=consumer, query=query[:200], epsilon_micro=amount))
    session.flush()
    row = session.get(PrivacyBudget, (slug, dataset, consumer))
    assert row is not None
    session.refresh(row)
    return _budget_view(row)


def release(session: Session, slug: str, dataset: str, consumer: str, epsilon: float, query: str, answer: Callable[[], T]) -> T:
    """Charge the budget, then compute the noisy answer, in the caller's transaction: an answer
    that fails (bad column, bad bounds) rolls its charge back with it."""
    spend(session, slug, dataset, consumer, epsilon, query)
    return answer()


# --- datasets answered with differential privacy ---------------------------------------------

FORMATS = {".csv": "csv", ".parquet": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl"}


@dataclass(frozen=True)
class DatasetView:
    name: str
    path: str
    format: str


def register_dataset(session: Session, slug: str, name: str, path: str, data_dir: Path) -> DatasetView:
    """Declare (or move) a dataset: an absolute path to a readable CSV, JSON lines or Parquet
    file, outside the node's own data directory (its keys and database are never data)."""
    candidate = Path(path)
    if not candidate.is_absolute():
        raise InvalidInput("the path must be absolute", errors=[FieldError("path", "absolute", "an absolute path")])
    try:
        resolved = candidate.resolve()
        readable = resolved.is_file() and os.access(resolved, os.R_OK)
    except (OSError, RuntimeError):
        resolved, readable = candidate, False
    if resolved.is_relative_to(data_dir.resolve()):
        raise InvalidInput("the node's data directory is never a dataset", errors=[FieldError("path", "outside_data_dir", "a file outside the node's data directory")])
    if not readable:
        raise InvalidInput(f"{path} is not a readable file", errors=[FieldError("path", "readable_file", "a readable file")])
    fmt = FORMATS.get(resolved.suffix.lower())
    if fmt is None:
        raise InvalidInput(f"{resolved.name} is not .csv, .jsonl or .parquet", errors=[FieldError("path", "format", "a .csv, .jsonl or .parquet file")])
    row = session.get(PrivateDataset, (slug, name))
    if row is None:
        row = PrivateDataset(participant_slug=slug, name=name, path=str(resolved), format=fmt)
        session.add(row)
    else:
        row.path, row.format = str(resolved), fmt
    session.flush()
    return DatasetView(name, row.path, row.format)


def read_dataset(session: Session, slug: str, name: str) -> pl.DataFrame:
    import polars as pl

    row = session.get(PrivateDataset, (slug, name))
    if row is None:
        raise NotFound(f"no dataset {name!r} answers private queries here")
    try:
        if row.format == "parquet":
            return pl.read_parquet(row.path)
        if row.format == "jsonl":
            return pl.read_ndjson(row.path)
        return pl.read_csv(row.path, infer_schema_length=0)
    except (OSError, pl.exceptions.PolarsError) as error:
        raise ConfigurationError(f"the dataset {name!r} cannot be read from its file: {type(error).__name__}") from error


@dataclass(frozen=True)
class PrivateQuery:
    """One differentially private question; which fields it needs depends on `kind`."""

    kind: Literal["count", "histogram", "mean"]
    epsilon: float
    column: str | None = None
    bins: list[str] = field(default_factory=list)
    lower: float | None = None
    upper: float | None = None

    def check(self, frame: pl.DataFrame) -> None:
        """Refuse a malformed query before any epsilon is charged."""
        from dases.privacy import dp

        dp.check_epsilon(self.epsilon)
        if self.kind == "count":
            return
        if self.column is None:
            raise InvalidInput(f"a {self.kind} names a column", errors=[FieldError("column", "required", f"required for {self.kind}")])
        if self.column not in frame.columns:
            raise InvalidInput(f"the dataset has no column {self.column!r}", errors=[FieldError("column", "present", "a column of the dataset")])
        if self.kind == "histogram" and (not self.bins or len(set(self.bins)) != len(self.bins)):
            raise InvalidInput("declare the histogram's bins, each once", errors=[FieldError("bins", "unique_non_empty", "a non-empty list of distinct values")])
        if self.kind == "mean" and (self.lower is None or self.upper is None or not self.lower < self.upper):
            raise InvalidInput("a mean declares its bounds, lower < upper", errors=[FieldError("lower", "bounds", "lower < upper, both given")])


def answer(session: Session, slug: str, name: str, consumer: str, query: PrivateQuery) -> tuple[dict[str, Any], BudgetView]:
    """The noisy answer and the budget left, the epsilon charged in the caller's transaction."""
    from dases.privacy import dp

    if session.get(PrivacyBudget, (slug, name, consumer)) is None:  # before reading any file
        raise PrivacyBudgetExhausted(f"{consumer} was granted no privacy budget on {name!r}")
    frame = read_dataset(session, slug, name)
    query.check(frame)

    def compute() -> dict[str, Any]:
        if query.kind == "count":
            return {"value": dp.count(frame, query.epsilon).value}
        if query.kind == "histogram":
            noisy = dp.histogram(frame, str(query.column), query.bins, query.epsilon)
            return {"bins": noisy.bins, "counts": noisy.counts}
        assert query.lower is not None and query.upper is not None
        return {"value": dp.bounded_mean(frame, str(query.column), query.lower, query.upper, query.epsilon).value}

    result = release(session, slug, name, consumer, query.epsilon, f"{query.kind}:{query.column or ''}", compute)
    return result, budget(session, slug, name, consumer)
