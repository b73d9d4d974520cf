"""The OULAD study table: pseudonymous ids only, pre-treatment covariates only, the treatment
measured up to the cut-off, and a real study on two modules that completes with balance."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from dases.errors import InvalidInput
from dases.impact import service, study

OULAD = Path(__file__).resolve().parents[2] / "shared" / "data" / "oulad"
MODULES = ("CCC", "DDD")
PROVIDERS = {"provider-a": ("CCC",), "provider-b": ("DDD",)}
KEY = b"test-key-for-impact-pseudonyms!!"
CUTOFF = 30


def pseudonymise(learner: str) -> str:
    return hmac.new(KEY, learner.encode(), hashlib.sha256).hexdigest()[:32]


@pytest.fixture(scope="module")
def tables() -> study.OuladTables:
    return study.load_oulad(OULAD, MODULES)


@pytest.fixture(scope="module")
def built(tables) -> study.StudyTable:
    return study.study_table(tables, study.Design("cma", CUTOFF, "withdrawal"), pseudonymise, PROVIDERS)


def _covariates(rows: pl.DataFrame) -> np.ndarray:
    matrix, _ = service.covariate_matrix(rows.sort("pid", "module_presentation"), study.CATEGORICAL_COVARIATES, study.NUMERIC_COVARIATES)
    return matrix


def test_the_study_table_holds_pseudonyms_and_never_the_raw_learner_id(tables, built):
    rows = built.rows
    raw_ids = set(tables.student_info["id_student"].cast(pl.String))

    assert "id_student" not in rows.columns
    assert rows["pid"].str.len_chars().unique().to_list() == [32]
    assert not set(rows["pid"]) & raw_ids
    some_id = str(tables.student_info.filter(pl.col("code_module") == "CCC")["id_student"][0])
    assert pseudonymise(some_id) in set(rows["pid"])
    assert set(rows["provider"]) == {"provider-a", "provider-b"}


def test_only_learners_registered_at_the_cutoff_in_courses_with_mixed_uptake_enter(tables, built):
    rows = built.rows
    left_early = tables.registration.filter(pl.col("date_unregistration") <= CUTOFF).height

    assert left_early > 0
    assert rows.height < tables.student_info.height - left_early + 1
    uptake = rows.group_by("module_presentation").agg(pl.col("treated").cast(pl.Float64).mean())
    assert uptake["treated"].min() >= study.MIN_UPTAKE
    assert uptake["treated"].max() <= 1 - study.MIN_UPTAKE
    for share in built.excluded.values():
        assert share < study.MIN_UPTAKE or share > 1 - study.MIN_UPTAKE


def test_changing_what_happened_after_the_cutoff_changes_no_covariate_and_no_treatment(tables, built):
    later = pl.col("date_submitted") > CUTOFF
    perturbed = dataclasses.replace(
        tables,
        student_assessment=tables.student_assessment.with_columns(
            score=pl.when(later).then(100 - pl.col("score")).otherwise(pl.col("score")),
            date_submitted=pl.when(later).then(pl.col("date_submitted") + 5).otherwise(pl.col("date_submitted")),
        ),
        student_info=tables.student_info.with_columns(
            final_result=pl.when(pl.col("final_result") == "Pass").then(pl.lit("Fail")).otherwise(pl.lit("Pass"))
        ),
        registration=tables.registration.with_columns(
            date_unregistration=pl.when(pl.col("date_unregistration") > CUTOFF)
            .then(pl.col("date_unregistration") + 20)
            .otherwise(pl.col("date_unregistration"))
        ),
    )
    again = study.study_table(perturbed, study.Design("cma", CUTOFF, "withdrawal"), pseudonymise, PROVIDERS)
    before, after = built.rows.sort("pid", "module_presentation"), again.rows.sort("pid", "module_presentation")

    assert np.array_equal(_covariates(before), _covariates(after))
    assert before["treated"].to_list() == after["treated"].to_list()
    assert before["pass"].to_list() != after["pass"].to_list(), "the outcomes did see the change"
    assert before["score"].to_list() != after["score"].to_list()


def test_moving_a_use_from_before_to_after_the_cutoff_changes_the_treatment(tables, built):
    cma = tables.assessments.filter(pl.col("assessment_type") == "CMA")["id_assessment"]
    early = pl.col("id_assessment").is_in(cma.to_list()) & (pl.col("date_submitted") <= CUTOFF)
    delayed = dataclasses.replace(
        tables,
        student_assessment=tables.student_assessment.with_columns(
            date_submitted=pl.when(early).then(CUTOFF + 1).otherwise(pl.col("date_submitted"))
        ),
    )
    with pytest.raises(InvalidInput) as caught:
        study.study_table(delayed, study.Design("cma", CUTOFF, "withdrawal"), pseudonymise, PROVIDERS)
    assert caught.value.errors[0].field == "treatment"


def test_a_vle_activity_is_read_from_the_click_stream_when_there_is_one(tables):
    forum_sites = tables.vle.filter(pl.col("activity_type") == "forumng").select("id_site", "code_module", "code_presentation")
    learners = tables.student_info.select("id_student", "code_module", "code_presentation")
    rng = np.random.default_rng(3)
    clicked = learners.filter(pl.Series(rng.random(learners.height) < 0.4))
    clicks = clicked.join(
        forum_sites.group_by("code_module", "code_presentation").first(), on=["code_module", "code_presentation"]
    )
    clicks = clicks.with_columns(date=pl.Series(rng.integers(-5, 60, clicks.height)))
    with_clicks = dataclasses.replace(tables, student_vle=clicks)
    rows = study.study_table(with_clicks, study.Design("forumng", CUTOFF, "pass"), pseudonymise, PROVIDERS).rows
    early = clicks.filter(pl.col("date") <= CUTOFF)

    assert rows["treated"].sum() > 0
    assert set(rows.filter(pl.col("treated") == 1)["pid"]) <= {pseudonymise(str(i)) for i in early["id_student"]}


def test_a_vle_activity_without_a_click_stream_is_refused_by_name(tables):
    with pytest.raises(InvalidInput, match="studentVle") as caught:
        study.study_table(tables, study.Design("forumng", CUTOFF, "pass"), pseudonymise, PROVIDERS)
    assert caught.value.errors[0].field == "treatment"
    with pytest.raises(InvalidInput) as caught:
        study.study_table(tables, study.Design("teleportation", CUTOFF, "pass"), pseudonymise, PROVIDERS)
    assert "forumng" in caught.value.errors[0].message


@pytest.mark.parametrize(("design", "field"), [(("cma", 30, "happiness"), "outcome"), (("cma", 999, "pass"), "cutoff")])
def test_a_bad_design_names_its_field(design, field):
    with pytest.raises(InvalidInput) as caught:
        study.Design(*design)
    assert caught.value.errors[0].field == field


def test_a_real_study_on_two_modules_completes_and_reports_balance(built):
    pooled, release = service.impact_study(
        built.rows,
        "withdrawal",
        categorical=study.CATEGORICAL_COVARIATES,
        numeric=study.NUMERIC_COVARIATES,
        replicates=200,
    )

    assert pooled.n == built.rows.height > 3000
    assert pooled.balance.max_before > service.BALANCE_THRESHOLD
    assert pooled.balance.max_after < pooled.balance.max_before
    assert pooled.balance.max_after < service.BALANCE_THRESHOLD
    ate = pooled.estimates[0]
    assert ate.ci_low < ate.value < ate.ci_high and ate.ci_high - ate.ci_low < 0.2
    assert set(release["providers"]) == {"provider-a", "provider-b"}
    assert any(key.startswith("module_presentation=CCC") for key in release["pooled"]["balance"]["smd"])
