"""Federated averaging learns what pooled training learns, and only aggregates leave a provider."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from dases.errors import InvalidInput
from dases.pooling.federated import Provider, centralised, fedavg, roc_auc

CATEGORICAL = ("region",)
NUMERIC = ("clicks", "score")


def synthetic(rows: int, seed: int, region_mix: list[float], click_shift: float) -> pl.DataFrame:
    """Rows drawn from a known logistic model; providers differ in who their learners are
    (region mix, activity level): the non-identically-distributed case federated learning meets."""
    rng = np.random.default_rng(seed)
    regions = rng.choice(["north", "south", "east"], size=rows, p=region_mix)
    clicks = rng.gamma(2.0, 20.0, size=rows) + click_shift
    score = np.clip(rng.normal(65, 15, size=rows), 0, 100)
    effect = {"north": 0.4, "south": -0.3, "east": 0.0}
    logit = 0.5 + np.vectorize(effect.get)(regions) - 0.03 * clicks - 0.02 * (score - 65)
    label = rng.random(rows) < 1 / (1 + np.exp(-logit))
    return pl.DataFrame({"region": regions, "clicks": clicks, "score": score, "withdrew": label.astype(int)})


@pytest.fixture(scope="module")
def split() -> tuple[list[pl.DataFrame], list[pl.DataFrame]]:
    mixes = [([0.7, 0.2, 0.1], 0.0), ([0.1, 0.7, 0.2], 15.0), ([0.2, 0.1, 0.7], -5.0)]
    train = [synthetic(4000, seed, mix, shift) for seed, (mix, shift) in enumerate(mixes)]
    test = [synthetic(3000, 100 + seed, mix, shift) for seed, (mix, shift) in enumerate(mixes)]
    return train, test


def providers_of(frames: list[pl.DataFrame]) -> list[Provider]:
    return [Provider(f"provider-{i}", frame, "withdrew", CATEGORICAL, NUMERIC) for i, frame in enumerate(frames)]


def test_fedavg_reaches_the_pooled_model_without_pooling(split: tuple[list[pl.DataFrame], list[pl.DataFrame]]) -> None:
    train, test = split
    providers = providers_of(train)
    federated = fedavg(providers, rounds=80, local_epochs=5)
    pooled = centralised(pl.concat(train), "withdrew", CATEGORICAL, NUMERIC, epochs=400)
    federated_auc = roc_auc(federated, providers, test)
    pooled_auc = roc_auc(pooled, [Provider("pooled", pl.concat(test), "withdrew", CATEGORICAL, NUMERIC)], [pl.concat(test)])
    assert pooled_auc > 0.7  # the synthetic signal is real
    assert abs(federated_auc - pooled_auc) < 0.01
    assert federated.losses[-1] < federated.losses[0]
    # Same model, not merely the same ranking: the weights point the same way.
    cosine = federated.weights @ pooled.weights / (np.linalg.norm(federated.weights) * np.linalg.norm(pooled.weights))
    assert cosine > 0.98


def test_a_provider_trained_alone_does_worse_on_the_others_learners(split: tuple[list[pl.DataFrame], list[pl.DataFrame]]) -> None:
    train, test = split
    providers = providers_of(train)
    federated_auc = roc_auc(fedavg(providers, rounds=60), providers, test)
    alone = fedavg(providers[:1], rounds=60)
    alone_auc = roc_auc(alone, providers, test)
    assert federated_auc > alone_auc


class RecordingProvider(Provider):
    """A provider that remembers everything it hands to the coordinator."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sent: list[Any] = []

    def categories(self) -> dict[str, set[str]]:
        answer = super().categories()
        self.sent.append(answer)
        return answer

    def column_stats(self) -> dict[str, Any]:
        answer = super().column_stats()
        self.sent.append(answer)
        return answer

    def fit(self, *args: Any, **kwargs: Any) -> Any:
        answer = super().fit(*args, **kwargs)
        self.sent.append(answer)
        return answer


def test_only_aggregates_cross_the_provider_boundary(split: tuple[list[pl.DataFrame], list[pl.DataFrame]]) -> None:
    train, _ = split
    providers = [RecordingProvider(f"p{i}", frame, "withdrew", CATEGORICAL, NUMERIC) for i, frame in enumerate(train)]
    result = fedavg(providers, rounds=3)
    for provider, frame in zip(providers, train, strict=True):
        raw_values = set(np.round(frame["clicks"].to_numpy(), 9).tolist())
        for message in provider.sent:
            if hasattr(message, "weights"):
                assert message.weights.shape == (result.encoding.width,)
                assert message.rows == frame.height
                assert not raw_values & set(np.round(message.weights, 9).tolist())
            elif isinstance(message, dict) and "clicks" in message:
                assert message["clicks"].count == frame.height  # sums, never the values
            else:
                assert message == {"region": set(frame["region"].unique().to_list())}


def test_bad_input_is_refused_with_the_reason() -> None:
    frame = synthetic(50, 1, [0.3, 0.3, 0.4], 0.0)
    with pytest.raises(InvalidInput, match="no column 'score_mean'"):
        Provider("p", frame, "withdrew", CATEGORICAL, ("score_mean",))
    with pytest.raises(InvalidInput, match="no rows"):
        Provider("p", frame.head(0), "withdrew", CATEGORICAL, NUMERIC)
    with pytest.raises(InvalidInput, match="at least one provider"):
        fedavg([])


def test_on_oulad_fedavg_is_within_reach_of_pooled_training(tmp_path: Path) -> None:
    """Two providers of real OULAD modules: the federated model's AUC on 2014 is close to the
    same model trained on the pooled rows (the gap the docs report for all seven modules)."""
    import hashlib
    import hmac

    from dases.pooling.federated import compare_on_oulad

    from .oulad_support import write_modules

    write_modules(tmp_path, ["DDD", "FFF"])

    def pseudonymise(ids: list[int]) -> list[str]:
        return [hmac.new(b"federated-test-key-012345", str(i).encode(), hashlib.sha256).hexdigest()[:24] for i in ids]

    result = compare_on_oulad(tmp_path, {"north": ["DDD"], "south": ["FFF"]}, pseudonymise, day=30, rounds=60)
    assert set(result.providers) == {"north", "south"}
    assert result.federated_auc > 0.6
    assert abs(result.gap_to_centralised) < 0.02
