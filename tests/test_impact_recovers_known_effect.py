"""On synthetic learners with a known effect and confounding, the naive comparison is biased
and both IPW and matching recover the true effect within their intervals, with balance restored."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from dases.errors import InvalidInput
from dases.impact import service

CATEGORICAL = ("track",)
NUMERIC = ("prior", "credits")
TRUE_SCORE_EFFECT = 3.0
TRUE_RATE_EFFECT = 0.10


def confounded_learners(n: int = 12_000, seed: int = 7) -> pl.DataFrame:
    """Stronger prior learners and track b use the tool more *and* do better without it."""
    rng = np.random.default_rng(seed)
    track = rng.choice(["a", "b", "c"], size=n, p=[0.4, 0.35, 0.25])
    prior = rng.normal(0, 1, n)
    credits = rng.choice([30.0, 60.0, 120.0], size=n)
    logit = -0.3 + 1.0 * prior + 0.8 * (track == "b") - 0.6 * (track == "c") + 0.006 * credits
    treated = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.int8)
    score = 50 + 8 * prior + 6 * (track == "b") + 0.05 * credits + TRUE_SCORE_EFFECT * treated + rng.normal(0, 5, n)
    # A constant risk difference, so that ATE = ATT = TRUE_RATE_EFFECT exactly.
    p_pass = 0.2 + 0.2 * (prior > 0) + 0.1 * (track == "b") + TRUE_RATE_EFFECT * treated
    passed = (rng.random(n) < p_pass).astype(np.float64)
    return pl.DataFrame(
        {
            "provider": np.where(track == "c", "p2", "p1"),
            "track": track,
            "prior": prior,
            "credits": credits,
            "treated": treated,
            "score": score,
            "pass": passed,
        }
    )


@pytest.fixture(scope="module")
def learners() -> pl.DataFrame:
    return confounded_learners()


def _estimate(table: pl.DataFrame, outcome: str, method: str) -> service.StudyResult:
    return service.estimate_effect(
        table, outcome, categorical=CATEGORICAL, numeric=NUMERIC, method=method, replicates=400
    )


@pytest.mark.parametrize(("outcome", "truth"), [("score", TRUE_SCORE_EFFECT), ("pass", TRUE_RATE_EFFECT)])
def test_naive_difference_is_biased_and_adjusted_ones_cover_the_truth(learners, outcome, truth):
    ipw = _estimate(learners, outcome, "ipw")
    matching = _estimate(learners, outcome, "matching")

    assert ipw.naive.ci_low > truth, "confounding pushes the naive difference above the truth"
    for estimate in [*ipw.estimates, *matching.estimates]:
        assert estimate.ci_low <= truth <= estimate.ci_high, estimate
        assert estimate.ci_high - estimate.ci_low < (2.0 if outcome == "score" else 0.1)
    assert [e.estimand for e in ipw.estimates] == ["ATE", "ATT"]
    assert [e.estimand for e in matching.estimates] == ["ATT"]


@pytest.mark.parametrize("method", ["ipw", "matching"])
def test_adjustment_brings_every_covariate_under_the_balance_threshold(learners, method):
    result = _estimate(learners, "score", method)

    assert result.balance.max_before > 0.3
    assert result.balance.max_after < service.BALANCE_THRESHOLD
    assert result.balance.imbalanced_after == []
    assert set(result.balance.covariates) == {"track=a", "track=b", "track=c", "prior", "credits"}
    released = result.as_dict()["balance"]
    assert released["smd"]["prior"]["before"] > 0.3
    assert abs(released["smd"]["prior"]["after"]) < service.BALANCE_THRESHOLD


def test_matching_reports_its_caliper_losses_and_control_reuse(learners):
    overlap = _estimate(learners, "score", "matching").overlap

    assert overlap.distinct_controls_used is not None and overlap.distinct_controls_used > 100
    assert overlap.max_control_reuse is not None and overlap.max_control_reuse >= 1
    assert overlap.unmatched_treated >= 0
    assert 0 < overlap.treated_range[0] < overlap.treated_range[1] < 1


def test_caliper_drops_users_without_a_close_non_user():
    logit = np.array([0.0, 0.05, 5.0, 0.02, 0.9])
    treated = np.array([1, 1, 1, 0, 0])
    users, matches = service.nearest_neighbour_match(logit, treated, caliper=0.2)

    assert users.tolist() == [0, 1]
    assert matches.tolist() == [3, 3]


def test_the_same_seed_gives_the_same_interval_and_another_seed_moves_it(learners):
    first = service.estimate_effect(learners, "score", categorical=CATEGORICAL, numeric=NUMERIC, replicates=200, seed=1)
    again = service.estimate_effect(learners, "score", categorical=CATEGORICAL, numeric=NUMERIC, replicates=200, seed=1)
    other = service.estimate_effect(learners, "score", categorical=CATEGORICAL, numeric=NUMERIC, replicates=200, seed=2)

    assert first.estimates == again.estimates
    assert first.estimates[0].value == other.estimates[0].value
    assert first.estimates[0].ci_low != other.estimates[0].ci_low


def test_clipping_bounds_the_weights_and_is_counted():
    propensity = np.array([0.001, 0.5, 0.999, 0.3])
    treated = np.array([1, 0, 0, 1])
    weights = service.ipw_weights(propensity, treated, "ATE", clip=0.01)

    assert weights.max() <= 0.5 / 0.01 + 1e-9
    assert weights[0] == pytest.approx(0.5 / 0.01)


def test_pooled_and_per_provider_estimates_are_released(learners):
    pooled, release = service.impact_study(
        learners, "score", categorical=CATEGORICAL, numeric=NUMERIC, replicates=200
    )

    assert set(release["providers"]) == {"p1", "p2"}
    assert release["pooled"]["n"] == learners.height == pooled.n
    for provider in ("p1", "p2"):
        ate = release["providers"][provider]["estimates"][0]
        assert ate["ci95"][0] <= TRUE_SCORE_EFFECT <= ate["ci95"][1]
    assert "dp" not in release


def test_a_provider_without_enough_non_users_gets_a_reason_not_a_crash(learners):
    lopsided = learners.filter(~((pl.col("provider") == "p2") & (pl.col("treated") == 0)))
    _, release = service.impact_study(lopsided, "score", categorical=CATEGORICAL, numeric=NUMERIC, replicates=100)

    assert "non-users" in release["providers"]["p2"]["error"]
    assert "estimates" in release["providers"]["p1"]


def test_dp_release_noises_counts_and_means_and_says_what_it_does_not_cover(learners):
    _, release = service.impact_study(
        learners, "pass", categorical=CATEGORICAL, numeric=NUMERIC, replicates=100, dp_epsilon=1.0
    )

    pooled = release["pooled"]
    exact_treated = int(learners["treated"].sum())
    assert "n" not in pooled and "n_treated" not in pooled
    assert abs(pooled["arms"]["treated"]["n"] - exact_treated) < 200
    assert 0 <= pooled["arms"]["control"]["mean_outcome"] <= 1
    assert release["dp"]["epsilon"] == 1.0
    assert "estimates" in release["dp"]["not_covered"]
    draws = {service.noisy_arms(learners, "pass", 0.5)["treated"]["n"] for _ in range(20)}
    assert len(draws) > 1, "twenty noisy counts were all equal: no noise was added"


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"method": "magic"}, "method"),
        ({"clip": 0.7}, "clip"),
    ],
)
def test_bad_options_name_the_field(learners, options, field):
    with pytest.raises(InvalidInput) as caught:
        service.estimate_effect(learners, "score", categorical=CATEGORICAL, numeric=NUMERIC, **options)
    assert caught.value.errors[0].field == field


def test_bad_dp_epsilon_and_missing_covariates_are_refused(learners):
    with pytest.raises(InvalidInput) as caught:
        service.impact_study(learners, "score", categorical=CATEGORICAL, numeric=NUMERIC, dp_epsilon=0)
    assert caught.value.errors[0].field == "dp_epsilon"
    with pytest.raises(InvalidInput) as caught:
        service.estimate_effect(learners, "score", categorical=("nope",), numeric=NUMERIC)
    assert caught.value.errors[0].field == "covariates"


def test_too_few_users_is_a_clear_refusal(learners):
    few = pl.concat([learners.filter(pl.col("treated") == 1).head(3), learners.filter(pl.col("treated") == 0)])
    with pytest.raises(InvalidInput, match="3 users"):
        service.estimate_effect(few, "score", categorical=CATEGORICAL, numeric=NUMERIC)


def test_reusing_one_non_user_for_many_users_widens_the_matching_interval():
    rng = np.random.default_rng(0)
    y = rng.normal(0, 1, 40)
    treated = np.r_[np.ones(20, dtype=np.int8), np.zeros(20, dtype=np.int8)]
    logit = np.r_[np.linspace(0, 1, 20), np.linspace(0, 1, 20)]
    distinct = np.arange(20, 40)
    reused = np.full(20, 30)
    spread_distinct = service.abadie_imbens_variance(logit, y, treated, y[:20] - y[distinct], distinct)
    spread_reused = service.abadie_imbens_variance(logit, y, treated, y[:20] - y[reused], reused)

    assert spread_reused > spread_distinct
    pairs_only = ((y[:20] - y[reused]) - (y[:20] - y[reused]).mean()).var() * 20 / 20**2
    assert spread_reused > pairs_only, "the reuse term adds to what resampling pairs would see"
