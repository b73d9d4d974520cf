"""The study table of an impact study, built from OULAD as pooled, pseudonymised provider extracts.

An impact study here is observational, so the table keeps time in its place:

- covariates are measured *before* the treatment: demographics and prior attempts as declared at
  registration, studied credits, the registration day, the module-presentation. Nothing a learner
  did after day 0 enters them (assessment results, clicks and final results never do);
- the treatment is the use of a learning solution *by the cut-off day*: at least one event of the
  chosen activity (a VLE activity type such as ``forumng`` from ``studentVle.csv``, or an
  assessment type such as ``cma``, the computer-marked online quizzes) dated on or before it.
  Use before day 0 counts too: the tool is open from registration, and a learner who used it
  early and not again is not a non-user;
- outcomes are measured *after* the cut-off: withdrawal, pass (Pass or Distinction) and the mean
  score of the assessments submitted after it.

Only learners still registered on the cut-off day enter (someone who left before it can neither
be treated over the whole window nor withdraw afterwards), and only in module-presentations that
offer the activity at all: comparing users with learners who never had the tool would mix the
tool's effect with the course's.

Each provider (a group of modules) turns its own rows into an extract keyed by a pseudonym; the
study pools the extracts. No raw ``id_student`` leaves :func:`provider_extract`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from dases.errors import FieldError, InvalidInput

#: Turns a provider-local learner id into the data space's pseudonym (a keyed HMAC in practice).
Pseudonymise = Callable[[str], str]

OUTCOMES = ("withdrawal", "pass", "score")
CATEGORICAL_COVARIATES = (
    "module_presentation",
    "gender",
    "region",
    "highest_education",
    "imd_band",
    "age_band",
    "disability",
)
NUMERIC_COVARIATES = ("num_of_prev_attempts", "studied_credits", "date_registration")
COVARIATES = CATEGORICAL_COVARIATES + NUMERIC_COVARIATES

#: How the seven OULAD modules are split between three example providers. In a real data space
#: each provider holds its own courses; here the split only has to be fixed and disjoint.
DEFAULT_PROVIDERS: dict[str, tuple[str, ...]] = {
    "provider-a": ("AAA", "BBB", "CCC"),
    "provider-b": ("DDD", "EEE"),
    "provider-c": ("FFF", "GGG"),
}

_KEYS = ["id_student", "code_module", "code_presentation"]
_ASSESSMENT_ACTIVITIES = {"cma": "CMA", "tma": "TMA", "exam": "Exam"}


@dataclass(frozen=True)
class Design:
    """What is compared: users of `treatment` by day `cutoff` against non-users, on `outcome`."""

    treatment: str
    cutoff: int
    outcome: str

    def __post_init__(self) -> None:
        if self.outcome not in OUTCOMES:
            raise InvalidInput(
                f"unknown outcome {self.outcome!r}",
                errors=[FieldError("outcome", "one_of", f"one of {', '.join(OUTCOMES)}")],
            )
        if not 0 <= self.cutoff <= 250:
            raise InvalidInput(
                f"the cut-off day {self.cutoff} is outside the presentations",
                errors=[FieldError("cutoff", "range", "0 <= cutoff <= 250 (days from the start)")],
            )
        if not self.treatment or not self.treatment.replace("_", "").isalnum():
            raise InvalidInput(
                f"the treatment {self.treatment!r} is not an activity name",
                errors=[FieldError("treatment", "activity", "a VLE activity type or cma / tma")],
            )


@dataclass(frozen=True)
class OuladTables:
    """The OULAD tables a study reads; `student_vle` is None where the click stream is absent."""

    student_info: pl.DataFrame
    registration: pl.DataFrame
    assessments: pl.DataFrame
    student_assessment: pl.DataFrame
    vle: pl.DataFrame
    student_vle: pl.DataFrame | None


def load_oulad(directory: Path, modules: Sequence[str] | None = None) -> OuladTables:
    """Read the tables ('?' is OULAD's missing value), keeping only `modules` when given."""
    directory = Path(directory)
    missing = [
        name
        for name in ("studentInfo", "studentRegistration", "assessments", "studentAssessment", "vle")
        if not (directory / f"{name}.csv").is_file()
    ]
    if missing:
        raise InvalidInput(
            f"{directory} lacks the OULAD tables {', '.join(missing)}",
            errors=[FieldError("data_dir", "oulad_tables", "a directory holding the OULAD CSV files")],
        )

    def read(name: str) -> pl.DataFrame:
        return pl.read_csv(directory / f"{name}.csv", null_values="?", infer_schema_length=10_000)

    def keep(frame: pl.DataFrame) -> pl.DataFrame:
        return frame if modules is None else frame.filter(pl.col("code_module").is_in(list(modules)))

    assessments = keep(read("assessments"))
    student_assessment = read("studentAssessment").join(
        assessments.select("id_assessment"), on="id_assessment", how="semi"
    )
    vle = keep(read("vle"))
    student_vle = None
    if (directory / "studentVle.csv").is_file():
        student_vle = keep(
            pl.read_csv(
                directory / "studentVle.csv",
                columns=["code_module", "code_presentation", "id_student", "id_site", "date"],
                schema_overrides={"date": pl.Int32, "id_site": pl.Int64, "id_student": pl.Int64},
            )
        )
    return OuladTables(
        student_info=keep(read("studentInfo")),
        registration=keep(read("studentRegistration")),
        assessments=assessments,
        student_assessment=student_assessment,
        vle=vle,
        student_vle=student_vle,
    )


def activity_events(tables: OuladTables, treatment: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The dated uses of `treatment`, and the module-presentations that offer it.

    Assessment types come from the submissions (banked results, carried over from an earlier
    presentation, are not a use in this one); VLE activity types from the click stream.
    """
    name = treatment.lower()
    if name in _ASSESSMENT_ACTIVITIES:
        offered = tables.assessments.filter(pl.col("assessment_type") == _ASSESSMENT_ACTIVITIES[name])
        events = (
            tables.student_assessment.filter(pl.col("is_banked") == 0)
            .join(offered.select("id_assessment", "code_module", "code_presentation"), on="id_assessment")
            .select(*_KEYS, pl.col("date_submitted").alias("date"))
        )
        return events, offered.select("code_module", "code_presentation").unique()
    offered_sites = tables.vle.filter(pl.col("activity_type") == name)
    if offered_sites.is_empty():
        known = sorted(set(tables.vle["activity_type"].unique()) | set(_ASSESSMENT_ACTIVITIES))
        raise InvalidInput(
            f"no module offers the activity {treatment!r}",
            errors=[FieldError("treatment", "offered", f"one of {', '.join(known)}")],
        )
    if tables.student_vle is None:
        raise InvalidInput(
            f"{treatment!r} is a VLE activity, and this OULAD copy has no studentVle.csv click stream",
            errors=[FieldError("treatment", "measurable", "an assessment activity: cma or tma")],
        )
    events = tables.student_vle.join(offered_sites.select("id_site"), on="id_site").select(*_KEYS, "date")
    return events, offered_sites.select("code_module", "code_presentation").unique()


#: A module-presentation enters only if between this share and 1 minus it of its eligible learners
#: used the activity by the cut-off: below, the tool was not really open yet (or not used at
#: all); above, there is no one comparable left to compare with. Either way the propensity would
#: be 0 or 1 for the whole course, and no weighting can fix that (no positivity).
MIN_UPTAKE = 0.05


@dataclass(frozen=True)
class StudyTable:
    """The pooled rows, and the module-presentations left out for want of positivity."""

    rows: pl.DataFrame
    excluded: dict[str, float]


def provider_extract(
    tables: OuladTables,
    design: Design,
    pseudonymise: Pseudonymise,
    provider: str,
    modules: Iterable[str],
    min_uptake: float = MIN_UPTAKE,
) -> StudyTable:
    """One provider's rows of the study table: pseudonym, covariates, treatment, outcomes."""
    modules = list(modules)
    cutoff = design.cutoff
    events, offered = activity_events(tables, design.treatment)
    events = events.filter(pl.col("code_module").is_in(modules))
    users = events.filter(pl.col("date") <= cutoff).select(_KEYS).unique().with_columns(treated=pl.lit(1))

    later = tables.student_assessment.filter(
        (pl.col("is_banked") == 0) & (pl.col("date_submitted") > cutoff) & pl.col("score").is_not_null()
    )
    scores = (
        later.join(tables.assessments.select("id_assessment", "code_module", "code_presentation"), on="id_assessment")
        .group_by(_KEYS)
        .agg(score=pl.col("score").cast(pl.Float64).mean())
    )

    frame = (
        tables.student_info.filter(pl.col("code_module").is_in(modules))
        .join(offered, on=["code_module", "code_presentation"], how="semi")
        .join(tables.registration, on=_KEYS, how="inner")
        # Still registered on the cut-off day.
        .filter(pl.col("date_unregistration").is_null() | (pl.col("date_unregistration") > cutoff))
        .filter(pl.col("date_registration").is_not_null())
        .join(users, on=_KEYS, how="left")
        .join(scores, on=_KEYS, how="left")
        .with_columns(
            treated=pl.col("treated").fill_null(0).cast(pl.Int8),
            module_presentation=pl.col("code_module") + "-" + pl.col("code_presentation"),
        )
    )
    uptake = frame.group_by("module_presentation").agg(share=pl.col("treated").cast(pl.Float64).mean())
    kept = uptake.filter(pl.col("share").is_between(min_uptake, 1 - min_uptake))
    excluded = dict(uptake.join(kept, on="module_presentation", how="anti").sort("module_presentation").iter_rows())
    frame = frame.join(kept.select("module_presentation"), on="module_presentation", how="semi")

    learners = frame["id_student"].unique().to_list()
    pseudonyms = {learner: pseudonymise(str(learner)) for learner in learners}
    rows = frame.select(
        pl.col("id_student").replace_strict(pseudonyms, return_dtype=pl.String).alias("pid"),
        pl.lit(provider).alias("provider"),
        "module_presentation",
        *[pl.col(c).cast(pl.String).fill_null("missing") for c in CATEGORICAL_COVARIATES[1:]],
        *[pl.col(c).cast(pl.Float64) for c in NUMERIC_COVARIATES],
        "treated",
        (pl.col("final_result") == "Withdrawn").cast(pl.Float64).alias("withdrawal"),
        pl.col("final_result").is_in(["Pass", "Distinction"]).cast(pl.Float64).alias("pass"),
        pl.col("score"),
    )
    return StudyTable(rows, excluded)


def study_table(
    tables: OuladTables,
    design: Design,
    pseudonymise: Pseudonymise,
    providers: Mapping[str, Sequence[str]] = DEFAULT_PROVIDERS,
    min_uptake: float = MIN_UPTAKE,
) -> StudyTable:
    """The pooled study table: the union of every provider's pseudonymised extract."""
    if not 0 <= min_uptake < 0.5:
        raise InvalidInput(
            f"min_uptake {min_uptake} is not in [0, 0.5)",
            errors=[FieldError("min_uptake", "range", "0 <= min_uptake < 0.5")],
        )
    extracts = [
        provider_extract(tables, design, pseudonymise, name, modules, min_uptake)
        for name, modules in providers.items()
    ]
    pooled = pl.concat([e.rows for e in extracts], how="vertical")
    excluded = {k: v for e in extracts for k, v in e.excluded.items()}
    if pooled.is_empty():
        raise InvalidInput(
            f"no module-presentation has users and non-users of {design.treatment!r} by day "
            f"{design.cutoff} in these modules",
            errors=[FieldError("treatment", "eligible", "an activity some, not all, learners used by the cut-off")],
        )
    return StudyTable(pooled, excluded)
