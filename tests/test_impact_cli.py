"""`dases impact study` writes a JSON result and a PNG, and refuses bad input by naming it."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from dases.impact.cli import impact_app

OULAD = Path(__file__).resolve().parents[2] / "shared" / "data" / "oulad"
runner = CliRunner()


def _study(tmp_path: Path, *extra: str):
    return runner.invoke(
        impact_app,
        [
            "study",
            "--treatment", "cma",
            "--cutoff", "30",
            "--data-dir", str(OULAD),
            "--modules", "CCC,DDD",
            "--replicates", "100",
            "--out", str(tmp_path),
            "--pseudonym-key", "k" * 32,
            *extra,
        ],
    )


def test_a_matching_study_writes_its_result_and_plot(tmp_path):
    outcome = _study(tmp_path, "--outcome", "pass", "--method", "matching")

    assert outcome.exit_code == 0, outcome.output
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["design"]["treatment_window"] == "at least one use on or before day 30"
    assert result["provider_modules"] == {"provider-a": ["CCC"], "provider-b": ["DDD"]}
    assert set(result["providers"]) == {"provider-a", "provider-b"}
    pooled = result["pooled"]
    assert pooled["estimates"][0]["estimand"] == "ATT"
    assert pooled["estimates"][0]["method"] == "matching"
    assert pooled["overlap"]["distinct_controls_used"] > 0
    assert pooled["balance"]["max_abs_smd_after"] < pooled["balance"]["max_abs_smd_before"]
    png = tmp_path / result["plot"]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert 10_000 < png.stat().st_size < 400_000


def test_a_dp_study_releases_noisy_arms_and_says_so(tmp_path):
    outcome = _study(tmp_path, "--outcome", "score", "--dp-epsilon", "2")

    assert outcome.exit_code == 0, outcome.output
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["dp"]["epsilon"] == 2.0
    assert "n_treated" not in result["pooled"]
    assert 0 <= result["pooled"]["arms"]["treated"]["mean_outcome"] <= 100
    assert result["pooled"]["naive"]["method"] == "naive, from the noisy arm means"


def test_bad_input_exits_2_and_names_the_field(tmp_path):
    for extra, field in [
        (["--outcome", "happiness"], "outcome"),
        (["--outcome", "pass", "--method", "magic"], "method"),
        (["--outcome", "pass", "--dp-epsilon", "-1"], "dp_epsilon"),
    ]:
        outcome = _study(tmp_path, *extra)
        assert outcome.exit_code == 2, outcome.output
        assert field in outcome.output
    missing = runner.invoke(
        impact_app,
        ["study", "--treatment", "cma", "--cutoff", "30", "--outcome", "pass", "--data-dir", str(tmp_path)],
    )
    assert missing.exit_code == 2
    assert "lacks the OULAD tables" in " ".join(missing.output.split())
    assert "data_dir" in missing.output
