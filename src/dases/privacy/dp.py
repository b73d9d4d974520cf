"""Differentially private counts, histograms and bounded means, with exact integer noise.

Mechanism: the discrete Laplace distribution (P(x) proportional to exp(-|x| / scale) over the
integers), sampled exactly with Canonne, Kamath and Steinke's algorithm (NeurIPS 2020) from
rational Bernoulli trials drawn with `secrets.randbelow`, the operating system's CSPRNG. Why not
`random` plus a floating-point inverse CDF: `random` is predictable from its outputs, and
textbook floating-point Laplace leaks the true value through the pattern of representable
doubles it can return (Mironov, CCS 2012). Integer noise added to integer answers has no such
holes; the release is ε-DP for a query of L1 sensitivity Δ when scale = Δ / ε.

Neighbouring datasets differ by one learner's row added or removed. So:

- a count changes by at most 1: Δ = 1;
- a histogram over *declared* bins changes in one bin by 1: Δ = 1 for the whole vector, each bin
  gets scale 1/ε. Bins are declared by the analyst, never taken from the data, because the set
  of values present would itself reveal who is in it; values outside the bins are not counted;
- a bounded mean clamps every value to the declared [lower, upper] (so one row moves a sum by at
  most half the range once centred on the midpoint), quantises it to `resolution`, and spends
  half of ε on the centred sum (Δ = (upper - lower) / 2 / resolution grid steps) and half on the
  count (Δ = 1); the answer is midpoint + noisy sum / noisy count, clamped back into range.

The budget these answers spend is tracked per (dataset, consumer) by `dases.privacy.service`.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

import polars as pl

from dases.errors import FieldError, InvalidInput

#: Largest epsilon one query may spend: beyond it the noise no longer hides anyone.
MAX_QUERY_EPSILON = 10.0


def _bernoulli(p: Fraction) -> bool:
    return secrets.randbelow(p.denominator) < p.numerator


def _bernoulli_exp_small(gamma: Fraction) -> bool:
    """True with probability exp(-gamma), for 0 <= gamma <= 1 (CKS 2020, Algorithm 1)."""
    k = 1
    while _bernoulli(gamma / k):
        k += 1
    return k % 2 == 1


def bernoulli_exp(gamma: Fraction) -> bool:
    """True with probability exp(-gamma), for gamma >= 0, exactly."""
    whole = math.floor(gamma)
    for _ in range(whole):
        if not _bernoulli_exp_small(Fraction(1)):
            return False
    return _bernoulli_exp_small(gamma - whole)


def as_fraction(value: float | Fraction) -> Fraction:
    """The decimal the user wrote (0.1 is 1/10, not the nearest double)."""
    return value if isinstance(value, Fraction) else Fraction(str(value))


def discrete_laplace(scale: Fraction) -> int:
    """One draw of the discrete Laplace with P(x) ∝ exp(-|x| / scale) (CKS 2020, Algorithm 2)."""
    if scale <= 0:
        raise ValueError("the noise scale is positive")
    t, s = scale.numerator, scale.denominator
    while True:
        u = secrets.randbelow(t)
        if not bernoulli_exp(Fraction(u, t)):
            continue
        v = 0
        while bernoulli_exp(Fraction(1)):
            v += 1
        y = (u + t * v) // s
        negative = _bernoulli(Fraction(1, 2))
        if negative and y == 0:
            continue
        return -y if negative else y


def discrete_laplace_variance(scale: Fraction | float) -> float:
    """2 e^(-1/b) / (1 - e^(-1/b))^2: what the spread of many draws should approach."""
    r = math.exp(-1 / float(scale))
    return 2 * r / (1 - r) ** 2


def check_epsilon(epsilon: float) -> Fraction:
    if not (isinstance(epsilon, int | float) and math.isfinite(epsilon) and 0 < epsilon <= MAX_QUERY_EPSILON):
        raise InvalidInput(
            f"epsilon must be above 0 and at most {MAX_QUERY_EPSILON}, not {epsilon}",
            errors=[FieldError("epsilon", "range", f"0 < epsilon <= {MAX_QUERY_EPSILON}")],
        )
    return as_fraction(epsilon)


def _column(frame: pl.DataFrame, column: str) -> pl.Series:
    if column not in frame.columns:
        raise InvalidInput(f"the dataset has no column {column!r}", errors=[FieldError("column", "present", "name a column of the dataset")])
    return frame[column]


@dataclass(frozen=True)
class NoisyCount:
    value: int
    epsilon: float
    scale: float


def count(frame: pl.DataFrame, epsilon: float) -> NoisyCount:
    """The number of rows, ε-DP (Δ = 1)."""
    eps = check_epsilon(epsilon)
    scale = 1 / eps
    return NoisyCount(value=frame.height + discrete_laplace(scale), epsilon=float(eps), scale=float(scale))


@dataclass(frozen=True)
class NoisyHistogram:
    bins: list[str]
    counts: list[int]
    epsilon: float
    scale: float


def histogram(frame: pl.DataFrame, column: str, bins: Sequence[str], epsilon: float) -> NoisyHistogram:
    """Rows per declared category of `column`, ε-DP over the whole vector (Δ = 1)."""
    eps = check_epsilon(epsilon)
    if not bins or len(set(bins)) != len(bins):
        raise InvalidInput("declare the histogram's bins, each once", errors=[FieldError("bins", "unique_non_empty", "a non-empty list of distinct values")])
    series = _column(frame, column).cast(pl.String)
    counted = dict(series.filter(series.is_in(list(bins))).value_counts().iter_rows())
    scale = 1 / eps
    return NoisyHistogram(
        bins=list(bins),
        counts=[int(counted.get(b, 0)) + discrete_laplace(scale) for b in bins],
        epsilon=float(eps),
        scale=float(scale),
    )


@dataclass(frozen=True)
class NoisyMean:
    value: float
    epsilon: float
    lower: float
    upper: float


def bounded_mean(frame: pl.DataFrame, column: str, lower: float, upper: float, epsilon: float, resolution: float | None = None) -> NoisyMean:
    """The mean of `column` clamped to [lower, upper], ε-DP (half of ε on the sum, half on the count)."""
    eps = check_epsilon(epsilon)
    if not (math.isfinite(lower) and math.isfinite(upper) and lower < upper):
        raise InvalidInput("declare finite bounds with lower < upper", errors=[FieldError("lower", "bounds", "lower < upper, both finite")])
    step = as_fraction(resolution) if resolution is not None else as_fraction(upper - lower) / 1000
    if step <= 0:
        raise InvalidInput("the resolution is positive", errors=[FieldError("resolution", "positive", "resolution > 0")])
    series = _column(frame, column)
    if not series.dtype.is_numeric():
        series = series.cast(pl.Float64, strict=False)
    values = series.drop_nulls().cast(pl.Float64).clip(lower, upper)
    midpoint = (lower + upper) / 2
    # Centred on the midpoint and counted in grid steps: one row moves the sum by at most
    # half the range, i.e. this many steps.
    steps = ((values - midpoint) / float(step)).round().cast(pl.Int64)
    sensitivity = math.ceil(as_fraction(upper - lower) / 2 / step)
    half = eps / 2
    noisy_sum = int(steps.sum()) + discrete_laplace(Fraction(sensitivity) / half)
    noisy_count = values.len() + discrete_laplace(1 / half)
    mean = midpoint + noisy_sum * float(step) / max(noisy_count, 1)
    return NoisyMean(value=min(max(mean, lower), upper), epsilon=float(eps), lower=lower, upper=upper)
