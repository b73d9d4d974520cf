"""The OULAD early-dropout study, end to end: split, pseudonymise, pool, train, compare.

What a consumer of the data space does with the providers' shares: each provider pseudonymises
its share before it leaves (the same key everywhere, so the shares still link), the consumer
pools the shares, builds the day-N features with Ibis on DuckDB, trains on the 2013
presentations and tests on the 2014 ones, and compares the pooled model with what each provider
could have trained alone. `dases.pooling.card` turns the result into a model card.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import ibis
import numpy as np
import pandas as pd
from sklearn.inspection import permutation_importance
from threadpoolctl import threadpool_limits

from dases.errors import InvalidInput
from dases.pooling.features import (
    FEATURES,
    LABEL,
    LEARNER,
    RAW_ID,
    Pseudonymise,
    build_features,
    load_oulad,
)
from dases.pooling.providers import (
    ProviderShare,
    one_provider_per_module,
    pool,
    split_by_modules,
)
from dases.pooling.train import (
    BOOTSTRAP_RESAMPLES,
    SEED,
    THREADS,
    DropoutModel,
    Evaluation,
    ProviderComparison,
    compare_providers,
    evaluate,
    fit,
    flag_threshold,
    split_years,
)


@dataclass(frozen=True)
class ShareSummary:
    """What one provider contributed to the pool."""

    provider: str
    modules: tuple[str, ...]
    registrations: int
    submissions: int


@dataclass
class DropoutStudy:
    """Everything the model card reports."""

    day: int
    source: str
    shares: list[ShareSummary]
    train_rows: int
    train_positives: int
    test_rows: int
    model: DropoutModel
    evaluation: Evaluation
    comparisons: list[ProviderComparison]
    importance: list[tuple[str, float, float]]
    consent_coverage: float | None
    k_reached: int | None
    resamples: int
    seed: int

    @property
    def providers_won(self) -> int:
        """Providers whose 2014 learners the pooled model ranks better than their own model does."""
        return sum(1 for row in self.comparisons if row.pooling_wins)


def _summarise(share: ProviderShare) -> ShareSummary:
    tables = share.tables
    return ShareSummary(
        share.name,
        share.modules,
        int(tables.registrations.count().execute()) if tables.registrations is not None else 0,
        int(tables.submissions.count().execute()) if tables.submissions is not None else 0,
    )


def feature_frame(shares: Sequence[ProviderShare], day: int) -> pd.DataFrame:
    """Pool pseudonymised shares and build the day-N feature rows as a pandas frame."""
    frame = build_features(pool(shares), day).to_pandas()
    if RAW_ID in frame.columns:  # build_features refuses raw ids; this guards the invariant
        raise InvalidInput(f"a pooled table carries raw {RAW_ID}")
    # A fixed row order whatever the pseudonymisation key and the engine's scheduling: sorted on
    # everything but the pseudonym (rows equal on all of that are interchangeable), so that the
    # bootstrap draws the same resamples in every run.
    order = ["code_module", "code_presentation", *FEATURES, LABEL, LEARNER]
    return frame.sort_values(order, na_position="last", kind="mergesort").reset_index(drop=True)


def permutation_ranking(
    model: DropoutModel, test: pd.DataFrame, *, repeats: int = 3, seed: int = SEED
) -> list[tuple[str, float, float]]:
    """Drop in test AUC when each feature is shuffled (mean, std over repeats), largest first.

    Permutation importance on the test presentations says what the model relies on for data it
    did not see, which the trees' split gains on the training rows do not.
    """
    with threadpool_limits(THREADS):
        result = permutation_importance(
            model.classifier,
            model.matrix(test),
            test[LABEL].astype(int).to_numpy(),
            scoring="roc_auc",
            n_repeats=repeats,
            random_state=seed,
        )
    ranking = zip(model.features, result.importances_mean, result.importances_std, strict=True)
    return sorted(((name, float(mean), float(std)) for name, mean, std in ranking), key=lambda row: -row[1])


def run_dropout_study(
    data_dir: Path,
    *,
    day: int,
    pseudonymise: Pseudonymise,
    groups: Mapping[str, Sequence[str]] | None = None,
    consent_coverage: float | None = None,
    k_reached: int | None = None,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = SEED,
    con: ibis.BaseBackend | None = None,
) -> DropoutStudy:
    """Run the study on the OULAD tables of `data_dir` (read in place).

    `groups` maps provider names to the modules each runs (default: one provider per module);
    each provider's share is pseudonymised before it is pooled.
    """
    raw = load_oulad(Path(data_dir), con)
    groups = dict(groups) if groups else one_provider_per_module(raw)
    shares = [share.pseudonymised(pseudonymise) for share in split_by_modules(raw, groups)]
    return study_from_shares(
        shares,
        day=day,
        source=str(data_dir),
        consent_coverage=consent_coverage,
        k_reached=k_reached,
        resamples=resamples,
        seed=seed,
    )


def study_from_shares(
    shares: Sequence[ProviderShare],
    *,
    day: int,
    source: str,
    consent_coverage: float | None = None,
    k_reached: int | None = None,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = SEED,
) -> DropoutStudy:
    """The study on pseudonymised provider shares split by modules (see `run_dropout_study`).

    `consent_coverage` (share of learners whose consent covers this purpose) and `k_reached`
    (the k-anonymity the privacy step reached) are reported in the card as given.
    """
    if consent_coverage is not None and not 0.0 <= consent_coverage <= 1.0:
        raise InvalidInput(f"consent coverage is a share between 0 and 1, got {consent_coverage}")
    if k_reached is not None and k_reached < 1:
        raise InvalidInput(f"k reached must be at least 1, got {k_reached}")
    if resamples < 100:
        raise InvalidInput(f"resamples must be at least 100 for a 95% interval, got {resamples}")
    frame = feature_frame(shares, day)
    train, test = split_years(frame)
    if len(train) == 0 or len(test) == 0:
        raise InvalidInput("the data needs 2013 presentations to train on and 2014 ones to test on")
    model = fit(train, seed=seed)
    evaluation = evaluate(model, test, threshold=flag_threshold(model, train), resamples=resamples, seed=seed)
    groups = {share.name: list(share.modules) for share in shares}
    comparisons = compare_providers(frame, model, groups, resamples=resamples, seed=seed)
    return DropoutStudy(
        day=day,
        source=source,
        shares=[_summarise(share) for share in shares],
        train_rows=len(train),
        train_positives=int(train[LABEL].sum()),
        test_rows=len(test),
        model=model,
        evaluation=evaluation,
        comparisons=comparisons,
        importance=permutation_ranking(model, test, seed=seed),
        consent_coverage=consent_coverage,
        k_reached=k_reached,
        resamples=resamples,
        seed=seed,
    )


def summary(study: DropoutStudy) -> dict[str, object]:
    """The study's headline figures as plain JSON-able values."""
    evaluation = study.evaluation
    return {
        "day": study.day,
        "train_rows": study.train_rows,
        "test_rows": study.test_rows,
        "test_withdrawal_rate": round(evaluation.positives / evaluation.rows, 4),
        "pooled_auc": round(evaluation.auc.value, 4),
        "pooled_auc_ci95": [round(evaluation.auc.low, 4), round(evaluation.auc.high, 4)],
        "brier": round(evaluation.brier, 4),
        "resamples": study.resamples,
        "providers": [
            {
                "provider": row.provider,
                "modules": list(row.modules),
                "train_rows": row.train_rows,
                "test_rows": row.test_rows,
                "local_auc": None if row.local is None else round(row.local.value, 4),
                "local_auc_ci95": None if row.local is None else [round(row.local.low, 4), round(row.local.high, 4)],
                "pooled_auc": round(row.pooled.value, 4),
                "pooled_auc_ci95": [round(row.pooled.low, 4), round(row.pooled.high, 4)],
                "gain": None if row.gain is None else round(row.gain.value, 4),
                "gain_ci95": None if row.gain is None else [round(row.gain.low, 4), round(row.gain.high, 4)],
                "pooling_wins": row.pooling_wins,
                "clear_win": row.clear_win,
            }
            for row in study.comparisons
        ],
        "providers_won": study.providers_won,
        "providers_clearly_won": sum(1 for row in study.comparisons if row.clear_win),
        "calibration_max_gap": round(
            float(np.max([abs(predicted - observed) for predicted, observed, _ in evaluation.calibration])), 4
        ),
    }
