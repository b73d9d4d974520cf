"""Features of the early-dropout model: what a provider knows about a learner at day N.

One row per (pseudonymous learner, module, presentation) still registered at day N, built with
Ibis expressions so the same pipeline runs on DuckDB (the embedded default) or on any backend
Ibis drives when the pooled data outgrows one machine.

The rule that matters: **nothing known only after day N enters a feature.** OULAD dates are days
relative to the start of the presentation, so "known at day N" reads directly off them:

- demographics and the registration date are known once the learner has registered (a learner
  registering after day N is not in the population yet);
- a submission is known if it was submitted on or before day N (its score is taken as known with
  it; OULAD gives no marking date, see the model card's limitations);
- the assessment schedule (due dates, weights) is published before the presentation starts;
- whether a learner is still registered at day N is known at day N, but *when* a later
  unregistration happens is not: `date_unregistration` is only ever compared with N.

The label `withdrew` is 1 when the registration's `final_result` is "Withdrawn": since the
population is restricted to learners still registered at day N (no `date_unregistration`, or one
after N), that is a withdrawal after day N.

Raw identifiers never reach a feature table: `pseudonymise_tables` replaces `id_student` by the
`learner` pseudonym the caller's pseudonymisation function gives, and `build_features` refuses
tables that still carry `id_student`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path

import ibis
import ibis.expr.types as ir

from dases.errors import InvalidInput

#: A pseudonymisation function: raw learner ids in, one pseudonym per id out, in the same order.
#: The data space's pseudonymisation service (keyed HMAC per purpose) is the production one; any
#: callable with this shape works, so the pipeline does not wait for it.
Pseudonymise = Callable[[Sequence[int]], Sequence[str]]

RAW_ID = "id_student"
LEARNER = "learner"
KEYS = (LEARNER, "code_module", "code_presentation")
LABEL = "withdrew"

#: Demographic columns, generalised: bands as OULAD publishes them, missing values made explicit,
#: previous attempts capped, credits rounded to the 30-credit steps modules come in.
CATEGORICAL_FEATURES = (
    "code_module",
    "semester",
    "gender",
    "region",
    "highest_education",
    "imd_band",
    "age_band",
    "disability",
)
NUMERIC_FEATURES = (
    "module_length",
    "prev_attempts",
    "studied_credits",
    "date_registration",
    "registered_late",
    "other_registrations",
    "due_count",
    "due_weight",
    "due_submitted",
    "due_missing",
    "due_score_mean",
    "submitted_count",
    "submitted_weight",
    "score_mean",
    "score_min",
    "score_weighted",
    "late_count",
    "lateness_mean",
    "early_count",
    "banked_count",
    "days_since_last_submission",
    "first_submission_day",
    "days_to_next_due",
)
FEATURES = CATEGORICAL_FEATURES + NUMERIC_FEATURES
#: The groups the model card reports fairness for.
FAIRNESS_GROUPS = ("gender", "age_band", "disability", "imd_band")

_CSV = {
    "student_info": "studentInfo.csv",
    "registrations": "studentRegistration.csv",
    "assessments": "assessments.csv",
    "submissions": "studentAssessment.csv",
    "courses": "courses.csv",
}


@dataclass(frozen=True)
class OuladTables:
    """The five OULAD tables a dropout study reads, as Ibis tables.

    A provider's share may hold only some of them (the linked scenario: registrations at one
    provider, assessments at another); the missing ones are None until shares are pooled.
    """

    student_info: ir.Table | None = None
    registrations: ir.Table | None = None
    assessments: ir.Table | None = None
    submissions: ir.Table | None = None
    courses: ir.Table | None = None

    def items(self) -> list[tuple[str, ir.Table]]:
        """The tables this share holds, by name."""
        return [(f.name, getattr(self, f.name)) for f in fields(self) if getattr(self, f.name) is not None]


def load_oulad(directory: Path, con: ibis.BaseBackend | None = None) -> OuladTables:
    """Read the OULAD CSV tables of `directory` (read in place, never copied) into `con`.

    `?` marks a missing value in OULAD; it becomes NULL here so that comparisons with day N treat
    "never unregistered" as such.
    """
    directory = Path(directory)
    missing = [name for name in _CSV.values() if not (directory / name).is_file()]
    if missing:
        raise InvalidInput(f"{directory} lacks the OULAD tables {', '.join(missing)}")
    con = con or ibis.duckdb.connect()
    # Each engine's CSV reader spells "OULAD writes a missing value as ?" its own way.
    options = {"nullValue": "?", "header": True, "inferSchema": True} if con.name == "pyspark" else {"nullstr": "?"}
    tables = {
        attribute: con.read_csv(str(directory / name), table_name=f"oulad_{attribute}", **options)
        for attribute, name in _CSV.items()
    }
    return OuladTables(**tables)


def pseudonymise_tables(tables: OuladTables, pseudonymise: Pseudonymise) -> OuladTables:
    """Replace `id_student` by the `learner` pseudonym in every learner-level table.

    The same learner gets the same pseudonym in every table (and, with the same key, at every
    provider), which is what lets registration data at one provider be linked with assessment
    data at another without either revealing the raw id.
    """
    holding = [(name, table) for name, table in tables.items() if RAW_ID in table.columns]
    if not holding:
        return tables
    ids = holding[0][1].select(RAW_ID)
    for _, table in holding[1:]:
        ids = ids.union(table.select(RAW_ID))
    raw = [int(value) for value in ids.distinct().to_pyarrow()[RAW_ID].to_pylist() if value is not None]
    pseudonyms = [str(value) for value in pseudonymise(raw)]
    if len(pseudonyms) != len(raw):
        raise InvalidInput(
            f"pseudonymise returned {len(pseudonyms)} pseudonyms for {len(raw)} learners: one each is needed"
        )
    if len(set(pseudonyms)) != len(pseudonyms):
        raise InvalidInput("pseudonymise gave two learners the same pseudonym: rows would be merged")
    mapping = ibis.memtable({RAW_ID: raw, LEARNER: pseudonyms})
    changed = {}
    for name, table in holding:
        joined = table.inner_join(mapping, RAW_ID)
        changed[name] = joined.select(LEARNER, *[c for c in table.columns if c != RAW_ID])
    return replace(tables, **changed)


def _require(tables: OuladTables) -> None:
    absent = [f.name for f in fields(tables) if getattr(tables, f.name) is None]
    if absent:
        raise InvalidInput(f"features need every OULAD table; absent: {', '.join(absent)}")
    carrying = [name for name, table in tables.items() if RAW_ID in table.columns]
    if carrying:
        raise InvalidInput(
            f"tables {', '.join(carrying)} still carry raw {RAW_ID}: pseudonymise them first"
        )


def registered_at(registrations: ir.Table, day: int) -> ir.Table:
    """Registrations active at day N: registered by then, and not unregistered by then."""
    registered = registrations.date_registration.isnull() | (registrations.date_registration <= day)
    still = registrations.date_unregistration.isnull() | (registrations.date_unregistration > day)
    return registrations.filter(registered & still)


def build_features(tables: OuladTables, day: int) -> ir.Table:
    """One row per learner still registered at day `day`, with the features known then and the label.

    Columns: the keys (`learner`, `code_module`, `code_presentation`), `FEATURES`, and `withdrew`.
    """
    if not isinstance(day, int) or isinstance(day, bool) or not -30 <= day <= 300:
        raise InvalidInput(f"day must be an integer between -30 and 300 (days from the presentation start), got {day!r}")
    _require(tables)
    info, registrations = tables.student_info, tables.registrations
    assessments, submissions, courses = tables.assessments, tables.submissions, tables.courses

    active = registered_at(registrations, day)
    population = active.inner_join(info, list(KEYS)).inner_join(courses, ["code_module", "code_presentation"])

    other = (
        active.group_by([LEARNER, "code_presentation"])
        .aggregate(other_registrations=active.count() - 1)
    )

    due_schedule = assessments.filter(assessments.date.notnull() & (assessments.date <= day))
    schedule = due_schedule.group_by(["code_module", "code_presentation"]).aggregate(
        due_count=due_schedule.count(), due_weight=due_schedule.weight.sum()
    )
    upcoming = assessments.filter(assessments.date > day)
    next_due = upcoming.group_by(["code_module", "code_presentation"]).aggregate(
        days_to_next_due=upcoming.date.min() - day
    )

    known = submissions.filter(submissions.date_submitted <= day).inner_join(assessments, "id_assessment")
    is_due = known.date.notnull() & (known.date <= day)
    lateness = known.date_submitted - known.date
    per_learner = known.group_by(list(KEYS)).aggregate(
        submitted_count=known.count(),
        submitted_weight=known.weight.sum(),
        due_submitted=is_due.cast("int64").sum(),
        due_score_mean=known.score.mean(where=is_due),
        score_mean=known.score.mean(),
        score_min=known.score.min(),
        score_weighted=(known.score * known.weight).sum() / known.weight.sum().nullif(0),
        late_count=(lateness > 0).cast("int64").sum(),
        lateness_mean=lateness.mean(),
        early_count=(lateness < 0).cast("int64").sum(),
        banked_count=known.is_banked.sum(),
        last_submission=known.date_submitted.max(),
        first_submission_day=known.date_submitted.min(),
    )

    rows = (
        population.left_join(other, [LEARNER, "code_presentation"])
        .left_join(schedule, ["code_module", "code_presentation"])
        .left_join(next_due, ["code_module", "code_presentation"])
        .left_join(per_learner, list(KEYS))
    )
    due_count = rows.due_count.fill_null(0)
    due_submitted = rows.due_submitted.fill_null(0)
    return rows.select(
        *KEYS,
        semester=rows.code_presentation.right(1),
        gender=rows.gender,
        region=rows.region,
        highest_education=rows.highest_education,
        imd_band=rows.imd_band.fill_null("unknown"),
        age_band=rows.age_band,
        disability=rows.disability,
        module_length=rows.module_presentation_length,
        prev_attempts=ibis.least(rows.num_of_prev_attempts, 2),
        studied_credits=ibis.least((rows.studied_credits / 30).round().cast("int64") * 30, 240),
        date_registration=rows.date_registration,
        registered_late=(rows.date_registration > 0).cast("int64"),
        other_registrations=rows.other_registrations.fill_null(0),
        due_count=due_count,
        due_weight=rows.due_weight.fill_null(0),
        due_submitted=due_submitted,
        due_missing=due_count - due_submitted,
        due_score_mean=rows.due_score_mean,
        submitted_count=rows.submitted_count.fill_null(0),
        submitted_weight=rows.submitted_weight.fill_null(0),
        score_mean=rows.score_mean,
        score_min=rows.score_min,
        score_weighted=rows.score_weighted,
        late_count=rows.late_count.fill_null(0),
        lateness_mean=rows.lateness_mean,
        early_count=rows.early_count.fill_null(0),
        banked_count=rows.banked_count.fill_null(0),
        days_since_last_submission=day - rows.last_submission,
        first_submission_day=rows.first_submission_day,
        days_to_next_due=rows.days_to_next_due,
        withdrew=(rows.final_result == "Withdrawn").cast("int8"),
    )
