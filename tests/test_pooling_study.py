"""A pooled study refuses to train on anything identifying: k is reached (checked by a count of
its own here), raw ids and direct identifiers are refused, and the CLI runs create -> run -> card."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections import Counter
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from dases.cli import app
from dases.errors import InvalidInput
from dases.pooling.features import LEARNER
from dases.pooling.study import make_k_anonymous, scan_for_identifiers, shares_from_exports
from dases.privacy.hierarchies import OULAD_QUASI_IDENTIFIERS
from dases.quickstart import scenario

from .conftest import SHARED

OULAD = SHARED / "data" / "oulad"


def pseudonymise(ids: list[int]) -> list[str]:
    return [hmac.new(b"test-study-key-0123456789", str(i).encode(), hashlib.sha256).hexdigest()[:24] for i in ids]


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[tuple[str, ...], Path, Path]]:
    built = scenario.build(OULAD, tmp_path_factory.mktemp("exports"), 1500, seed=11)
    return {p: (scenario.PROVIDERS[p], files["registrations"], files["submissions"]) for p, files in built.exports.items()}


def test_the_released_learner_rows_are_k_anonymous_by_an_independent_count(exports: dict[str, tuple[tuple[str, ...], Path, Path]]) -> None:
    shares = [share.pseudonymised(pseudonymise) for share in shares_from_exports(exports, OULAD)]
    released, report, reached = make_k_anonymous(shares, 10)
    rows = [row for share in released for row in share.tables.student_info.to_pyarrow().to_pylist()]
    classes = Counter(tuple(row[column] for column in OULAD_QUASI_IDENTIFIERS) for row in rows)
    assert min(classes.values()) >= 10 and reached >= 10
    assert report["rows_out"] == len(rows) and report["rows_in"] - report["suppressed"] == len(rows)
    assert report["suppressed"] <= 0.05 * report["rows_in"]


def test_raw_ids_and_direct_identifiers_never_pass_the_scan(exports: dict[str, tuple[tuple[str, ...], Path, Path]]) -> None:
    shares = shares_from_exports(exports, OULAD)
    raw = {str(value) for value in pl.read_csv(exports["edtech-a"][1], infer_schema_length=0)["id_student"].to_list()}
    with pytest.raises(InvalidInput, match="direct identifier column 'id_student'"):
        scan_for_identifiers(shares, raw)  # not pseudonymised yet
    pseudonymised = [share.pseudonymised(pseudonymise) for share in shares]
    scan_for_identifiers(pseudonymised, raw)  # passes once pseudonymised
    # A "pseudonymiser" that hands the raw id back is caught.
    leaky = [share.pseudonymised(lambda ids: [str(i) for i in ids]) for share in shares]
    with pytest.raises(InvalidInput, match=f"raw learner ids in '{LEARNER}'"):
        scan_for_identifiers(leaky, raw)


def test_study_create_run_and_model_card(exports: dict[str, tuple[tuple[str, ...], Path, Path]], tmp_path: Path) -> None:
    runner = CliRunner()
    studies = tmp_path / "studies"
    shares = [f"{p}={','.join(modules)}:{registrations}:{submissions}" for p, (modules, registrations, submissions) in exports.items()]
    options = [option for share in shares for option in ("--share", share)]
    created = runner.invoke(app, ["study", "create", "dropout-1", "--studies", str(studies), "--schedule", str(OULAD), "--k", "5", *options])
    assert created.exit_code == 0, created.output
    again = runner.invoke(app, ["study", "create", "dropout-1", "--studies", str(studies), "--schedule", str(OULAD), *options])
    assert again.exit_code == 2 and "exists already" in again.output
    ran = runner.invoke(app, ["study", "run", "dropout-1", "--studies", str(studies), "--resamples", "200", "--pseudonym-key", "a-study-key-of-enough-length"])
    assert ran.exit_code == 0, ran.output
    result = json.loads((studies / "dropout-1" / "result.json").read_text())
    assert result["k_reached"] >= 5 and result["train_rows"] > 0 and result["test_rows"] > 0
    low, high = result["pooled_auc_ci95"]
    assert low <= result["pooled_auc"] <= high
    card = runner.invoke(app, ["model", "card", "dropout-1", "--studies", str(studies)])
    assert card.exit_code == 0 and f"k = {result['k_reached']}" in card.output
    missing = runner.invoke(app, ["model", "card", "nothing-here", "--studies", str(studies)])
    assert missing.exit_code == 2 and "no model card" in missing.output
