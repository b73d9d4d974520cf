"""Full-text and faceted search over catalog entries, on SQLite and PostgreSQL alike.

What a search costs, and why:

- **Text** goes through the database's own full-text index: an FTS5 virtual table on SQLite,
  a weighted `tsvector` column with a GIN index on PostgreSQL. Query words are reduced to
  letters and digits (no query syntax reaches the index), all must match, and words of three
  characters or more match as prefixes ("learn" finds "learning").
- **Filters** (category, provider, PII, kind, keyword) are opaque tags: FTS5 terms of a `tags`
  column on SQLite, a GIN-indexed jsonb array on PostgreSQL. So a filtered query is one index
  lookup, never a scan of the entries.
- **Counts.** Without text or keyword, the total and every facet count are sums over
  `catalog_facet_count` (one row per combination of facet values, kept in step with the
  entries in the same transaction): their cost depends on how varied the catalog is, not on
  its size. With text (or a keyword), PostgreSQL counts the total and every facet exactly in
  the one scan that finds the matches; SQLite counts the total in the FTS5 index, and facet
  counts, which cost a row lookup per match there, are exact up to `facet_sample` matches and,
  beyond, estimated from an evenly spread sample of that size (`facets_exact` says which).
- **Order.** Text queries rank by relevance (bm25 / ts_rank; title over keywords over
  description). Scoring is per match, so when more than `rank_window` entries match, only the
  newest `rank_window` are ranked and the older ones follow, newest first. Browsing and
  filter-only queries list the newest entries first.

Entries are indexed and unindexed by `entries_added` / `entries_removed`, called by the
services in the transaction that writes the entries.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from dases.catalog.models import (
    DataCategory,
    FacetCount,
    FederatedOffering,
    Offering,
    OfferingKind,
    OfferingStatus,
    SearchableEntry,
    ServiceCategory,
    category_mask,
)

LOCAL, FEDERATED = "local", "federated"
#: Text queries matching more entries than this rank only the newest this many by relevance.
RANK_WINDOW = 2000
#: Facet counts of text queries are exact up to this many matches, estimated from a sample beyond.
FACET_SAMPLE = 2000
MAX_TERMS = 8
MAX_PROVIDER_FACETS = 50
#: bm25 weights of the FTS5 columns title, keywords, description, tags.
BM25_WEIGHTS = (10.0, 5.0, 1.0, 0.0)
_WORD = re.compile(r"[^\W_]+")

Entry = TypeVar("Entry", bound=SearchableEntry)


@dataclass(frozen=True)
class SearchIndex(Generic[Entry]):
    """Where one scope's entries live: their table, and its FTS5 table on SQLite."""

    model: type[Entry]
    fts_table: str
    scope: str

    def visible(self) -> list[sa.ColumnElement[bool]]:
        if issubclass(self.model, Offering):
            return [self.model.status == OfferingStatus.ACTIVE.value]
        return []


LOCAL_INDEX: SearchIndex[Offering] = SearchIndex(Offering, "offering_fts", LOCAL)
FEDERATED_INDEX: SearchIndex[FederatedOffering] = SearchIndex(FederatedOffering, "federated_offering_fts", FEDERATED)


@dataclass(frozen=True)
class SearchQuery:
    text: str | None = None
    data_category: DataCategory | None = None
    service_category: ServiceCategory | None = None
    provider: str | None = None
    contains_pii: bool | None = None
    kind: OfferingKind | None = None
    keyword: str | None = None
    limit: int = 20
    offset: int = 0


@dataclass
class Facets:
    """Entry counts per facet value, largest first; values with no entry are left out."""

    data_category: dict[str, int] = field(default_factory=dict)
    service_category: dict[str, int] = field(default_factory=dict)
    provider: dict[str, int] = field(default_factory=dict)
    kind: dict[str, int] = field(default_factory=dict)
    contains_pii: dict[str, int] = field(default_factory=dict)


@dataclass
class SearchPage(Generic[Entry]):
    total: int
    entries: list[Entry]
    facets: Facets
    facets_exact: bool


# --- what gets indexed ---------------------------------------------------------------------


def normalize_keyword(keyword: str) -> str:
    return " ".join(keyword.lower().split())


def tag(facet: str, value: str) -> str:
    """The index key of one facet value: letters and digits only, so FTS5 keeps it one term."""
    return "t" + hashlib.blake2b(f"{facet}\x1f{value}".encode(), digest_size=8).hexdigest()


def prepare(entry: SearchableEntry) -> None:
    """Derive the counting and filtering columns of an entry from its readable ones."""
    entry.data_mask = category_mask(entry.data_categories, DataCategory)
    entry.service_mask = category_mask(entry.service_categories, ServiceCategory)
    entry.tags = sorted(
        {
            tag("kind", entry.kind),
            tag("contains_pii", "true" if entry.contains_pii else "false"),
            tag("provider", entry.provider_did),
            *(tag("data_category", value) for value in entry.data_categories),
            *(tag("service_category", value) for value in entry.service_categories),
            *(tag("keyword", normalize_keyword(value)) for value in entry.keywords),
        }
    )


def entries_added(session: Session, index: SearchIndex[Any], entries: Sequence[SearchableEntry]) -> None:
    """Index entries just flushed (their `pk` is known), in the caller's transaction."""
    if not entries:
        return
    if _dialect(session) == "sqlite":
        session.execute(
            sa.text(f"INSERT INTO {index.fts_table} (rowid, title, keywords, description, tags) VALUES (:pk, :title, :keywords, :description, :tags)"),
            [
                {"pk": e.pk, "title": e.title, "keywords": " ; ".join(e.keywords), "description": e.description, "tags": " ".join(e.tags)}
                for e in entries
            ],
        )
    _adjust_counts(session, index.scope, entries, +1)


def entries_removed(session: Session, index: SearchIndex[Any], entries: Sequence[SearchableEntry]) -> None:
    """Take entries out of the index (before they are deleted, or once they are retired)."""
    if not entries:
        return
    if _dialect(session) == "sqlite":
        session.execute(sa.text(f"DELETE FROM {index.fts_table} WHERE rowid = :pk"), [{"pk": e.pk} for e in entries])
    _adjust_counts(session, index.scope, entries, -1)


def rebuild(session: Session, index: SearchIndex[Any]) -> int:
    """Rebuild a scope's full-text rows and facet counts from its entries; returns how many."""
    if _dialect(session) == "sqlite":
        session.execute(sa.text(f"DELETE FROM {index.fts_table}"))
    session.execute(sa.delete(FacetCount).where(FacetCount.scope == index.scope))
    entries = list(session.scalars(sa.select(index.model).where(*index.visible())))
    for entry in entries:
        prepare(entry)
    session.flush()
    entries_added(session, index, entries)
    return len(entries)


def _combo(entry: SearchableEntry) -> tuple[str, str, bool, int, int]:
    return (entry.provider_did, entry.kind, bool(entry.contains_pii), entry.data_mask, entry.service_mask)


def _adjust_counts(session: Session, scope: str, entries: Iterable[SearchableEntry], sign: int) -> None:
    counts = Counter(_combo(entry) for entry in entries)
    insert = sqlite_insert if _dialect(session) == "sqlite" else postgresql_insert
    statement = insert(FacetCount)
    statement = statement.on_conflict_do_update(
        index_elements=["scope", "provider_did", "kind", "contains_pii", "data_mask", "service_mask"],
        set_={"n": FacetCount.n + statement.excluded.n},
    )
    rows = [
        {"scope": scope, "provider_did": p, "kind": k, "contains_pii": pii, "data_mask": d, "service_mask": s, "n": sign * n}
        for (p, k, pii, d, s), n in sorted(counts.items())  # one order for every writer: no deadlock between them
    ]
    session.execute(statement, rows)
    if sign < 0:
        session.execute(sa.delete(FacetCount).where(FacetCount.scope == scope, FacetCount.n <= 0))


# --- how a query reads the index -----------------------------------------------------------


def terms(text: str | None) -> list[str]:
    """The words of a query, lowercased, without repeats, at most MAX_TERMS of them."""
    seen: dict[str, None] = {}
    for word in _WORD.findall((text or "").lower()):
        if len(word) <= 64:
            seen.setdefault(word, None)
    return list(seen)[:MAX_TERMS]


def query_tags(query: SearchQuery) -> list[str]:
    tags = []
    if query.kind is not None:
        tags.append(tag("kind", query.kind.value))
    if query.contains_pii is not None:
        tags.append(tag("contains_pii", "true" if query.contains_pii else "false"))
    if query.provider is not None:
        tags.append(tag("provider", query.provider))
    if query.data_category is not None:
        tags.append(tag("data_category", query.data_category.value))
    if query.service_category is not None:
        tags.append(tag("service_category", query.service_category.value))
    if query.keyword is not None:
        tags.append(tag("keyword", normalize_keyword(query.keyword)))
    return tags


@dataclass(frozen=True)
class _Matches:
    """The pks of the visible entries matching a query, and how to rank them."""

    select: sa.Select[Any]
    pk: sa.ColumnElement[int]
    best_first: sa.ColumnElement[Any] | None
    #: On PostgreSQL, the conditions on the entry table itself: one scan with them counts the
    #: matches and every facet exactly. (On SQLite the matches come from the FTS5 table, and
    #: counting facets means a lookup per match, hence the sample.)
    conditions: list[sa.ColumnElement[bool]] | None = None


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def _fts_phrase(word: str) -> str:
    return f'"{word}"*' if len(word) >= 3 else f'"{word}"'


def _matches(session: Session, index: SearchIndex[Any], words: list[str], tags: list[str]) -> _Matches:
    if _dialect(session) == "sqlite":
        parts = []
        if words:
            parts.append("{title keywords description} : (" + " AND ".join(_fts_phrase(w) for w in words) + ")")
        parts.extend(f'tags : "{t}"' for t in tags)
        fts = sa.table(index.fts_table, sa.column("rowid"))
        target = sa.literal_column(index.fts_table)
        bm25 = sa.func.bm25(target, *BM25_WEIGHTS)
        select = sa.select(fts.c.rowid.label("pk")).where(target.op("MATCH")(" AND ".join(parts)))
        return _Matches(select, fts.c.rowid, bm25.asc() if words else None)
    model = index.model
    conditions = index.visible()
    rank = None
    if words:
        vector = sa.literal_column(f"{model.__tablename__}.search_vector")
        query = sa.func.to_tsquery(sa.literal_column("'simple'::regconfig"), " & ".join(f"'{w}':*" if len(w) >= 3 else f"'{w}'" for w in words))
        conditions.append(vector.op("@@")(query))
        rank = sa.func.ts_rank(vector, query).desc()
    if tags:
        conditions.append(sa.type_coerce(model.tags, JSONB).contains(tags))
    return _Matches(sa.select(model.pk.label("pk")).where(*conditions), model.pk, rank, conditions)


def _pks(session: Session, select: sa.Select[Any]) -> list[int]:
    return list(session.connection().execute(select).scalars())


def _ranked_page(session: Session, matches: _Matches, total: int, limit: int, offset: int, window: int) -> list[int]:
    assert matches.best_first is not None
    ranked = matches.select.order_by(matches.best_first, matches.pk.desc())
    if total <= window:
        return _pks(session, ranked.limit(limit).offset(offset))
    cutoff = session.scalar(matches.select.order_by(matches.pk.desc()).offset(window - 1).limit(1))
    if cutoff is None:  # entries went away since they were counted
        return _pks(session, ranked.limit(limit).offset(offset))
    page: list[int] = []
    if offset < window:
        page += _pks(session, ranked.where(matches.pk >= cutoff).limit(min(limit, window - offset)).offset(offset))
    if offset + limit > window:
        older = matches.select.where(matches.pk < cutoff).order_by(matches.pk.desc())
        page += _pks(session, older.limit(offset + limit - max(offset, window)).offset(max(0, offset - window)))
    return page


@cache
def _facet_sums(table: type[Any]) -> sa.Select[Any]:
    """Per provider, sums of a weight (1 per entry, or the running count `n`) for every facet
    value: one pass over the rows however many facets there are. Built once, since building
    these expressions costs more than running them."""
    weight: Any = table.n if table is FacetCount else sa.literal_column("1")

    def when(condition: sa.ColumnElement[bool]) -> sa.ColumnElement[int]:
        return sa.func.sum(sa.case((condition, weight), else_=0))

    return sa.select(
        table.provider_did,
        sa.func.sum(weight),
        when(table.contains_pii.is_(True)),
        *(when(table.data_mask.op("&")(1 << bit) != 0) for bit in range(len(DataCategory))),
        *(when(table.service_mask.op("&")(1 << bit) != 0) for bit in range(len(ServiceCategory))),
        *(when(table.kind == kind.value) for kind in OfferingKind),
    ).group_by(table.provider_did)


def _count_facets(session: Session, table: type[Any], where: list[sa.ColumnElement[bool]]) -> tuple[int, Facets]:
    """Total and per-value counts over the rows of `table` selected by `where`."""
    statement = _facet_sums(table)
    rows = session.connection().execute(statement.where(*where)).all()  # Core: numbers, not entities
    sums = [sum(int(row[column]) for row in rows) for column in range(1, len(statement.selected_columns))]
    total, pii, counts = sums[0], sums[1], sums[2:]
    data, services, kinds = list(DataCategory), list(ServiceCategory), list(OfferingKind)
    providers = sorted(((row[0], int(row[1])) for row in rows), key=lambda pair: (-pair[1], pair[0]))
    facets = Facets(
        data_category=_nonzero(zip(data, counts[: len(data)])),
        service_category=_nonzero(zip(services, counts[len(data) : len(data) + len(services)])),
        provider=_nonzero(providers[:MAX_PROVIDER_FACETS]),
        kind=_nonzero(zip(kinds, counts[len(data) + len(services) :])),
        contains_pii=_nonzero([("true", pii), ("false", total - pii)]),
    )
    return total, facets


def _nonzero(pairs: Iterable[tuple[Any, int]]) -> dict[str, int]:
    kept = [(str(key), n) for key, n in pairs if n > 0]
    return dict(sorted(kept, key=lambda pair: (-pair[1], pair[0])))


def _scaled(facets: Facets, factor: float) -> Facets:
    def scale(counts: dict[str, int]) -> dict[str, int]:
        return _nonzero((key, round(n * factor)) for key, n in counts.items())

    return Facets(*(scale(getattr(facets, name)) for name in ("data_category", "service_category", "provider", "kind", "contains_pii")))


def _counted_facets(index: SearchIndex[Any], query: SearchQuery) -> list[sa.ColumnElement[bool]]:
    """The running counts of the scope, restricted to the query's filters."""
    where: list[sa.ColumnElement[bool]] = [FacetCount.scope == index.scope]
    if query.provider is not None:
        where.append(FacetCount.provider_did == query.provider)
    if query.kind is not None:
        where.append(FacetCount.kind == query.kind.value)
    if query.contains_pii is not None:
        where.append(FacetCount.contains_pii.is_(query.contains_pii))
    if query.data_category is not None:
        where.append(FacetCount.data_mask.op("&")(1 << list(DataCategory).index(query.data_category)) != 0)
    if query.service_category is not None:
        where.append(FacetCount.service_mask.op("&")(1 << list(ServiceCategory).index(query.service_category)) != 0)
    return where


def search(
    session: Session,
    index: SearchIndex[Entry],
    query: SearchQuery,
    *,
    rank_window: int = RANK_WINDOW,
    facet_sample: int = FACET_SAMPLE,
) -> SearchPage[Entry]:
    """One page of the entries matching `query`, with the total and the facet counts."""
    model = index.model
    words = terms(query.text)
    tags = query_tags(query)
    facets_exact = True
    if not words and query.keyword is None:
        total, facets = _count_facets(session, FacetCount, _counted_facets(index, query))
        if tags:
            matches = _matches(session, index, [], tags)
            pks = _pks(session, matches.select.order_by(matches.pk.desc()).limit(query.limit).offset(query.offset))
        else:
            newest = sa.select(model.pk).where(*index.visible()).order_by(model.pk.desc())
            pks = _pks(session, newest.limit(query.limit).offset(query.offset))
    else:
        matches = _matches(session, index, words, tags)
        if matches.conditions is not None:
            total, facets = _count_facets(session, model, matches.conditions)
        else:
            total = session.scalar(sa.select(sa.func.count()).select_from(matches.select.subquery())) or 0
        if total == 0:
            return SearchPage(total=0, entries=[], facets=Facets(), facets_exact=True)
        if matches.best_first is not None:
            pks = _ranked_page(session, matches, total, query.limit, query.offset, rank_window)
        else:
            pks = _pks(session, matches.select.order_by(matches.pk.desc()).limit(query.limit).offset(query.offset))
        if matches.conditions is None:
            step = 1 if total <= facet_sample else math.ceil(total / facet_sample)
            sample = matches.select if step == 1 else matches.select.where(matches.pk % step == 0)
            counted, facets = _count_facets(session, model, [model.pk.in_(sample)])
            if step > 1:
                facets_exact = False
                facets = _scaled(facets, total / counted if counted else 0.0)
    return SearchPage(total=total, entries=_load(session, model, pks), facets=facets, facets_exact=facets_exact)


def _load(session: Session, model: type[Entry], pks: list[int]) -> list[Entry]:
    if not pks:
        return []
    rows = {row.pk: row for row in session.scalars(sa.select(model).where(model.pk.in_(pks)))}
    return [rows[pk] for pk in pks if pk in rows]
