"""FedAvg across provider processes with Flower: same model as in-process, and it fails closed.

Flower lives in an environment of its own (`./dev setup-federated`; `./dev test` makes it and
names its interpreter in DASES_FEDERATED_PYTHON), so the runs here are subprocesses of that
interpreter; the proof checks and the histogram AUC are tested in this one.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score
from typer.testing import CliRunner

from dases.identity.keys import Signer, generate_key, key_id, public_jwk
from dases.pooling.cli import app
from dases.pooling.flower import (
    FederationError,
    check_proof,
    histogram_auc,
    prove,
    score_histograms,
)

from .oulad_support import write_modules

ROOT = Path(__file__).resolve().parents[1]


def federated_python() -> Path:
    configured = os.environ.get("DASES_FEDERATED_PYTHON")
    python = Path(configured) if configured else ROOT / ".venv-federated" / "bin" / "python"
    if not python.is_file():
        pytest.fail(f"no Flower environment at {python}: run `./dev setup-federated` (./dev test does)")
    return python


@pytest.fixture(scope="module")
def oulad(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # two modules with 2013 and 2014 presentations, one (CCC) with 2014 only: it trains nothing
    # and still scores its learners with the federated model
    return write_modules(tmp_path_factory.mktemp("oulad"), ["DDD", "FFF", "CCC"])


def run_cli(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(federated_python()), "-c", "from dases.cli import main; main()", *arguments],
        check=False, capture_output=True, text=True, timeout=540, cwd=ROOT,
    )  # fmt: skip


def test_the_flower_run_across_processes_learns_the_in_process_model(oulad: Path) -> None:
    completed = run_cli(
        "study", "federated", "--engine", "flower", "--data-dir", str(oulad), "--rounds", "8",
        "--provider", "ddd=DDD", "--provider", "fff=FFF", "--provider", "ccc=CCC",
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-3000:]
    report = json.loads(completed.stdout[completed.stdout.index("{") :])
    flower = report["flower"]
    # the same encoding, local steps and row-weighted mean: the same weights, to rounding
    assert flower["max_weight_difference_to_inprocess"] < 1e-9
    # the pooled AUC from the providers' score histograms is the exact one to the bin width
    assert abs(flower["auc_from_histograms"] - report["federated_logistic_auc"]) < 1e-3
    assert report["providers"].keys() == {"ddd", "fff"}  # CCC has no 2013 rows to train on
    assert flower["test_rows"] > 0
    assert report["federated_logistic_auc"] > 0.6


IMPOSTOR = """
import sys
from pathlib import Path
from dases.pooling.cli import keyed_pseudonymiser
from dases.pooling.federated import provider_frames
from dases.pooling.flower import FederationError, run_local_federation
frames = provider_frames(Path(sys.argv[1]), {"ddd": ["DDD"], "fff": ["FFF"], "ccc": ["CCC"]}, keyed_pseudonymiser(b"k" * 32), day=30)
try:
    run_local_federation(frames, rounds=3, impostor="fff")
except FederationError as error:
    print("STOPPED:", error)
    sys.exit(3)
print("the run went on")
"""


def test_a_provider_without_its_trusted_key_stops_the_run(oulad: Path) -> None:
    """A process claiming to be provider fff but holding another key: the coordinator refuses
    it and stops before any weight or category is sent to anyone."""
    started = time.monotonic()
    completed = subprocess.run(
        [str(federated_python()), "-c", IMPOSTOR, str(oulad)], check=False, capture_output=True, text=True, timeout=300, cwd=ROOT
    )
    assert completed.returncode == 3, completed.stdout + completed.stderr[-3000:]
    assert "provider 'fff': the proof is not signed by its trusted key" in completed.stdout
    assert time.monotonic() - started < 280  # it stops, rather than waiting on the refused provider


def test_without_flower_the_command_says_how_to_get_it(oulad: Path) -> None:
    # this test environment has no Flower (it pins an older web stack than the node's)
    assert importlib.util.find_spec("flwr") is None
    result = CliRunner().invoke(app, ["federated", "--engine", "flower", "--data-dir", str(oulad)])
    assert result.exit_code == 2
    assert "setup-federated" in result.output


def test_an_unknown_engine_is_refused(oulad: Path) -> None:
    result = CliRunner().invoke(app, ["federated", "--engine", "spark", "--data-dir", str(oulad)])
    assert result.exit_code == 2
    assert "--engine is inprocess or flower" in result.output


def _signer(name: str) -> tuple[Signer, dict[str, str]]:
    key = generate_key()
    return Signer(did=name, kid=key_id(key), key=key), public_jwk(key)


def test_a_proof_is_accepted_only_from_the_trusted_key_for_this_challenge() -> None:
    alice, alice_public = _signer("alice")
    mallory, _ = _signer("mallory")
    trusted = {"alice": alice_public}
    assert check_proof(prove(alice, "alice", "n1", "coordinator"), trusted, "n1", "coordinator") == "alice"
    refusals = {
        "not signed by its trusted key": prove(mallory, "alice", "n1", "coordinator"),
        "not a trusted provider": prove(mallory, "mallory", "n1", "coordinator"),
        "answers another challenge": prove(alice, "alice", "n0", "coordinator"),
        "answers another challenge ": prove(alice, "alice", "n1", "another-coordinator"),
        "malformed": "not-a-jws",
    }
    for reason, token in refusals.items():
        with pytest.raises(FederationError, match=reason.strip()):
            check_proof(token, trusted, "n1", "coordinator")


def test_a_replayed_old_proof_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    alice, alice_public = _signer("alice")
    token = prove(alice, "alice", "n1", "coordinator")
    monkeypatch.setattr(time, "time", lambda: 10**10)
    with pytest.raises(FederationError, match="stale"):
        check_proof(token, {"alice": alice_public}, "n1", "coordinator")


def test_the_auc_from_score_histograms_is_the_exact_auc_to_the_bin_width() -> None:
    rng = np.random.default_rng(0)
    labels = rng.random(20_000) < 0.2
    scores = 1 / (1 + np.exp(-(rng.normal(size=labels.size) + 0.8 * labels)))
    positives, negatives = score_histograms(scores, labels)
    assert positives.sum() == labels.sum() and negatives.sum() == (~labels).sum()
    assert abs(histogram_auc(positives, negatives) - roc_auc_score(labels, scores)) < 5e-4
    with pytest.raises(FederationError, match="single class"):
        histogram_auc(positives, np.zeros_like(negatives))
