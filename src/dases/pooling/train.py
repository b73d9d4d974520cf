"""Train the dropout model on earlier presentations, judge it on later ones.

Train on the 2013 presentations, test on the 2014 ones: the only split that says how a model
built today would do next year (a random split of rows mixes a presentation's learners between
train and test, and flatters the model).

Every figure comes with its uncertainty: ROC AUC with a percentile bootstrap interval over test
rows (fixed seed, vectorised so that 1,000+ resamples cost a fraction of a second), plus the Brier
score, a calibration table and per-group fairness figures.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import brier_score_loss, roc_curve
from threadpoolctl import threadpool_limits

from dases.errors import InvalidInput
from dases.pooling.features import CATEGORICAL_FEATURES, FAIRNESS_GROUPS, FEATURES, LABEL

TRAIN_YEARS = ("2013",)
TEST_YEARS = ("2014",)
BOOTSTRAP_RESAMPLES = 1000
SEED = 0
#: Threads for training and scoring. The tables are small (tens of thousands of rows), where one
#: thread costs little, and on a shared machine OpenMP's waiting threads made a study 10x slower
#: in wall time than one thread (measured: 386 s vs 25 s for the test module under load).
THREADS = 1

#: Chosen once, a priori (shallow trees, some shrinkage for a few thousand rows); not tuned on
#: the 2014 test presentations. docs/pooling.md lists the variants measured and their spread.
HYPERPARAMETERS = {
    "learning_rate": 0.05,
    "max_iter": 300,
    "max_leaf_nodes": 7,
    "min_samples_leaf": 40,
    "l2_regularization": 1.0,
    # a fixed number of iterations: early stopping would hold out a random tenth of the rows,
    # making the model depend on the order the engine returned them in
    "early_stopping": False,
}


def split_years(
    frame: pd.DataFrame, train: Sequence[str] = TRAIN_YEARS, test: Sequence[str] = TEST_YEARS
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rows of the training presentations and rows of the test presentations."""
    year = frame["code_presentation"].str[:4]
    return frame[year.isin(train)], frame[year.isin(test)]


@dataclass
class DropoutModel:
    """A fitted classifier with the feature columns and category levels it was trained on."""

    classifier: HistGradientBoostingClassifier
    features: list[str]
    categories: dict[str, list[str]]
    train_rows: int
    train_positive_rate: float

    def matrix(self, frame: pd.DataFrame) -> np.ndarray:
        """The model's input matrix (categoricals as codes of the training levels)."""
        return _matrix(frame, self.features, self.categories)

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """Probability of withdrawing after day N, one per row."""
        with threadpool_limits(THREADS):
            return self.classifier.predict_proba(self.matrix(frame))[:, 1]


def _matrix(frame: pd.DataFrame, features: Sequence[str], categories: Mapping[str, list[str]]) -> np.ndarray:
    """A float matrix: numbers as they are, categoricals as codes of the training levels.

    Encoded here rather than by the classifier from pandas categoricals: scoring is done many
    times (bootstrap, permutation importance), and the classifier's own encoding of a data frame
    costs as much as the trees themselves. A level unseen in training becomes missing.
    """
    columns = np.empty((len(frame), len(features)), dtype=np.float64)
    for index, name in enumerate(features):
        if name in categories:
            codes = pd.Categorical(frame[name].astype("string"), categories=categories[name]).codes
            columns[:, index] = np.where(codes < 0, np.nan, codes)
        else:
            columns[:, index] = pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    return columns


def fit(train: pd.DataFrame, *, features: Sequence[str] = FEATURES, seed: int = SEED) -> DropoutModel:
    """Fit gradient boosting on `train`.

    A feature with no value at all in the training rows (a provider whose modules have no
    assessment due by day N has no scores) carries nothing to learn from and is left out.
    """
    labels = train[LABEL].astype(int)
    if len(train) == 0 or labels.nunique() < 2:
        raise InvalidInput("training needs rows of both classes (some withdrew, some did not)")
    usable = [name for name in features if train[name].notna().any()]
    categories = {
        name: sorted(str(v) for v in train[name].dropna().unique())
        for name in usable
        if name in CATEGORICAL_FEATURES
    }
    classifier = HistGradientBoostingClassifier(
        categorical_features=[name in categories for name in usable], random_state=seed, **HYPERPARAMETERS
    )
    with threadpool_limits(THREADS):
        classifier.fit(_matrix(train, usable, categories), labels)
    return DropoutModel(classifier, usable, categories, len(train), float(labels.mean()))


def bootstrap_aucs(
    labels: np.ndarray,
    scores: np.ndarray,
    *,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = SEED,
    chunk: int = 100,
) -> tuple[float, np.ndarray]:
    """ROC AUC on the rows, and on each of `resamples` bootstrap resamples of them.

    Each resample is a vector of counts over the rows; with the rows sorted by score once, a
    resample's AUC is a weighted Mann-Whitney sum over tie groups, so resamples are evaluated
    as matrix operations, `chunk` at a time to bound memory. The resamples depend only on the
    seed and the number of rows, so two score vectors on the same rows get the same resamples
    (which is what a paired comparison needs). A resample with a single class gives NaN.
    """
    labels = np.asarray(labels, dtype=np.int64)
    scores = np.asarray(scores, dtype=np.float64)
    if labels.shape != scores.shape or labels.ndim != 1:
        raise InvalidInput("labels and scores must be two vectors of the same length")
    if len(np.unique(labels)) < 2:
        raise InvalidInput("AUC needs both classes among the rows")
    if resamples < 1:
        raise InvalidInput("resamples must be at least 1")
    order = np.argsort(scores, kind="mergesort")
    sorted_labels, sorted_scores = labels[order], scores[order]
    starts = np.flatnonzero(np.r_[True, sorted_scores[1:] != sorted_scores[:-1]])

    def weighted_auc(counts: np.ndarray) -> np.ndarray:
        positives = np.add.reduceat(counts * sorted_labels, starts, axis=1)
        negatives = np.add.reduceat(counts * (1 - sorted_labels), starts, axis=1)
        below = np.cumsum(negatives, axis=1) - negatives
        won = (positives * (below + 0.5 * negatives)).sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return won / (positives.sum(axis=1) * negatives.sum(axis=1))

    n = len(labels)
    point = float(weighted_auc(np.ones((1, n), dtype=np.int64))[0])
    rng = np.random.default_rng(seed)
    draws = []
    for begin in range(0, resamples, chunk):
        size = min(chunk, resamples - begin)
        picks = rng.integers(0, n, size=(size, n)) + (np.arange(size) * n)[:, None]
        counts = np.bincount(picks.ravel(), minlength=size * n).reshape(size, n)
        draws.append(weighted_auc(counts[:, order]))  # drawn over rows as given, summed in score order
    return point, np.concatenate(draws)


def _percentile_interval(draws: np.ndarray, level: float) -> tuple[float, float]:
    finite = draws[np.isfinite(draws)]
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(finite, [tail, 100 - tail])
    return float(low), float(high)


def auc_with_interval(
    labels: np.ndarray,
    scores: np.ndarray,
    *,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = SEED,
    level: float = 0.95,
    chunk: int = 100,
) -> tuple[float, float, float]:
    """ROC AUC and its percentile bootstrap interval over rows."""
    point, draws = bootstrap_aucs(labels, scores, resamples=resamples, seed=seed, chunk=chunk)
    return (point, *_percentile_interval(draws, level))


def auc_difference_with_interval(
    labels: np.ndarray,
    first: np.ndarray,
    second: np.ndarray,
    *,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = SEED,
    level: float = 0.95,
) -> tuple[float, float, float]:
    """AUC of `first` minus AUC of `second` on the same rows, with a paired bootstrap interval.

    Paired: both are measured on the same resamples, so the learners that are hard for both
    models do not widen the interval of their difference.
    """
    point_a, draws_a = bootstrap_aucs(labels, first, resamples=resamples, seed=seed)
    point_b, draws_b = bootstrap_aucs(labels, second, resamples=resamples, seed=seed)
    return (point_a - point_b, *_percentile_interval(draws_a - draws_b, level))


@dataclass(frozen=True)
class Interval:
    value: float
    low: float
    high: float

    def __str__(self) -> str:
        return f"{self.value:.3f} [{self.low:.3f}, {self.high:.3f}]"


@dataclass(frozen=True)
class GroupFigures:
    """Fairness figures for one value of one protected attribute."""

    attribute: str
    group: str
    rows: int
    withdrawal_rate: float
    flagged_rate: float
    auc: Interval | None


@dataclass
class Evaluation:
    """How a model did on a set of test rows."""

    rows: int
    positives: int
    auc: Interval
    brier: float
    threshold: float
    calibration: list[tuple[float, float, int]]
    roc: tuple[np.ndarray, np.ndarray]
    fairness: list[GroupFigures] = field(default_factory=list)


def calibration_table(labels: np.ndarray, scores: np.ndarray, bins: int = 10) -> list[tuple[float, float, int]]:
    """Mean predicted vs observed withdrawal rate in `bins` bins of equal size (score deciles)."""
    order = np.argsort(scores, kind="mergesort")
    table = []
    for part in np.array_split(order, bins):
        if len(part):
            table.append((float(scores[part].mean()), float(labels[part].mean()), len(part)))
    return table


def flag_threshold(model: DropoutModel, train: pd.DataFrame) -> float:
    """The score above which a learner is flagged: as many flags as the training withdrawal rate.

    Flagging the same share of learners the model saw withdraw is a neutral operating point for
    comparing flag rates between groups; a deployment would set its own from its capacity to act.
    """
    scores = model.predict(train)
    return float(np.quantile(scores, 1 - model.train_positive_rate))


def evaluate(
    model: DropoutModel,
    test: pd.DataFrame,
    *,
    threshold: float,
    groups: Sequence[str] = FAIRNESS_GROUPS,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = SEED,
) -> Evaluation:
    """AUC with its interval, Brier score, calibration, ROC curve and per-group figures on `test`."""
    labels = test[LABEL].astype(int).to_numpy()
    scores = model.predict(test)
    auc = Interval(*auc_with_interval(labels, scores, resamples=resamples, seed=seed))
    fpr, tpr, _ = roc_curve(labels, scores)
    fairness = []
    for attribute in groups:
        values = test[attribute].astype("string").fillna("unknown").to_numpy()
        for group in sorted(set(values)):
            inside = values == group
            group_labels, group_scores = labels[inside], scores[inside]
            group_auc = None
            if len(np.unique(group_labels)) == 2:
                group_auc = Interval(*auc_with_interval(group_labels, group_scores, resamples=resamples, seed=seed))
            fairness.append(
                GroupFigures(
                    attribute,
                    str(group),
                    int(inside.sum()),
                    float(group_labels.mean()),
                    float((group_scores >= threshold).mean()),
                    group_auc,
                )
            )
    return Evaluation(
        rows=len(test),
        positives=int(labels.sum()),
        auc=auc,
        brier=float(brier_score_loss(labels, scores)),
        threshold=threshold,
        calibration=calibration_table(labels, scores),
        roc=(fpr, tpr),
        fairness=fairness,
    )


@dataclass(frozen=True)
class ProviderComparison:
    """One provider's test rows scored by its own model and by the pooled one."""

    provider: str
    modules: tuple[str, ...]
    train_rows: int
    test_rows: int
    local: Interval | None
    pooled: Interval
    gain: Interval | None = None
    note: str = ""

    @property
    def pooling_wins(self) -> bool:
        """The pooled model ranks this provider's learners better (or is the only model there)."""
        return self.local is None or self.pooled.value > self.local.value

    @property
    def clear_win(self) -> bool:
        """Pooling wins and the paired 95% interval of the AUC gain excludes zero."""
        return self.local is None or (self.gain is not None and self.gain.low > 0)


def compare_providers(
    frame: pd.DataFrame,
    pooled_model: DropoutModel,
    groups: Mapping[str, Sequence[str]],
    *,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = SEED,
) -> list[ProviderComparison]:
    """For each provider: a model trained on its own 2013 rows vs the pooled model, on its 2014 rows."""
    train, test = split_years(frame)
    rows = []
    for provider, modules in groups.items():
        own_train = train[train["code_module"].isin(modules)]
        own_test = test[test["code_module"].isin(modules)]
        labels = own_test[LABEL].astype(int).to_numpy()
        if len(own_test) == 0 or len(np.unique(labels)) < 2:
            continue
        pooled_scores = pooled_model.predict(own_test)
        pooled = Interval(*auc_with_interval(labels, pooled_scores, resamples=resamples, seed=seed))
        if len(own_train) == 0 or own_train[LABEL].nunique() < 2:
            note = "no training presentation at this provider: only the pooled model can serve it"
            rows.append(ProviderComparison(provider, tuple(modules), len(own_train), len(own_test), None, pooled, None, note))
            continue
        local_model = fit(own_train, seed=seed)
        local_scores = local_model.predict(own_test)
        local = Interval(*auc_with_interval(labels, local_scores, resamples=resamples, seed=seed))
        gain = Interval(*auc_difference_with_interval(labels, pooled_scores, local_scores, resamples=resamples, seed=seed))
        rows.append(ProviderComparison(provider, tuple(modules), len(own_train), len(own_test), local, pooled, gain))
    return rows
