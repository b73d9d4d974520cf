"""Day-N dropout features on the real OULAD tables: nothing from after day N, no raw learner id,
learners gone by day N left out, and provider splits that lose and duplicate no row."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

import ibis
import pandas as pd
import pytest

from dases.errors import InvalidInput
from dases.pooling.features import (
    FEATURES,
    KEYS,
    LABEL,
    OuladTables,
    build_features,
    load_oulad,
    pseudonymise_tables,
)
from dases.pooling.providers import (
    export_share,
    one_provider_per_module,
    parse_groups,
    pool,
    read_share,
    split_by_modules,
    split_linked,
)

OULAD = Path(__file__).resolve().parents[2] / "shared" / "data" / "oulad"
DAY = 30
KEY = b"test-only pseudonymisation key, 32+ bytes"


def pseudonymise(ids):
    """A keyed HMAC of our own: what the privacy service will provide."""
    return [hmac.new(KEY, str(value).encode(), hashlib.sha256).hexdigest()[:24] for value in ids]


@pytest.fixture(scope="module")
def raw() -> OuladTables:
    return load_oulad(OULAD, ibis.duckdb.connect())


@pytest.fixture(scope="module")
def tables(raw: OuladTables) -> OuladTables:
    return pseudonymise_tables(raw, pseudonymise)


@pytest.fixture(scope="module")
def features(tables: OuladTables) -> pd.DataFrame:
    return build_features(tables, DAY).to_pandas()


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(list(KEYS)).reset_index(drop=True)


def _future_rewritten(tables: OuladTables, day: int) -> OuladTables:
    """A copy of the data where everything after day N is different: later submissions deleted,
    later unregistrations moved, later registrations dropped, outcomes scrambled."""
    submissions = tables.submissions.filter(tables.submissions.date_submitted <= day)
    registrations = tables.registrations
    registrations = registrations.filter(
        registrations.date_registration.isnull() | (registrations.date_registration <= day)
    ).mutate(
        date_unregistration=ibis.cases(
            (registrations.date_unregistration > day, registrations.date_unregistration + 57),
            else_=registrations.date_unregistration,
        )
    )
    info = tables.student_info.mutate(
        final_result=ibis.cases(
            (tables.student_info.final_result == "Withdrawn", "Pass"), else_="Withdrawn"
        )
    )
    return OuladTables(info, registrations, tables.assessments, submissions, tables.courses)


def test_no_feature_changes_when_everything_after_day_n_changes(tables, features):
    rewritten = build_features(_future_rewritten(tables, DAY), DAY).to_pandas()
    before, after = _sorted(features), _sorted(rewritten)
    assert len(before) == len(after) > 20_000
    pd.testing.assert_frame_equal(before[list(KEYS) + list(FEATURES)], after[list(KEYS) + list(FEATURES)])
    # the label did change: the rewrite reached the rows, only the features are blind to it
    assert (before[LABEL] != after[LABEL]).all()


def test_features_do_change_when_an_event_before_day_n_changes(tables, features):
    """The control: the comparison above can fail. Dropping the submissions made by day N changes
    the assessment features."""
    earlier = OuladTables(
        tables.student_info,
        tables.registrations,
        tables.assessments,
        tables.submissions.filter(tables.submissions.date_submitted > DAY),
        tables.courses,
    )
    changed = _sorted(build_features(earlier, DAY).to_pandas())
    assert (changed["submitted_count"] == 0).all()
    assert (_sorted(features)["submitted_count"] > 0).sum() > 10_000


def test_no_raw_learner_id_reaches_the_pooled_tables(raw, tables, features):
    raw_ids = {str(v) for v in raw.student_info.select("id_student").to_pyarrow()["id_student"].to_pylist()}
    for name, table in tables.items():
        assert "id_student" not in table.columns, name
    assert "id_student" not in features.columns
    assert not raw_ids & set(features["learner"].astype(str))
    # every learner is still there, under a pseudonym
    assert features["learner"].nunique() > 20_000


def test_features_refuse_tables_that_still_carry_raw_ids(raw):
    with pytest.raises(InvalidInput, match="pseudonymise them first"):
        build_features(raw, DAY)


def test_pseudonymisation_that_merges_learners_is_refused(raw):
    with pytest.raises(InvalidInput, match="same pseudonym"):
        pseudonymise_tables(raw, lambda ids: ["same"] * len(ids))
    with pytest.raises(InvalidInput, match="one each"):
        pseudonymise_tables(raw, lambda ids: list(map(str, ids))[:-1])


def test_learners_unregistered_by_day_n_are_left_out_and_the_others_kept(features):
    registrations = pd.read_csv(OULAD / "studentRegistration.csv", na_values="?")
    info = pd.read_csv(OULAD / "studentInfo.csv", na_values="?")
    registrations["learner"] = pseudonymise(registrations["id_student"].tolist())
    gone = registrations[registrations["date_unregistration"] <= DAY]
    not_yet = registrations[registrations["date_registration"] > DAY]
    active = registrations[
        ~registrations.index.isin(gone.index) & ~registrations.index.isin(not_yet.index)
    ]
    keys = set(zip(features["learner"], features["code_module"], features["code_presentation"], strict=True))
    assert len(gone) > 4000
    assert not keys & set(zip(gone["learner"], gone["code_module"], gone["code_presentation"], strict=True))
    assert keys == set(zip(active["learner"], active["code_module"], active["code_presentation"], strict=True))

    # the label: withdrawn, which for a learner still registered at day N means after day N
    merged = active.merge(info, on=["code_module", "code_presentation", "id_student"])
    expected = dict(zip(zip(merged["learner"], merged["code_module"], merged["code_presentation"], strict=True),
                        (merged["final_result"] == "Withdrawn").astype(int), strict=True))
    got = dict(zip(zip(features["learner"], features["code_module"], features["code_presentation"], strict=True),
                   features[LABEL].astype(int), strict=True))
    assert got == expected
    later = active[active["date_unregistration"] > DAY]
    assert len(later) > 4000  # withdrawals after day N: the positives the model is for


def test_assessment_features_count_what_was_submitted_by_day_n(features):
    """One learner checked by hand against the CSV rows: AAA 2013J's first TMA is due on day 19."""
    submissions = pd.read_csv(OULAD / "studentAssessment.csv", na_values="?")
    first = submissions[(submissions["id_assessment"] == 1752) & (submissions["date_submitted"] <= DAY)]
    student = int(first.iloc[0]["id_student"])
    row = features[(features["learner"] == pseudonymise([student])[0]) & (features["code_module"] == "AAA")].iloc[0]
    assert row["due_count"] == 1 and row["due_submitted"] == 1 and row["due_missing"] == 0
    assert row["score_mean"] == first.iloc[0]["score"]
    assert row["lateness_mean"] == first.iloc[0]["date_submitted"] - 19
    assert row["days_since_last_submission"] == DAY - first.iloc[0]["date_submitted"]


def test_day_outside_a_presentation_is_refused(tables):
    with pytest.raises(InvalidInput, match="day must be an integer"):
        build_features(tables, 1000)


def _counts(tables: OuladTables) -> dict[str, int]:
    return {name: int(table.count().execute()) for name, table in tables.items()}


def test_split_by_modules_covers_every_row_exactly_once(raw):
    groups = one_provider_per_module(raw)
    assert len(groups) == 7
    shares = split_by_modules(raw, groups)
    totals = _counts(raw)
    summed = {name: sum(_counts(share.tables)[name] for share in shares) for name in totals}
    assert summed == totals
    pooled = pool(shares)
    for name, table in pooled.items():
        assert int(table.distinct().count().execute()) == totals[name], name


def test_split_refuses_a_module_lost_or_given_twice(raw):
    with pytest.raises(InvalidInput, match="belong to no provider"):
        split_by_modules(raw, {"north": ["AAA", "BBB"]})
    with pytest.raises(InvalidInput, match="given to both"):
        split_by_modules(raw, {"north": ["AAA"], "south": ["AAA", "BBB", "CCC", "DDD", "EEE", "FFF", "GGG"]})
    with pytest.raises(InvalidInput, match="no module 'ZZZ'"):
        split_by_modules(raw, {"north": ["ZZZ"]})
    with pytest.raises(InvalidInput, match="NAME=MODULE"):
        parse_groups(["north"])


def test_providers_pooled_give_the_same_features_as_the_whole_data(raw, features):
    groups = {"north": ["AAA", "BBB", "CCC"], "middle": ["DDD", "EEE"], "south": ["FFF", "GGG"]}
    shares = [share.pseudonymised(pseudonymise) for share in split_by_modules(raw, groups)]
    pooled = _sorted(build_features(pool(shares), DAY).to_pandas())
    pd.testing.assert_frame_equal(pooled, _sorted(features))


def test_registrations_and_assessments_at_two_providers_link_by_pseudonym(raw, features):
    registrar, assessor = (share.pseudonymised(pseudonymise) for share in split_linked(raw))
    assert registrar.tables.submissions is None and assessor.tables.registrations is None
    with pytest.raises(InvalidInput, match="absent"):
        build_features(registrar.tables, DAY)
    linked = _sorted(build_features(pool([registrar, assessor]), DAY).to_pandas())
    pd.testing.assert_frame_equal(linked, _sorted(features))


def test_a_share_exported_as_parquet_reads_back_to_the_same_features(raw, tmp_path):
    share = split_by_modules(raw, {"a": ["AAA"], "rest": ["BBB", "CCC", "DDD", "EEE", "FFF", "GGG"]})[0]
    share = share.pseudonymised(pseudonymise)
    written = export_share(share, tmp_path)
    assert sorted(path.name for path in written) == sorted(f"{name}.parquet" for name, _ in share.tables.items())
    back = read_share(tmp_path / "a", ibis.duckdb.connect())
    assert back.modules == ("AAA",)
    pd.testing.assert_frame_equal(
        _sorted(build_features(back.tables, DAY).to_pandas()),
        _sorted(build_features(share.tables, DAY).to_pandas()),
    )
