"""A pooled study: providers' shares gathered, pseudonymised with the study key, made
k-anonymous, then used to train, with nothing identifying leaving the pooling space.

The order is the point:

1. each provider's share arrives (by transfer, or from its local export) in the pooling space;
2. raw learner ids are replaced by the study's pseudonyms, from the pseudonymisation service
   (the same learner at two providers gets one pseudonym, so their rows link);
3. the learners' quasi-identifiers (gender, region, education, IMD band, age band, disability)
   are generalised, and rows suppressed, until every combination is shared by at least `k`
   registrations, by `dases.privacy.anonymity` with the least information loss; k is checked
   again on the released rows, and the study refuses to go on below it;
4. every pooled table is scanned for the raw ids and for direct identifiers before training;
5. only then are features built and the model trained; the model card reports the k reached,
   the loss, and the consent coverage.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import ibis
import polars as pl

from dases.errors import InvalidInput
from dases.pooling.features import LEARNER, RAW_ID, OuladTables, Pseudonymise
from dases.pooling.providers import ProviderShare
from dases.pooling.service import DropoutStudy, study_from_shares
from dases.privacy.anonymity import generalise, k_anonymity
from dases.privacy.hierarchies import OULAD_QUASI_IDENTIFIERS, oulad_hierarchies

#: The OULAD tables a share is made of, and their files.
OULAD_FILES = {
    "student_info": "studentInfo.csv",
    "registrations": "studentRegistration.csv",
    "assessments": "assessments.csv",
    "submissions": "studentAssessment.csv",
    "courses": "courses.csv",
}
#: Columns that identify a person directly; none may reach a pooled table.
DIRECT_IDENTIFIERS = ("id_student", "name", "email", "mbox", "account", "login", "birth_date", "address", "phone")


@dataclass(frozen=True)
class PooledStudy:
    study: DropoutStudy
    k: int
    k_reached: int
    generalisation: dict[str, object]
    learners: int


def _student_info(share: ProviderShare) -> pl.DataFrame:
    table = share.tables.student_info
    if table is None:
        raise InvalidInput(f"provider {share.name} holds no learner table")
    return pl.from_arrow(table.to_pyarrow()).with_columns(pl.lit(share.name).alias("_provider"))


def make_k_anonymous(shares: Sequence[ProviderShare], k: int, *, max_suppression: float = 0.05) -> tuple[list[ProviderShare], dict[str, object], int]:
    """The shares with their learners' quasi-identifiers generalised to reach `k` over the pool.

    k is reached over the pooled registrations, not per provider: the pool is what is released
    to training. Returns the new shares, the generalisation's report and the k measured again on
    the released rows (an independent count, not the search's own claim)."""
    frames = [_student_info(share) for share in shares]
    pooled = pl.concat(frames, how="vertical_relaxed")
    columns = [column for column in OULAD_QUASI_IDENTIFIERS if column in pooled.columns]
    hierarchies = {name: hierarchy for name, hierarchy in oulad_hierarchies().items() if name in columns}
    # OULAD writes an unknown IMD band "?", and the hierarchies generalise it like any value.
    prepared = pooled.with_columns([pl.col(column).cast(pl.Utf8).fill_null("?") for column in columns])
    release = generalise(prepared, hierarchies, k, max_suppression=max_suppression)
    measured = k_anonymity(release.frame, columns)
    if measured < k:
        raise InvalidInput(f"the released rows are only {measured}-anonymous, not {k}: nothing leaves the pooling space")
    released = []
    for share in shares:
        rows = release.frame.filter(pl.col("_provider") == share.name).drop("_provider")
        tables = replace(share.tables, student_info=ibis.memtable(rows.to_arrow()))
        released.append(replace(share, tables=tables))
    return released, release.report(), measured


def scan_for_identifiers(shares: Sequence[ProviderShare], raw_ids: set[str]) -> None:
    """Refuse pooled tables carrying a direct identifier column or any raw learner id value."""
    for share in shares:
        for name, table in share.tables.items():
            named = sorted(set(table.columns) & set(DIRECT_IDENTIFIERS))
            if named:
                raise InvalidInput(f"{share.name}'s {name} table still has the direct identifier column {named[0]!r}")
            if LEARNER in table.columns:
                values = {str(value) for value in table.select(LEARNER).to_pyarrow()[LEARNER].to_pylist()}
                if values & raw_ids:
                    raise InvalidInput(f"{share.name}'s {name} table carries raw learner ids in {LEARNER!r}")


def run_pooled_study(
    shares: Sequence[ProviderShare],
    *,
    pseudonymise: Pseudonymise,
    day: int,
    k: int,
    source: str,
    consent_coverage: float | None = None,
    resamples: int = 1000,
) -> PooledStudy:
    """Steps 2 to 5 of the module docstring, on the providers' raw shares."""
    if not shares:
        raise InvalidInput("a pooled study needs at least one provider share")
    raw_ids: set[str] = set()
    for share in shares:
        for _name, table in share.tables.items():  # noqa: PERF102 (OuladTables.items, not a dict)
            if RAW_ID in table.columns:
                raw_ids.update(str(value) for value in table.select(RAW_ID).to_pyarrow()[RAW_ID].to_pylist() if value is not None)
    pseudonymised = [share.pseudonymised(pseudonymise) for share in shares]
    released, report, reached = make_k_anonymous(pseudonymised, k)
    scan_for_identifiers(released, raw_ids)
    study = study_from_shares(released, day=day, source=source, consent_coverage=consent_coverage, k_reached=reached, resamples=resamples)
    learners = len(set().union(*({str(v) for v in s.tables.student_info.select(LEARNER).to_pyarrow()[LEARNER].to_pylist()} for s in released)))
    return PooledStudy(study=study, k=k, k_reached=reached, generalisation=report, learners=learners)


def write_oulad_tables(registrations: Sequence[Path], submissions: Sequence[Path], folder: Path) -> None:
    """The learner-level OULAD tables (studentInfo, studentRegistration, studentAssessment) from
    released files: registrations joined with demographics, and assessment submissions; several
    providers' files are stacked. OULAD's "?" marks a missing value, as in the original."""
    folder.mkdir(parents=True, exist_ok=True)
    joined = pl.concat([pl.read_csv(path, infer_schema_length=0) for path in registrations], how="vertical_relaxed")
    info_columns = [c for c in joined.columns if c not in ("date_registration", "date_unregistration")]
    joined.select(info_columns).write_csv(folder / "studentInfo.csv", null_value="?")
    joined.select("code_module", "code_presentation", "id_student", "date_registration", "date_unregistration").write_csv(folder / "studentRegistration.csv", null_value="?")
    graded = pl.concat([pl.read_csv(path, infer_schema_length=0) for path in submissions], how="vertical_relaxed")
    graded.select("id_student", "id_assessment", "date_submitted", "is_banked", "score").write_csv(folder / "studentAssessment.csv", null_value="?")


def share_from_exports(name: str, modules: Sequence[str], registrations: Path, submissions: Path, schedule: Path, con: ibis.BaseBackend | None = None) -> ProviderShare:
    """A provider's share from the two files its connector releases (registrations with the
    learners' demographics; assessment submissions) and the public course schedule (OULAD's
    `assessments.csv` and `courses.csv` under `schedule`)."""
    folder = registrations.parent / f"{name}-oulad"
    write_oulad_tables([registrations], [submissions], folder)
    for table in ("assessments.csv", "courses.csv"):
        public = pl.read_csv(schedule / table, infer_schema_length=0)
        public.filter(pl.col("code_module").is_in(list(modules))).write_csv(folder / table)
    con = con or ibis.duckdb.connect()
    # Table names carry the provider's: shares pooled later must live in one connection, under
    # names of their own (two shares both called `oulad_registrations` would read as one).
    prefix = "".join(c if c.isalnum() else "_" for c in name)
    tables = {
        attribute: _typed(con.read_csv(str(folder / file), table_name=f"{prefix}_{attribute}", nullstr="?"), attribute)
        for attribute, file in OULAD_FILES.items()
    }
    return ProviderShare(name=name, modules=tuple(modules), tables=OuladTables(**tables))


#: One type per numeric column, whatever a small file's values let a reader infer (a weight
#: column of whole numbers reads as integers, an all-empty date column as text), so that
#: providers' tables stack.
_TYPES: dict[str, dict[str, str]] = {
    "student_info": {"id_student": "int64", "num_of_prev_attempts": "int64", "studied_credits": "int64"},
    "registrations": {"id_student": "int64", "date_registration": "int64", "date_unregistration": "int64"},
    "assessments": {"id_assessment": "int64", "date": "int64", "weight": "float64"},
    "submissions": {"id_student": "int64", "id_assessment": "int64", "date_submitted": "int64", "is_banked": "int64", "score": "float64"},
    "courses": {"module_presentation_length": "int64"},
}


def _typed(table: ibis.Table, attribute: str) -> ibis.Table:
    wanted = {column: kind for column, kind in _TYPES.get(attribute, {}).items() if column in table.columns}
    return table.cast(wanted) if wanted else table


def shares_from_exports(exports: Mapping[str, tuple[Sequence[str], Path, Path]], schedule: Path) -> list[ProviderShare]:
    """Every provider's share, in one DuckDB connection so that they can be pooled."""
    con = ibis.duckdb.connect()
    return [share_from_exports(name, modules, registrations, submissions, schedule, con) for name, (modules, registrations, submissions) in exports.items()]


__all__ = ["OuladTables", "PooledStudy", "make_k_anonymous", "run_pooled_study", "scan_for_identifiers", "share_from_exports", "shares_from_exports"]
