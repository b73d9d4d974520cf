"""Estimating the effect of a learning solution from a study table: propensity scores, inverse
probability weighting, nearest-neighbour matching, bootstrap intervals and balance diagnostics.

The estimates are only as causal as the covariates are complete: they remove the differences
between users and non-users that the pre-treatment covariates measure, and nothing else
(motivation, for one, is not in any table). The balance table says whether the first part worked;
no table can say whether the second holds.

Choices, and why:

- **Propensity model**: a logistic regression (L2, C=1) on one-hot categoricals (every level kept,
  so no reference level is arbitrary; the penalty handles the collinearity) and standardised
  numeric covariates.
- **IPW**: Hájek (normalised) weighted means, ATE weights P(T=1)/e for users and P(T=0)/(1-e) for
  non-users (stabilised: they sum to about the group sizes, which keeps the effective sample
  sizes readable), ATT weights 1 for users and e/(1-e) for non-users. Propensities are *clipped*
  to [clip, 1 - clip] (default 0.01), not trimmed: every learner stays in the estimand's
  population, and no weight can exceed 1/clip. How many were clipped is reported.
- **Matching**: 1:1 nearest neighbour on the logit of the propensity, within a caliper of 0.2
  standard deviations of the logit (Austin 2011), *with replacement*: each user gets the closest
  non-user whatever the order, which lowers bias and makes the result order-independent; a
  non-user matched k times weighs k in the balance table. Users with no non-user within the
  caliper are dropped, and counted; the estimand is the ATT on the matched users.
- **Intervals**: for IPW (and the naive difference), a 95% percentile bootstrap, vectorised (index
  matrices, one chunk of replicates at a time) with a fixed seed. The propensities are held
  fixed across replicates: treating the estimated score as known gives a conservative interval
  for the ATE (Hirano, Imbens & Ridder 2003: estimating the score lowers the variance) and saves
  refitting the model a thousand times. For matching, no bootstrap: Abadie & Imbens (2008)
  showed that resampling learners and re-matching is invalid for nearest-neighbour matching, and
  resampling matched pairs ignores that, with replacement, one non-user can sit in many pairs
  (too narrow an interval when non-users are reused, which they are when users outnumber them).
  The Abadie-Imbens (2006) variance counts that reuse explicitly; the interval is the estimate
  +/- 1.96 standard errors. The number of distinct non-users and the most any was reused are
  reported next to it.
- **Balance**: standardised mean differences, (mean_users - mean_non-users) / sqrt((var_users +
  var_non-users) / 2), with the *unweighted* variances as denominator before and after, so that
  a change in SMD is a change in means only. |SMD| < 0.1 is the usual rule of thumb.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import polars as pl
from sklearn.linear_model import LogisticRegression

from dases.errors import FieldError, InvalidInput

METHODS = ("ipw", "matching")
#: The most a whole study may spend; the smallest query then gets a quarter of it.
MAX_DP_EPSILON = 10.0
BALANCE_THRESHOLD = 0.1
CALIPER_SD = 0.2
DEFAULT_CLIP = 0.01
MIN_PER_GROUP = 10


@dataclass(frozen=True)
class Estimate:
    """One effect: a difference in outcome rate (or mean score) between users and non-users."""

    estimand: str
    method: str
    value: float
    ci_low: float
    ci_high: float
    std_error: float
    n_treated: int
    n_control: int

    def as_dict(self) -> dict[str, object]:
        return {
            "estimand": self.estimand,
            "method": self.method,
            "value": self.value,
            "ci95": [self.ci_low, self.ci_high],
            "std_error": self.std_error,
            "n_treated": self.n_treated,
            "n_control": self.n_control,
        }


@dataclass(frozen=True)
class Balance:
    """Standardised mean differences per covariate column, before and after adjustment."""

    covariates: list[str]
    before: list[float]
    after: list[float]

    @property
    def max_before(self) -> float:
        return float(np.max(np.abs(self.before)))

    @property
    def max_after(self) -> float:
        return float(np.max(np.abs(self.after)))

    @property
    def imbalanced_after(self) -> list[str]:
        return [c for c, s in zip(self.covariates, self.after, strict=True) if abs(s) >= BALANCE_THRESHOLD]

    def as_dict(self) -> dict[str, object]:
        return {
            "threshold": BALANCE_THRESHOLD,
            "max_abs_smd_before": self.max_before,
            "max_abs_smd_after": self.max_after,
            "covariates_over_threshold_before": sum(abs(s) >= BALANCE_THRESHOLD for s in self.before),
            "covariates_over_threshold_after": len(self.imbalanced_after),
            "imbalanced_after": self.imbalanced_after,
            "smd": {
                c: {"before": b, "after": a}
                for c, b, a in zip(self.covariates, self.before, self.after, strict=True)
            },
        }


@dataclass(frozen=True)
class Overlap:
    """Common support: where the two groups' propensities lie, and what the adjustment cost."""

    treated_range: tuple[float, float]
    control_range: tuple[float, float]
    treated_outside_control_range: int
    control_outside_treated_range: int
    clipped: int
    effective_n_treated: float
    effective_n_control: float
    unmatched_treated: int = 0
    distinct_controls_used: int | None = None
    max_control_reuse: int | None = None

    def as_dict(self) -> dict[str, object]:
        return {key: value for key, value in self.__dict__.items() if value is not None}


@dataclass(frozen=True)
class StudyResult:
    """Everything one estimation releases, plus the arrays the plot needs."""

    outcome: str
    method: str
    n: int
    n_treated: int
    n_control: int
    naive: Estimate
    estimates: list[Estimate]
    balance: Balance
    overlap: Overlap
    propensity: np.ndarray = field(repr=False)
    treated: np.ndarray = field(repr=False)
    arms: dict[str, dict[str, float]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return {
            "outcome": self.outcome,
            "method": self.method,
            "n": self.n,
            "n_treated": self.n_treated,
            "n_control": self.n_control,
            "arms": self.arms,
            "naive": self.naive.as_dict(),
            "estimates": [e.as_dict() for e in self.estimates],
            "balance": self.balance.as_dict(),
            "overlap": self.overlap.as_dict(),
        }


def covariate_matrix(
    table: pl.DataFrame, categorical: Sequence[str], numeric: Sequence[str]
) -> tuple[np.ndarray, list[str]]:
    """One column per level of each categorical (name=level) and one per numeric covariate."""
    missing = [c for c in (*categorical, *numeric) if c not in table.columns]
    if missing:
        raise InvalidInput(
            f"the study table lacks the covariates {', '.join(missing)}",
            errors=[FieldError("covariates", "present", "covariates named in the study table")],
        )
    columns: list[np.ndarray] = []
    names: list[str] = []
    for name in categorical:
        values = table[name].cast(pl.String).fill_null("missing").to_numpy()
        for level in sorted(set(values)):
            columns.append((values == level).astype(np.float64))
            names.append(f"{name}={level}")
    for name in numeric:
        values = table[name].cast(pl.Float64).to_numpy()
        if np.isnan(values).any():
            raise InvalidInput(
                f"the covariate {name!r} has missing values",
                errors=[FieldError(name, "complete", "numeric covariates have no missing values")],
            )
        columns.append(values)
        names.append(name)
    return np.column_stack(columns), names


def propensity_scores(x: np.ndarray, treated: np.ndarray) -> np.ndarray:
    """P(treated | covariates) by logistic regression on standardised columns."""
    sd = x.std(axis=0)
    z = (x - x.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
    model = LogisticRegression(C=1.0, max_iter=2000)
    model.fit(z, treated)
    return model.predict_proba(z)[:, 1]


def standardised_differences(
    x: np.ndarray, treated: np.ndarray, weights: np.ndarray | None = None
) -> np.ndarray:
    """SMD per column; weighted means, unweighted pooled SD as the denominator."""
    t = treated == 1
    sd = np.sqrt((x[t].var(axis=0) + x[~t].var(axis=0)) / 2)
    w = np.ones(len(x)) if weights is None else weights
    mean_t = np.average(x[t], axis=0, weights=w[t])
    mean_c = np.average(x[~t], axis=0, weights=w[~t])
    with np.errstate(invalid="ignore", divide="ignore"):
        smd = (mean_t - mean_c) / sd
    return np.where(sd > 0, smd, 0.0)


def ipw_weights(propensity: np.ndarray, treated: np.ndarray, estimand: str, clip: float) -> np.ndarray:
    """Stabilised ATE or ATT weights on propensities clipped to [clip, 1 - clip]."""
    e = np.clip(propensity, clip, 1 - clip)
    t = treated == 1
    if estimand == "ATE":
        p = t.mean()
        return np.where(t, p / e, (1 - p) / (1 - e))
    return np.where(t, 1.0, e / (1 - e))


def _bootstrap(statistic, n: int, replicates: int, seed: int, chunk: int = 100) -> np.ndarray:
    """`replicates` values of `statistic(index_matrix)`, one chunk of resamples at a time."""
    rng = np.random.default_rng(seed)
    out: list[np.ndarray] = []
    done = 0
    while done < replicates:
        size = min(chunk, replicates - done)
        out.append(statistic(rng.integers(0, n, size=(size, n))))
        done += size
    return np.concatenate(out)


def weighted_difference(
    y: np.ndarray, treated: np.ndarray, weights: np.ndarray, replicates: int, seed: int
) -> tuple[float, float, float, float]:
    """Hájek weighted mean difference, its 95% percentile interval and bootstrap SE."""
    t = (treated == 1).astype(np.float64)
    a1, b1 = weights * t * y, weights * t
    a0, b0 = weights * (1 - t) * y, weights * (1 - t)
    value = a1.sum() / b1.sum() - a0.sum() / b0.sum()

    def statistic(idx: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return a1[idx].sum(1) / b1[idx].sum(1) - a0[idx].sum(1) / b0[idx].sum(1)

    draws = _bootstrap(statistic, len(y), replicates, seed)
    draws = draws[np.isfinite(draws)]
    low, high = np.percentile(draws, [2.5, 97.5])
    return float(value), float(low), float(high), float(draws.std(ddof=1))


def nearest_neighbour_match(logit: np.ndarray, treated: np.ndarray, caliper: float) -> tuple[np.ndarray, np.ndarray]:
    """For each user, the index of the nearest non-user on the logit (with replacement), within
    the caliper: returns (users kept, their matches)."""
    users = np.flatnonzero(treated == 1)
    controls = np.flatnonzero(treated == 0)
    order = np.argsort(logit[controls], kind="stable")
    sorted_logit = logit[controls][order]
    position = np.searchsorted(sorted_logit, logit[users])
    left = np.clip(position - 1, 0, len(sorted_logit) - 1)
    right = np.clip(position, 0, len(sorted_logit) - 1)
    left_distance = np.abs(logit[users] - sorted_logit[left])
    right_distance = np.abs(logit[users] - sorted_logit[right])
    best = np.where(right_distance < left_distance, right, left)
    distance = np.minimum(left_distance, right_distance)
    kept = distance <= caliper
    return users[kept], controls[order[best[kept]]]


def abadie_imbens_variance(
    logit: np.ndarray, y: np.ndarray, treated: np.ndarray, differences: np.ndarray, matches: np.ndarray
) -> float:
    """Variance of the matched ATT (one match, with replacement), Abadie & Imbens (2006):

        V = [ sum over users (d_i - ATT)^2 + sum over non-users K_j (K_j - 1) s2_j ] / N1^2

    where d_i is a user's difference with its match, K_j how many users non-user j was matched
    to, and s2_j = (y_j - y_l)^2 / 2 the outcome variance near j, from l, the non-user nearest to
    j on the logit. The K_j (K_j - 1) term is what a pair bootstrap misses: a non-user reused K
    times moves K differences at once. The propensity is treated as known (Abadie & Imbens 2016
    correct for its estimation; for the ATT the correction can go either way).
    """
    controls = np.flatnonzero(treated == 0)
    order = controls[np.argsort(logit[controls], kind="stable")]
    sorted_logit, sorted_y = logit[order], y[order]
    gap_left = np.r_[np.inf, np.diff(sorted_logit)]
    gap_right = np.r_[np.diff(sorted_logit), np.inf]
    neighbour_y = np.where(gap_left <= gap_right, np.r_[sorted_y[:1], sorted_y[:-1]], np.r_[sorted_y[1:], sorted_y[-1:]])
    local_variance = np.zeros(len(y))
    local_variance[order] = (sorted_y - neighbour_y) ** 2 / 2
    reuse = np.bincount(matches, minlength=len(y)).astype(np.float64)
    n1 = len(differences)
    spread = ((differences - differences.mean()) ** 2).sum()
    return float((spread + (reuse * (reuse - 1) * local_variance).sum()) / n1**2)


def _check_groups(treated: np.ndarray, what: str) -> None:
    n_treated = int(treated.sum())
    n_control = int(len(treated) - n_treated)
    if min(n_treated, n_control) < MIN_PER_GROUP:
        raise InvalidInput(
            f"{what}: {n_treated} users and {n_control} non-users; each group needs at least {MIN_PER_GROUP}",
            errors=[FieldError("treatment", "both_groups", f"at least {MIN_PER_GROUP} users and non-users")],
        )


def estimate_effect(
    table: pl.DataFrame,
    outcome: str,
    *,
    categorical: Sequence[str],
    numeric: Sequence[str],
    method: str = "ipw",
    replicates: int = 1000,
    seed: int = 20261121,
    clip: float = DEFAULT_CLIP,
    caliper_sd: float = CALIPER_SD,
    what: str = "the study table",
) -> StudyResult:
    """The naive difference and the adjusted effect(s) of `treated` on `outcome` in `table`."""
    if method not in METHODS:
        raise InvalidInput(
            f"unknown method {method!r}", errors=[FieldError("method", "one_of", f"one of {', '.join(METHODS)}")]
        )
    if not 0 < clip < 0.5:
        raise InvalidInput(f"clip {clip} is not in (0, 0.5)", errors=[FieldError("clip", "range", "0 < clip < 0.5")])
    if outcome not in table.columns or "treated" not in table.columns:
        raise InvalidInput(
            f"the study table needs the columns 'treated' and {outcome!r}",
            errors=[FieldError("outcome", "present", "a column of the study table")],
        )
    table = table.filter(pl.col(outcome).is_not_null())
    treated = table["treated"].cast(pl.Int8).to_numpy()
    _check_groups(treated, what)
    y = table[outcome].cast(pl.Float64).to_numpy()
    x, names = covariate_matrix(table, categorical, numeric)
    e = propensity_scores(x, treated)
    t = treated == 1
    before = standardised_differences(x, treated)
    naive_value, *naive_ci = weighted_difference(y, treated, np.ones(len(y)), replicates, seed)
    naive = Estimate("difference", "naive", naive_value, *naive_ci, int(t.sum()), int((~t).sum()))
    arms = {
        "treated": {"n": int(t.sum()), "mean_outcome": float(y[t].mean())},
        "control": {"n": int((~t).sum()), "mean_outcome": float(y[~t].mean())},
    }
    in_control = (e[t] < e[~t].min()) | (e[t] > e[~t].max())
    in_treated = (e[~t] < e[t].min()) | (e[~t] > e[t].max())
    support = {
        "treated_range": (float(e[t].min()), float(e[t].max())),
        "control_range": (float(e[~t].min()), float(e[~t].max())),
        "treated_outside_control_range": int(in_control.sum()),
        "control_outside_treated_range": int(in_treated.sum()),
    }

    if method == "ipw":
        estimates = []
        for estimand in ("ATE", "ATT"):
            w = ipw_weights(e, treated, estimand, clip)
            value, low, high, se = weighted_difference(y, treated, w, replicates, seed)
            estimates.append(Estimate(estimand, "ipw", value, low, high, se, int(t.sum()), int((~t).sum())))
            if estimand == "ATE":
                after = standardised_differences(x, treated, w)
                overlap = Overlap(
                    **support,
                    clipped=int(((e < clip) | (e > 1 - clip)).sum()),
                    effective_n_treated=_kish(w[t]),
                    effective_n_control=_kish(w[~t]),
                )
    else:
        logit = np.log(e / (1 - e))
        caliper = caliper_sd * logit.std()
        users, matches = nearest_neighbour_match(logit, treated, caliper)
        if len(users) < MIN_PER_GROUP:
            raise InvalidInput(
                f"{what}: only {len(users)} users found a non-user within the caliper",
                errors=[FieldError("method", "matchable", "enough overlap for matching, or use ipw")],
            )
        w = np.zeros(len(y))
        w[users] = 1.0
        np.add.at(w, matches, 1.0)
        after = standardised_differences(x, treated, w)
        differences = y[users] - y[matches]
        value = float(differences.mean())
        se = math.sqrt(abadie_imbens_variance(logit, y, treated, differences, matches))
        low, high = value - 1.959964 * se, value + 1.959964 * se
        reuse = np.bincount(matches)
        estimates = [
            Estimate(
                "ATT",
                "matching",
                value,
                low,
                high,
                se,
                len(users),
                len(np.unique(matches)),
            )
        ]
        overlap = Overlap(
            **support,
            clipped=0,
            effective_n_treated=float(len(users)),
            effective_n_control=_kish(w[~t]),
            unmatched_treated=int(t.sum() - len(users)),
            distinct_controls_used=len(np.unique(matches)),
            max_control_reuse=int(reuse.max()),
        )

    return StudyResult(
        outcome=outcome,
        method=method,
        n=len(y),
        n_treated=int(t.sum()),
        n_control=int((~t).sum()),
        naive=naive,
        estimates=estimates,
        balance=Balance(names, before.tolist(), after.tolist()),
        overlap=overlap,
        propensity=e,
        treated=treated,
        arms=arms,
    )


def _kish(weights: np.ndarray) -> float:
    """Kish's effective sample size: how many equally weighted learners the weights are worth."""
    positive = weights[weights > 0]
    return float(positive.sum() ** 2 / (positive**2).sum()) if len(positive) else 0.0


#: Where each outcome lives, for the bounded (DP) mean: rates in [0, 1], scores in [0, 100].
OUTCOME_BOUNDS = {"withdrawal": (0.0, 1.0), "pass": (0.0, 1.0), "score": (0.0, 100.0)}


def noisy_arms(table: pl.DataFrame, outcome: str, epsilon: float) -> dict[str, dict[str, float]]:
    """Per-arm counts and outcome means with discrete Laplace noise, spending `epsilon` in all.

    Users and non-users are disjoint, so the two arms' answers compose in parallel; the count and
    the mean of one arm compose sequentially and get half of `epsilon` each.
    """
    from dases.privacy import dp

    lower, upper = OUTCOME_BOUNDS[outcome]
    table = table.filter(pl.col(outcome).is_not_null())
    arms = {}
    for arm, flag in (("treated", 1), ("control", 0)):
        rows = table.filter(pl.col("treated") == flag)
        arms[arm] = {
            "n": dp.count(rows, epsilon / 2).value,
            "mean_outcome": dp.bounded_mean(rows, outcome, lower, upper, epsilon / 2).value,
        }
    return arms


def impact_study(
    table: pl.DataFrame,
    outcome: str,
    *,
    categorical: Sequence[str],
    numeric: Sequence[str],
    method: str = "ipw",
    replicates: int = 1000,
    seed: int = 20261121,
    dp_epsilon: float | None = None,
) -> tuple[StudyResult, dict[str, object]]:
    """The pooled estimate and one per provider, as the JSON-ready release.

    The pooled table carries the module-presentation among its covariates, so pooling compares
    learners of the same course; per provider, the same model runs on that provider's rows only.
    A provider whose rows cannot support an estimate (too few users or non-users) gets the reason
    instead of numbers, so that one small provider does not sink the study.

    With `dp_epsilon`, the released per-arm counts and means are noisy (half the budget on the
    pooled table, half on the providers', which are disjoint), and the naive difference becomes
    the difference of the noisy means. The adjusted estimates, their intervals and the balance
    table are computed on the exact rows and are *not* covered: the release says so.
    """
    if dp_epsilon is not None and not (math.isfinite(dp_epsilon) and 0 < dp_epsilon <= MAX_DP_EPSILON):
        raise InvalidInput(
            f"dp_epsilon must be above 0 and at most {MAX_DP_EPSILON}, not {dp_epsilon}",
            errors=[FieldError("dp_epsilon", "range", f"0 < dp_epsilon <= {MAX_DP_EPSILON}")],
        )
    options = {"categorical": categorical, "numeric": numeric, "method": method, "replicates": replicates, "seed": seed}
    pooled = estimate_effect(table, outcome, what="the pooled table", **options)
    release: dict[str, object] = {"pooled": pooled.as_dict(), "providers": {}}
    for (provider,), rows in sorted(table.partition_by("provider", as_dict=True).items()):
        try:
            result = estimate_effect(rows, outcome, what=f"provider {provider}", **options)
        except InvalidInput as error:
            release["providers"][provider] = {"error": error.detail}
            continue
        release["providers"][provider] = result.as_dict()
        if dp_epsilon is not None:
            _apply_dp(release["providers"][provider], rows, outcome, dp_epsilon / 2)
    if dp_epsilon is not None:
        _apply_dp(release["pooled"], table, outcome, dp_epsilon / 2)
        release["dp"] = {
            "epsilon": dp_epsilon,
            "mechanism": "discrete Laplace (dases.privacy.dp), secrets-grade randomness",
            "neighbouring": "one learner's row added or removed",
            "split": "epsilon/2 on the pooled arms, epsilon/2 on the providers' arms (disjoint)",
            "covered": ["arms.n", "arms.mean_outcome", "naive.value"],
            "not_covered": ["estimates", "balance", "overlap", "the plot"],
        }
    return pooled, release


def _apply_dp(released: dict[str, object], table: pl.DataFrame, outcome: str, epsilon: float) -> None:
    """Swap the exact per-arm aggregates of one release for noisy ones, and drop the exact counts."""
    arms = noisy_arms(table, outcome, epsilon)
    released["arms"] = arms
    released["naive"] = {
        "estimand": "difference",
        "method": "naive, from the noisy arm means",
        "value": arms["treated"]["mean_outcome"] - arms["control"]["mean_outcome"],
    }
    for exact in ("n", "n_treated", "n_control"):
        released.pop(exact, None)
