"""The dropout model on real OULAD rows: trained on 2013, it ranks 2014 withdrawals well above
chance, its bootstrap interval is the textbook one computed fast, pooled and provider-local
models are compared per provider, and the model card says what it must."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

import ibis
import numpy as np
import pytest
from sklearn.metrics import roc_auc_score
from typer.testing import CliRunner

from dases.errors import InvalidInput
from dases.pooling.card import NO_CONSENT_DATA, NOT_MEASURED, render_card, write_model_card
from dases.pooling.cli import app, keyed_pseudonymiser
from dases.pooling.features import LABEL, load_oulad
from dases.pooling.providers import split_by_modules
from dases.pooling.service import feature_frame, study_from_shares, summary
from dases.pooling.train import auc_difference_with_interval, auc_with_interval, fit, split_years

OULAD = Path(__file__).resolve().parents[2] / "shared" / "data" / "oulad"
DAY = 30
#: Three providers of the real data, small enough for a test: two with 2013 presentations to
#: train on, and CCC, which has none.
GROUPS = {"provider-ddd": ["DDD"], "provider-fff": ["FFF"], "provider-ccc": ["CCC"]}
REST = {"rest": ["AAA", "BBB", "EEE", "GGG"]}


def pseudonymise(ids):
    return [hmac.new(b"dropout test key 0123456789", str(v).encode(), hashlib.sha256).hexdigest()[:24] for v in ids]


@pytest.fixture(scope="module")
def shares():
    raw = load_oulad(OULAD, ibis.duckdb.connect())
    split = split_by_modules(raw, {**GROUPS, **REST})
    return [share.pseudonymised(pseudonymise) for share in split if share.name in GROUPS]


@pytest.fixture(scope="module")
def study(shares):
    return study_from_shares(shares, day=DAY, source=str(OULAD), resamples=200)


def test_vectorised_bootstrap_matches_a_plain_loop_over_resamples():
    rng = np.random.default_rng(7)
    labels = rng.integers(0, 2, 400)
    scores = np.round(rng.random(400) + 0.4 * labels, 1)  # rounded: many ties
    point, low, high = auc_with_interval(labels, scores, resamples=300, seed=3, chunk=300)
    assert point == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)

    draws = np.random.default_rng(3).integers(0, 400, size=(300, 400))
    plain = [roc_auc_score(labels[row], scores[row]) for row in draws]
    assert (low, high) == pytest.approx(tuple(np.percentile(plain, [2.5, 97.5])), abs=1e-12)
    assert low < point < high

    # the paired difference: same resamples for both score vectors
    other = rng.random(400) + 0.1 * labels
    gain, gain_low, gain_high = auc_difference_with_interval(labels, scores, other, resamples=300, seed=3)
    plain_gain = [roc_auc_score(labels[row], scores[row]) - roc_auc_score(labels[row], other[row]) for row in draws]
    assert gain == pytest.approx(roc_auc_score(labels, scores) - roc_auc_score(labels, other), abs=1e-12)
    assert (gain_low, gain_high) == pytest.approx(tuple(np.percentile(plain_gain, [2.5, 97.5])), abs=1e-12)
    assert auc_difference_with_interval(labels, scores, scores, resamples=50) == (0.0, 0.0, 0.0)


def test_bootstrap_is_reproducible_and_refuses_a_single_class():
    rng = np.random.default_rng(1)
    labels, scores = rng.integers(0, 2, 1000), rng.random(1000)
    assert auc_with_interval(labels, scores, seed=5) == auc_with_interval(labels, scores, seed=5)
    with pytest.raises(InvalidInput, match="both classes"):
        auc_with_interval(np.zeros(10), rng.random(10))


def test_trained_on_2013_the_model_ranks_2014_withdrawals_well_above_chance(shares):
    frame = feature_frame(shares, DAY)
    train, test = split_years(frame)
    assert set(train["code_presentation"].str[:4]) == {"2013"}
    assert set(test["code_presentation"].str[:4]) == {"2014"}
    model = fit(train)
    auc, low, _ = auc_with_interval(test[LABEL].to_numpy(), model.predict(test), resamples=200)
    assert auc > 0.65 and low > 0.6


def test_pooled_and_local_models_are_compared_on_each_providers_2014_rows(study):
    rows = {row.provider: row for row in study.comparisons}
    assert set(rows) == set(GROUPS)
    assert sum(row.test_rows for row in rows.values()) == study.test_rows
    ccc = rows["provider-ccc"]
    assert ccc.train_rows == 0 and ccc.local is None and "only the pooled model" in ccc.note
    for name in ("provider-ddd", "provider-fff"):
        row = rows[name]
        assert row.train_rows > 2000 and row.local is not None
        assert row.local.low < row.local.value < row.local.high
        assert row.gain is not None
        assert row.gain.value == pytest.approx(row.pooled.value - row.local.value)
        assert row.gain.low < row.gain.value < row.gain.high
    assert summary(study)["providers_won"] == study.providers_won >= 1


def test_model_card_has_its_sections_plots_and_figures(study, tmp_path):
    card = write_model_card(study, tmp_path / "card")
    text = card.read_text()
    for section in ("## Data used", "## Consent coverage", "## k reached", "## Metrics",
                    "## Calibration", "## Fairness", "## Limitations"):
        assert section in text
    assert NO_CONSENT_DATA in text and NOT_MEASURED in text
    assert str(study.evaluation.auc) in text
    assert "| provider-ccc | CCC | 0 |" in text and "gain (paired)" in text
    for attribute in ("gender", "age_band", "disability", "imd_band"):
        assert f"| {attribute} |" in text
    for png in ("roc.png", "calibration.png", "feature_importance.png"):
        data = (tmp_path / "card" / png).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) < 60_000
    figures = json.loads((tmp_path / "card" / "metrics.json").read_text())
    assert figures["pooled_auc_ci95"][0] < figures["pooled_auc"] < figures["pooled_auc_ci95"][1]
    assert len(study.evaluation.calibration) == 10


def test_card_reports_consent_coverage_and_k_when_given(study):
    study.consent_coverage, study.k_reached = 0.8, 5
    try:
        text = render_card(study)
    finally:
        study.consent_coverage, study.k_reached = None, None
    assert "80.0% of learners have a consent" in text and "k = 5." in text
    assert NO_CONSENT_DATA not in text


def test_study_refuses_impossible_parameters(shares):
    with pytest.raises(InvalidInput, match="consent coverage"):
        study_from_shares(shares, day=DAY, source="x", consent_coverage=1.5)
    with pytest.raises(InvalidInput, match="resamples"):
        study_from_shares(shares, day=DAY, source="x", resamples=10)


def test_cli_names_the_broken_rule(tmp_path):
    runner = CliRunner()
    result = runner.invoke(app, ["dropout", "--data-dir", str(OULAD), "--out", str(tmp_path), "--provider", "north=AAA"])
    assert result.exit_code == 2
    assert "belong to no provider" in result.output
    result = runner.invoke(app, ["dropout", "--data-dir", str(tmp_path), "--out", str(tmp_path)])
    assert result.exit_code == 2 and "lacks the OULAD tables" in " ".join(result.output.split())
    result = runner.invoke(app, ["dropout", "--data-dir", str(OULAD), "--out", str(tmp_path), "--pseudonym-key", "short"])
    assert result.exit_code == 2 and "16 bytes" in result.output
    with pytest.raises(InvalidInput, match="16 bytes"):
        keyed_pseudonymiser(b"short")
