"""Data sources behind an offering, and releasing their data as one payload file.

Three kinds, declared by the provider's admin per offering:

- `file`: a CSV, JSON lines or Parquet file on the provider's machine (Parquet is read with
  Polars, a batch of rows at a time; it is checked to be Parquet when the source is declared);
- `sql`: one read-only, parameterised SELECT on a database the provider names by DSN. The query
  text is fixed when the source is declared and values only ever travel as bound parameters
  (`sqlalchemy.text`), never spliced into the SQL; it runs in a read-only transaction;
- `xapi`: a statement query (the xAPI GET /statements filters) on the provider's own LRS, on
  this node; the statements are released as JSON lines, each as the LRS stored it.

A source reads as records, each with the learner it is about (the `learner_field`: a column, or
a dotted path in a JSON record). Releasing personal data (`stage`) streams the records once into
a payload file under the data directory, keeping only the learners allowed, and computes the
file's SHA-256 and size on the way: constant memory, whatever the size of the source. A Parquet
source is released as Parquet: Polars' streaming engine filters it by learner and writes the
payload, which is then hashed.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, Protocol

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.engine import make_url

from dases.db import Database
from dases.errors import DasesError, FieldError, InvalidInput
from dases.lrs import service as lrs
from dases.types import Text

if TYPE_CHECKING:  # imported where a Parquet source is read: Polars costs ~40 MiB resident
    import polars as pl

MEDIA_TYPES = {"csv": "text/csv", "jsonl": "application/x-ndjson", "parquet": "application/vnd.apache.parquet"}
CHUNK = 1024 * 1024
#: Rows read at a time from a Parquet source.
PARQUET_BATCH = 65_536
FieldPath = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_@$-]+(\.[A-Za-z0-9_@$-]+)*$")]
ParameterValue = Text | int | float | bool | None


class SourceRefused(DasesError):
    """A source this node cannot serve (yet): the kind or the format is not available here."""

    status, slug, title = 422, "source-unavailable", "Data source unavailable"


class FileSourceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["file"]
    path: Text = Field(min_length=2, max_length=4096, description="Absolute path of the file on the provider's machine.")
    format: Literal["csv", "jsonl", "parquet"] | None = Field(default=None, description="Default: from the file name's extension.")
    learner_field: FieldPath | None = Field(default=None, description="The column (CSV, Parquet) or dotted path (JSON) holding the provider's id of the learner.")


class SqlSourceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["sql"]
    dsn: Text = Field(min_length=8, max_length=2048, description="SQLAlchemy URL of the provider's database (sqlite or postgresql).")
    query: Text = Field(min_length=6, max_length=20_000, description="One SELECT (or WITH ... SELECT); values as :named parameters.")
    parameters: dict[Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")], ParameterValue] = Field(default_factory=dict, max_length=50)
    format: Literal["csv", "jsonl"] = "jsonl"
    learner_field: FieldPath | None = None


class XapiSourceIn(BaseModel):
    """A statement query on the provider's LRS (xAPI 2.0 GET /statements parameters)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["xapi"]
    query: dict[Annotated[str, Field(pattern=r"^(verb|activity|registration|related_activities|related_agents|since|until|limit|format)$")], ParameterValue] = Field(default_factory=dict)
    learner_field: FieldPath = "actor.account.name"


SourceIn = Annotated[FileSourceIn | SqlSourceIn | XapiSourceIn, Field(discriminator="kind")]


# --- declaring a source ----------------------------------------------------------------------


def _refusal(field: str, rule: str, message: str) -> InvalidInput:
    return InvalidInput(message, errors=[FieldError(field, rule, message)])


def file_format(source: FileSourceIn) -> str:
    if source.format:
        return source.format
    suffix = Path(source.path).suffix.lower().lstrip(".")
    known = {"csv": "csv", "jsonl": "jsonl", "ndjson": "jsonl", "parquet": "parquet"}
    if suffix not in known:
        raise _refusal("format", "required", f"cannot tell the format of {Path(source.path).name!r} from its extension: give format (csv, jsonl or parquet)")
    return known[suffix]


_SELECT = re.compile(r"^\s*(select|with)\b", re.IGNORECASE)
_COMMENT = re.compile(r"--[^\n]*|/\*.*?\*/", re.DOTALL)


def check_select(query: str) -> str:
    """The query, if it is one SELECT statement; InvalidInput naming `query` otherwise.

    The database enforces read-only (the transaction is read-only); this check refuses early
    what cannot be a plain query, so the admin learns it when declaring the source."""
    bare = _COMMENT.sub(" ", query).strip()
    if bare.endswith(";"):
        bare = bare[:-1].rstrip()
    if ";" in bare:
        raise _refusal("query", "single_statement", "the query must be one statement (no ';' inside)")
    if not _SELECT.match(bare):
        raise _refusal("query", "select_only", "the query must be a SELECT (or WITH ... SELECT)")
    if re.search(r"\b(insert|update|delete|merge|create|drop|alter|grant|truncate|copy|attach|pragma|vacuum|call)\b", bare, re.IGNORECASE):
        raise _refusal("query", "read_only", "the query must only read: no data-changing or schema-changing keyword")
    return bare


def _xapi_parameters(query: dict[str, Any]) -> dict[str, str]:
    """The query as the text parameters xAPI would receive them in (booleans as true/false)."""
    return {name: ("true" if value else "false") if isinstance(value, bool) else str(value) for name, value in query.items() if value is not None}


def check_source(source: FileSourceIn | SqlSourceIn | XapiSourceIn, *, contains_pii: bool, data_dir: Path, store: str) -> dict[str, Any]:
    """The source's stored configuration, once it is known this node can serve it. `store` is
    the providing participant: an xAPI source reads that participant's own LRS, and no other."""
    if isinstance(source, XapiSourceIn):
        parameters = _xapi_parameters(source.query)
        try:
            lrs.statement_query(parameters)
        except DasesError as error:
            problem = error.errors[0] if error.errors else FieldError("query", "xapi_query", error.detail)
            raise _refusal(f"query.{problem.field}", problem.rule, error.detail) from error
        return {"kind": "xapi", "store": store, "query": parameters, "learner_field": source.learner_field}
    if contains_pii and not source.learner_field:
        raise _refusal("learner_field", "required_for_personal_data", "the offering contains personal data: name the field holding the learner's id, so that consent can be checked per learner")
    if isinstance(source, FileSourceIn):
        path = Path(source.path)
        if not path.is_absolute():
            raise _refusal("path", "absolute", "the path must be absolute")
        try:
            resolved = path.resolve()
            readable = resolved.is_file() and os.access(resolved, os.R_OK)
        except (OSError, RuntimeError):
            resolved, readable = path, False
        if resolved.is_relative_to(data_dir.resolve()):
            raise _refusal("path", "outside_data_dir", "the node's own data directory (keys, database) is never a data source")
        if not readable:
            raise _refusal("path", "readable_file", f"{source.path} is not a readable file")
        fmt = file_format(source)
        if fmt == "parquet":
            learner_column(parquet_schema(resolved), source.learner_field, resolved.name)
        return {**source.model_dump(), "path": str(resolved), "format": fmt}
    check_select(source.query)
    url = make_url(source.dsn)
    if url.get_backend_name() not in ("sqlite", "postgresql"):
        raise _refusal("dsn", "backend", "only sqlite and postgresql databases can be queried")
    placeholders = set(sa.text(source.query).compile().params)
    missing, extra = placeholders - set(source.parameters), set(source.parameters) - placeholders
    if missing or extra:
        detail = "; ".join(filter(None, [f"no value for {sorted(missing)}" if missing else "", f"no placeholder for {sorted(extra)}" if extra else ""]))
        raise _refusal("parameters", "match_placeholders", f"the parameters must match the query's :placeholders: {detail}")
    return source.model_dump()


def public_config(config: dict[str, Any]) -> dict[str, Any]:
    """The configuration without secrets: a DSN's password is masked."""
    if config.get("kind") == "sql":
        return {**config, "dsn": make_url(config["dsn"]).render_as_string(hide_password=True)}
    return config


def parquet_schema(path: Path) -> dict[str, pl.DataType]:
    """The columns of a Parquet file, read from its footer; InvalidInput naming `path` if the file
    is not Parquet (or is damaged past its footer)."""
    import polars as pl

    try:
        return dict(pl.read_parquet_schema(path))
    except pl.exceptions.PolarsError as error:
        raise _refusal("path", "parquet_file", f"{path.name} is not a readable Parquet file: {error}") from error


def learner_column(schema: dict[str, pl.DataType], learner_field: str | None, name: str) -> str | None:
    """The Parquet column holding the learner's id; InvalidInput naming `learner_field` if the
    file has no such column, or one of nested values (a list, a struct) that is no id."""
    import polars as pl

    if learner_field is None:
        return None
    if learner_field not in schema:
        raise _refusal("learner_field", "column", f"the Parquet source {name} has no column {learner_field!r} (its columns: {', '.join(schema)})"[:1000])
    if schema[learner_field].is_nested() or schema[learner_field] == pl.Object:
        raise _refusal("learner_field", "scalar_column", f"the column {learner_field!r} of {name} holds {schema[learner_field]} values, not learner ids")
    return learner_field


# --- reading records -------------------------------------------------------------------------


class Records(Protocol):
    """A source read as records: the payload's header, then (learner, record bytes) pairs."""

    media_type: str

    def header(self) -> bytes: ...

    def rows(self) -> Iterator[tuple[str | None, bytes]]: ...


def _account(value: Any) -> str | None:
    if value is None or isinstance(value, (dict, list)):
        return None
    text = str(value).strip()
    return text or None


def _dig(record: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(record, dict):
            return None
        record = record.get(part)
    return record


def _csv_line(values: list[Any]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer).writerow(values)
    return buffer.getvalue().encode()


@dataclass
class CsvRecords:
    """A CSV file with a header row; records are re-written as RFC 4180 lines."""

    path: Path
    learner_field: str | None
    media_type: str = MEDIA_TYPES["csv"]

    def _reader(self, handle: io.TextIOWrapper) -> tuple[list[str], Iterator[list[str]]]:
        reader = csv.reader(handle)
        names = next(reader, [])
        return names, reader

    def header(self) -> bytes:
        with self.path.open(newline="", encoding="utf-8") as handle:
            return _csv_line(self._reader(handle)[0])

    def rows(self) -> Iterator[tuple[str | None, bytes]]:
        with self.path.open(newline="", encoding="utf-8") as handle:
            names, reader = self._reader(handle)
            column = None
            if self.learner_field is not None:
                if self.learner_field not in names:
                    raise DasesError(f"the CSV source {self.path.name} has no column {self.learner_field!r}")
                column = names.index(self.learner_field)
            for values in reader:
                if not values:
                    continue
                account = _account(values[column]) if column is not None and column < len(values) else None
                yield account, _csv_line(values)


@dataclass
class JsonLinesRecords:
    """A JSON lines file; each record is released byte for byte as the provider wrote it."""

    path: Path
    learner_field: str | None
    media_type: str = MEDIA_TYPES["jsonl"]

    def header(self) -> bytes:
        return b""

    def rows(self) -> Iterator[tuple[str | None, bytes]]:
        with self.path.open("rb") as handle:
            for number, line in enumerate(handle, 1):
                line = line.rstrip(b"\r\n")
                if not line.strip():
                    continue
                account = None
                if self.learner_field is not None:
                    try:
                        account = _account(_dig(json.loads(line), self.learner_field))
                    except ValueError as error:
                        raise DasesError(f"line {number} of the JSON lines source {self.path.name} is not JSON: {error}") from error
                yield account, line + b"\n"


@dataclass
class ParquetRecords:
    """A Parquet file, read PARQUET_BATCH rows at a time and never whole.

    Its records are Parquet rows; `rows()` gives them as JSON lines, but a release (`stage`) stays
    Parquet: see `_stage_parquet`. The learner's id is the value of the `learner_field` column,
    as text (an integer id 42 is the account "42")."""

    path: Path
    learner_field: str | None
    media_type: str = MEDIA_TYPES["parquet"]

    def column(self) -> tuple[str | None, pl.DataType | None]:
        """The learner column and its type, checked against the file's schema as it is now."""
        schema = parquet_schema(self.path)
        column = learner_column(schema, self.learner_field, self.path.name)
        return column, schema[column] if column is not None else None

    def batches(self, columns: list[str] | None = None) -> Iterator[pl.DataFrame]:
        """The file's rows (only `columns`, when given), PARQUET_BATCH at a time, in order."""
        import polars as pl

        frame = pl.scan_parquet(self.path)
        if columns is not None:
            frame = frame.select(columns)
        try:
            total = pl.scan_parquet(self.path).select(pl.len()).collect().item()
            for offset in range(0, total, PARQUET_BATCH):
                yield frame.slice(offset, PARQUET_BATCH).collect()
        except pl.exceptions.PolarsError as error:
            raise DasesError(f"the Parquet source {self.path.name} cannot be read: {error}"[:1000]) from error

    def values(self) -> Iterator[Any]:
        """The distinct values of the learner column, in order of first appearance per batch."""
        column, _ = self.column()
        if column is None:
            return
        for batch in self.batches([column]):
            yield from batch.to_series().unique(maintain_order=True).to_list()

    def header(self) -> bytes:
        return b""

    def rows(self) -> Iterator[tuple[str | None, bytes]]:
        column, _ = self.column()
        for batch in self.batches():
            for record in batch.iter_rows(named=True):
                account = _account(record[column]) if column is not None else None
                yield account, json.dumps(record, default=str, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


@dataclass
class SqlRecords:
    """The rows of a read-only parameterised query, streamed from the database."""

    dsn: str
    query: str
    parameters: dict[str, Any]
    format: str
    learner_field: str | None

    @property
    def media_type(self) -> str:
        return MEDIA_TYPES[self.format]

    def header(self) -> bytes:
        return b""  # the CSV header is the first row's keys, written by rows()

    def rows(self) -> Iterator[tuple[str | None, bytes]]:
        engine = sa.create_engine(self.dsn)
        try:
            with engine.connect() as connection:
                _read_only(connection)
                result = connection.execution_options(stream_results=True, yield_per=1000).execute(sa.text(self.query), self.parameters)
                names = list(result.keys())
                if self.learner_field is not None and self.learner_field not in names:
                    raise DasesError(f"the query's result has no column {self.learner_field!r}")
                if self.format == "csv":
                    yield None, _csv_line(names)
                for row in result:
                    record = dict(zip(names, row, strict=True))
                    account = _account(record.get(self.learner_field)) if self.learner_field else None
                    if self.format == "csv":
                        yield account, _csv_line(list(row))
                    else:
                        yield account, json.dumps(record, default=str, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"
                connection.rollback()
        finally:
            engine.dispose()


def _read_only(connection: sa.Connection) -> None:
    """Make the connection's transaction read-only, on the backends that can say so."""
    backend = connection.dialect.name
    if backend == "postgresql":
        connection.execute(sa.text("SET TRANSACTION READ ONLY"))
    elif backend == "sqlite":
        connection.exec_driver_sql("PRAGMA query_only = ON")
    else:
        raise SourceRefused(f"queries on {backend} databases are not supported")


@dataclass
class XapiRecords:
    """The statements of the provider's LRS matching a query, as JSON lines, read a page at a
    time (keyset paging) in one read transaction, so memory stays flat however many match."""

    db: Database
    store: str
    query: dict[str, str]
    learner_field: str | None
    media_type: str = MEDIA_TYPES["jsonl"]

    def header(self) -> bytes:
        return b""

    def rows(self) -> Iterator[tuple[str | None, bytes]]:
        query = lrs.statement_query(self.query)
        with self.db.transaction() as session:
            for document in lrs.iter_statements(session, self.store, replace(query, ascending=True)):
                account = _account(_dig(json.loads(document), self.learner_field)) if self.learner_field else None
                yield account, document.encode() + b"\n"


def records(config: dict[str, Any], db: Database | None = None) -> Records:
    """The records of a stored source configuration (`db`: the node's storage, for xAPI sources)."""
    kind = config.get("kind")
    if kind == "xapi" and db is not None:
        return XapiRecords(db, config["store"], dict(config.get("query") or {}), config.get("learner_field"))
    if kind == "file":
        reader = {"csv": CsvRecords, "parquet": ParquetRecords}.get(config["format"], JsonLinesRecords)
        return reader(Path(config["path"]), config.get("learner_field"))
    if kind == "sql":
        return SqlRecords(config["dsn"], config["query"], dict(config.get("parameters") or {}), config.get("format", "jsonl"), config.get("learner_field"))
    raise SourceRefused(f"sources of kind {kind!r} cannot be read here")


# --- releasing -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Released:
    path: Path
    sha256: str
    size: int
    record_count: int
    media_type: str


def learners(source: Records) -> list[str]:
    """The distinct learners the source has records about, in order of first appearance."""
    if isinstance(source, ParquetRecords):  # only the learner column is read
        return list(dict.fromkeys(account for account in map(_account, source.values()) if account is not None))
    return list(dict.fromkeys(account for account, _ in source.rows() if account is not None))


def stage(source: Records, destination: Path, keep: Callable[[str | None], bool] | None = None) -> Released:
    """Write the records `keep` accepts (all when None) to `destination`, hashing as it goes.

    Written to a temporary name and renamed when complete, so a payload file either is whole or
    does not exist."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    temporary = destination.with_name(destination.name + ".tmp")
    if isinstance(source, ParquetRecords):
        return _stage_parquet(source, destination, temporary, keep)
    digest = hashlib.sha256()
    size = count = 0
    with temporary.open("wb", buffering=CHUNK) as out:
        header = source.header()
        out.write(header)
        digest.update(header)
        size += len(header)
        first_is_header = isinstance(source, SqlRecords) and source.format == "csv"
        for index, (account, line) in enumerate(source.rows()):
            if first_is_header and index == 0:
                pass
            elif keep is not None and not keep(account):
                continue
            else:
                count += 1
            out.write(line)
            digest.update(line)
            size += len(line)
        out.flush()
        os.fsync(out.fileno())
    os.replace(temporary, destination)
    return Released(destination, digest.hexdigest(), size, count, source.media_type)


def _stage_parquet(source: ParquetRecords, destination: Path, temporary: Path, keep: Callable[[str | None], bool] | None) -> Released:
    """A Parquet source released as a Parquet file of the rows `keep` accepts.

    `keep` is asked once per distinct learner value (read in batches, learner column only); the
    rows are then filtered and written by Polars' streaming engine (`sink_parquet`), in their
    order, without the file ever being loaded whole. The payload is hashed once written."""
    import polars as pl

    frame = pl.scan_parquet(source.path)
    if keep is not None:
        column, dtype = source.column()
        if column is None:
            condition = pl.lit(keep(None))
        else:
            kept = [value for value in dict.fromkeys(source.values()) if value is not None and keep(_account(value))]
            condition = pl.col(column).is_in(pl.lit(pl.Series(column, kept, dtype=dtype)).implode())
            if keep(None):  # rows with no learner id, asked like the CSV and JSON sources ask
                condition = condition | pl.col(column).is_null()
        frame = frame.filter(condition)
    try:
        frame.sink_parquet(temporary)
        count = pl.scan_parquet(temporary).select(pl.len()).collect().item()
    except pl.exceptions.PolarsError as error:
        temporary.unlink(missing_ok=True)
        raise DasesError(f"the Parquet source {source.path.name} cannot be read: {error}"[:1000]) from error
    with temporary.open("rb") as handle:
        os.fsync(handle.fileno())
        sha256 = hashlib.file_digest(handle, "sha256").hexdigest()
    size = temporary.stat().st_size
    os.replace(temporary, destination)
    return Released(destination, sha256, size, count, source.media_type)


def file_digest(path: Path) -> str:
    """The SHA-256 of a file, read in 1 MiB chunks."""
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()
