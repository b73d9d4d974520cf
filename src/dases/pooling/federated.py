"""Federated training: the dropout model learnt without moving rows (FedAvg).

Pooling copies de-identified rows into one place. When a provider may not let rows leave, the
same task can be learnt by federated averaging (McMahan et al., 2017): each provider improves the
current model on its own rows and sends back only the new weights and its row count; the
coordinator averages the weights, weighted by rows, and starts the next round.

What crosses a provider's boundary here, and nothing else:

- once, before training: the categories its categorical columns take (to agree on one encoding)
  and, per numeric column, its row count, sum and sum of squares (to standardise alike);
- per round: the weight vector in, the weight vector, its row count and its mean loss out;
- for evaluation: the model's scores on its own test rows stay local; it returns the counts the
  coordinator needs (its ROC AUC and row count) or, when asked for a pooled AUC, its scores with
  their labels (as a pooled evaluation on the test split would see them).

The model is an L2-regularised logistic regression on one-hot categories and standardised
numbers, trained locally by full-batch gradient descent: small, convex, and with weights that mean
something to a reader of the model card. `Provider` is the boundary: in one process it wraps the
provider's frame; across nodes the same four methods are what a provider's node would serve.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from sklearn.metrics import roc_auc_score

from dases.errors import InvalidInput


@dataclass(frozen=True)
class ColumnStats:
    """A numeric column's aggregate at one provider: enough to standardise, not to re-identify."""

    count: int
    total: float
    squares: float


@dataclass(frozen=True)
class Encoding:
    """The design every provider builds its matrix with, agreed before training."""

    categorical: dict[str, tuple[str, ...]]
    numeric: dict[str, tuple[float, float]]  # column -> (mean, standard deviation)

    @property
    def width(self) -> int:
        """Weights: one per category, one per number, and the intercept last."""
        return sum(len(values) for values in self.categorical.values()) + len(self.numeric) + 1


@dataclass(frozen=True)
class LocalUpdate:
    weights: np.ndarray
    rows: int
    loss: float


@dataclass(frozen=True)
class FederatedResult:
    encoding: Encoding
    weights: np.ndarray
    #: Row-weighted mean training loss of each round, as the providers reported it.
    losses: list[float] = field(default_factory=list)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -35.0, 35.0)))


class Provider:
    """One provider's side of federated training: holds its rows, answers with aggregates."""

    def __init__(self, name: str, frame: pl.DataFrame, label: str, categorical: Sequence[str], numeric: Sequence[str]) -> None:
        missing = [column for column in (label, *categorical, *numeric) if column not in frame.columns]
        if missing:
            raise InvalidInput(f"provider {name!r} has no column {missing[0]!r}")
        if frame.height == 0:
            raise InvalidInput(f"provider {name!r} has no rows to train on")
        self.name = name
        self._frame = frame
        self._label = label
        self._categorical = tuple(categorical)
        self._numeric = tuple(numeric)

    @property
    def rows(self) -> int:
        return self._frame.height

    @property
    def frame(self) -> pl.DataFrame:
        return self._frame

    def categories(self) -> dict[str, set[str]]:
        return {column: set(self._frame[column].cast(pl.Utf8).fill_null("missing").unique().to_list()) for column in self._categorical}

    def column_stats(self) -> dict[str, ColumnStats]:
        stats = {}
        for column in self._numeric:
            values = self._frame[column].cast(pl.Float64).fill_null(0.0).to_numpy()
            stats[column] = ColumnStats(int(values.size), float(values.sum()), float(np.square(values).sum()))
        return stats

    def _design(self, encoding: Encoding, frame: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        blocks = []
        for column, values in encoding.categorical.items():
            observed = np.asarray(frame[column].cast(pl.Utf8).fill_null("missing").to_list(), dtype=object)
            blocks.append((observed[:, None] == np.asarray(values, dtype=object)[None, :]).astype(np.float64))
        for column, (mean, deviation) in encoding.numeric.items():
            values = frame[column].cast(pl.Float64).fill_null(0.0).to_numpy()
            blocks.append(((values - mean) / deviation)[:, None])
        blocks.append(np.ones((frame.height, 1)))
        return np.hstack(blocks), frame[self._label].cast(pl.Float64).to_numpy()

    def fit(self, weights: np.ndarray, encoding: Encoding, *, epochs: int, learning_rate: float, l2: float) -> LocalUpdate:
        """`epochs` steps of full-batch gradient descent from the coordinator's weights."""
        x, y = self._design(encoding, self._frame)
        w = weights.copy()
        penalty = np.ones_like(w)
        penalty[-1] = 0.0  # the intercept is not shrunk
        for _ in range(epochs):
            p = _sigmoid(x @ w)
            gradient = x.T @ (p - y) / len(y) + l2 * penalty * w
            w -= learning_rate * gradient
        p = np.clip(_sigmoid(x @ w), 1e-12, 1 - 1e-12)
        loss = float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))
        return LocalUpdate(w, len(y), loss)

    def scores(self, weights: np.ndarray, encoding: Encoding, frame: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """The model's scores on rows the provider holds for testing, with their labels."""
        x, y = self._design(encoding, frame)
        return _sigmoid(x @ weights), y


def agree_encoding(providers: Sequence[Provider]) -> Encoding:
    """The shared design, from each provider's categories and numeric aggregates only."""
    if not providers:
        raise InvalidInput("federated training needs at least one provider")
    return merge_encoding([provider.categories() for provider in providers], [provider.column_stats() for provider in providers])


def merge_encoding(categories: Sequence[Mapping[str, set[str]]], stats: Sequence[Mapping[str, ColumnStats]]) -> Encoding:
    """One encoding from what each provider sent: the union of its categories, and each numeric
    column's mean and standard deviation over all providers' rows (from counts and sums)."""
    categorical: dict[str, set[str]] = {}
    for answer in categories:
        for column, values in answer.items():
            categorical.setdefault(column, set()).update(values)
    numeric: dict[str, tuple[float, float]] = {}
    for column in dict.fromkeys(column for answer in stats for column in answer):
        parts = [answer[column] for answer in stats if column in answer]
        count = sum(part.count for part in parts)
        mean = sum(part.total for part in parts) / count
        variance = max(sum(part.squares for part in parts) / count - mean * mean, 0.0)
        numeric[column] = (mean, float(np.sqrt(variance)) or 1.0)
    return Encoding({column: tuple(sorted(values)) for column, values in categorical.items()}, numeric)


def fedavg(
    providers: Sequence[Provider],
    *,
    rounds: int = 60,
    local_epochs: int = 5,
    learning_rate: float = 0.5,
    l2: float = 1e-3,
) -> FederatedResult:
    """Federated averaging: each round, every provider trains from the same weights on its own
    rows; the new weights are their row-weighted mean."""
    if rounds < 1 or local_epochs < 1:
        raise InvalidInput("rounds and local_epochs must be at least 1")
    encoding = agree_encoding(providers)
    weights = np.zeros(encoding.width)
    losses = []
    for _ in range(rounds):
        updates = [provider.fit(weights, encoding, epochs=local_epochs, learning_rate=learning_rate, l2=l2) for provider in providers]
        total = sum(update.rows for update in updates)
        weights = sum(update.weights * (update.rows / total) for update in updates)
        losses.append(sum(update.loss * update.rows for update in updates) / total)
    return FederatedResult(encoding, weights, losses)


def centralised(frame: pl.DataFrame, label: str, categorical: Sequence[str], numeric: Sequence[str], *, epochs: int = 300, learning_rate: float = 0.5, l2: float = 1e-3) -> FederatedResult:
    """The same model trained on the pooled rows in one place: the reference FedAvg is measured
    against (same design, same loss, same optimiser)."""
    provider = Provider("pooled", frame, label, categorical, numeric)
    return fedavg([provider], rounds=1, local_epochs=epochs, learning_rate=learning_rate, l2=l2)


def roc_auc(result: FederatedResult, providers: Sequence[Provider], tests: Sequence[pl.DataFrame]) -> float:
    """ROC AUC over the union of the providers' test rows (each scores its own rows)."""
    scored = [provider.scores(result.weights, result.encoding, test) for provider, test in zip(providers, tests, strict=True)]
    scores = np.concatenate([s for s, _ in scored])
    labels = np.concatenate([y for _, y in scored])
    if len(set(labels.tolist())) < 2:
        raise InvalidInput("the test rows hold a single class: ROC AUC is undefined")
    return float(roc_auc_score(labels, scores))


@dataclass(frozen=True)
class FederatedComparison:
    """Federated against pooled training on the same rows, evaluated on the same test rows."""

    providers: dict[str, int]  # training rows per provider
    federated_auc: float
    centralised_logistic_auc: float
    pooled_boosting_auc: float
    rounds: int
    #: The FedAvg model's weights (to compare a run across processes with this one).
    weights: np.ndarray | None = None

    @property
    def gap_to_centralised(self) -> float:
        return self.centralised_logistic_auc - self.federated_auc

    @property
    def gap_to_pooled_boosting(self) -> float:
        return self.pooled_boosting_auc - self.federated_auc


def provider_frames(data_dir: Path, groups: Mapping[str, Sequence[str]], pseudonymise: Any, *, day: int = 30) -> list[tuple[str, pl.DataFrame | None, pl.DataFrame | None]]:
    """Each provider's own day-`day` feature rows, built from its own share only: (name, its 2013
    rows to train on or None, its 2014 rows to test on or None), in the order of `groups`. A
    provider with a single class in 2013 has nothing to train on."""
    from dases.pooling.features import LABEL, load_oulad
    from dases.pooling.providers import split_by_modules
    from dases.pooling.service import feature_frame
    from dases.pooling.train import split_years

    frames = []
    for share in split_by_modules(load_oulad(data_dir), groups):
        train, test = split_years(feature_frame([share.pseudonymised(pseudonymise)], day))
        usable = len(train) and train[LABEL].nunique() == 2
        frames.append((share.name, pl.from_pandas(train) if usable else None, pl.from_pandas(test) if len(test) else None))
    return frames


def compare_on_oulad(data_dir: Path, groups: Mapping[str, Sequence[str]], pseudonymise: Any, *, day: int = 30, rounds: int = 100) -> FederatedComparison:
    """The dropout task at day `day`, train 2013 -> test 2014, three ways: FedAvg across the
    providers of `groups` (rows stay with each), the same logistic model trained on the pooled
    rows, and the pooled gradient-boosting model of `dases study dropout`."""
    return compare_frames(provider_frames(data_dir, groups, pseudonymise, day=day), rounds=rounds)


def compare_frames(frames: Sequence[tuple[str, pl.DataFrame | None, pl.DataFrame | None]], *, rounds: int = 100) -> FederatedComparison:
    """`compare_on_oulad` on providers' frames as `provider_frames` gives them."""
    from dases.pooling.features import CATEGORICAL_FEATURES, LABEL, NUMERIC_FEATURES
    from dases.pooling.train import fit

    trains, tests, providers, scorers = [], [], [], []
    for name, train, test in frames:
        if test is not None:
            tests.append(test)
            # each provider scores its own test rows; one with no 2013 presentation (nothing to
            # train on) still tests, as it would use the federated model
            scorers.append(Provider(name, test, LABEL, CATEGORICAL_FEATURES, NUMERIC_FEATURES))
        if train is not None:
            providers.append(Provider(name, train, LABEL, CATEGORICAL_FEATURES, NUMERIC_FEATURES))
            trains.append(train)
    if not providers or not tests:
        raise InvalidInput("the data needs 2013 presentations to train on and 2014 ones to test on")
    federated = fedavg(providers, rounds=rounds)
    federated_auc = roc_auc(federated, scorers, tests)
    pooled_train = pl.concat(trains, how="vertical_relaxed")
    pooled_test = pl.concat(tests, how="vertical_relaxed")
    central = centralised(pooled_train, LABEL, CATEGORICAL_FEATURES, NUMERIC_FEATURES, epochs=rounds * 5)
    reference = Provider("pooled", pooled_train, LABEL, CATEGORICAL_FEATURES, NUMERIC_FEATURES)
    central_auc = roc_auc(central, [reference], [pooled_test])
    boosting = fit(pooled_train.to_pandas())
    boosted_scores = boosting.predict(pooled_test.to_pandas())
    boosted_auc = float(roc_auc_score(pooled_test[LABEL].to_numpy(), boosted_scores))
    return FederatedComparison({p.name: p.rows for p in providers}, federated_auc, central_auc, boosted_auc, rounds, federated.weights)
