"""`dases privacy measure|generalise` on the real OULAD table: the released file is k-anonymous
(counted here with the csv module), and bad input ends with exit code 2 and the rule broken."""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

from typer.testing import CliRunner

from dases.cli import app
from dases.privacy.hierarchies import OULAD_HIERARCHIES, OULAD_QUASI_IDENTIFIERS

STUDENT_INFO = Path(__file__).resolve().parents[2] / "shared" / "data" / "oulad" / "studentInfo.csv"
QIS = list(OULAD_QUASI_IDENTIFIERS)


def qi_options() -> list[str]:
    return [part for column in QIS for part in ("--qi", column)]


def test_generalise_writes_a_k_anonymous_table_and_measure_agrees(tmp_path: Path) -> None:
    out = tmp_path / "released.csv"
    run = CliRunner().invoke(app, ["privacy", "generalise", str(STUDENT_INFO), "--k", "20", "--out", str(out)])
    assert run.exit_code == 0, run.output
    report = json.loads(run.output)
    with out.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == report["rows_out"] == 32593 - report["suppressed"]
    assert min(Counter(tuple(r[q] for q in QIS) for r in rows).values()) >= 20

    measured = CliRunner().invoke(app, ["privacy", "measure", str(out), *qi_options(), "--sensitive", "final_result",
                                        "--order", "Withdrawn,Fail,Pass,Distinction"])
    assert measured.exit_code == 0, measured.output
    figures = json.loads(measured.output)
    assert figures["k"] >= 20 and figures["rows"] == len(rows) and figures["l"] >= 1 and 0 <= figures["t"] <= 1


def test_hierarchies_from_a_json_file_set_the_quasi_identifiers(tmp_path: Path) -> None:
    hierarchies = tmp_path / "h.json"
    hierarchies.write_text(json.dumps({"age_band": OULAD_HIERARCHIES["age_band"], "region": OULAD_HIERARCHIES["region"]}))
    out = tmp_path / "released.parquet"
    run = CliRunner().invoke(app, ["privacy", "generalise", str(STUDENT_INFO), "--k", "400", "--out", str(out),
                                   "--hierarchies", str(hierarchies), "--max-suppression", "0"])
    assert run.exit_code == 0, run.output
    assert set(json.loads(run.output)["levels"]) == {"age_band", "region"}
    measured = CliRunner().invoke(app, ["privacy", "measure", str(out), "--qi", "age_band", "--qi", "region"])
    assert json.loads(measured.output)["k"] >= 400


def test_bad_input_exits_2_naming_the_rule(tmp_path: Path) -> None:
    missing = CliRunner().invoke(app, ["privacy", "measure", str(STUDENT_INFO), "--qi", "shoe_size"])
    assert missing.exit_code == 2 and "shoe_size" in missing.output

    unreachable = CliRunner().invoke(app, ["privacy", "generalise", str(STUDENT_INFO), "--k", "40000", "--out", str(tmp_path / "x.csv")])
    assert unreachable.exit_code == 2 and "k=40000" in unreachable.output and not (tmp_path / "x.csv").exists()

    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    bad = CliRunner().invoke(app, ["privacy", "generalise", str(STUDENT_INFO), "--k", "5", "--out", str(tmp_path / "y.csv"), "--hierarchies", str(broken)])
    assert bad.exit_code == 2 and "hierarchies" in bad.output


def test_local_recoding_keeps_every_row(tmp_path: Path) -> None:
    out = tmp_path / "local.csv"
    run = CliRunner().invoke(app, ["privacy", "generalise", str(STUDENT_INFO), "--k", "20", "--local", "--out", str(out)])
    assert run.exit_code == 0, run.output
    report = json.loads(run.output)
    with out.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == report["rows_out"] == 32593 and report["suppressed"] == 0
    assert min(Counter(tuple(r[q] for q in QIS) for r in rows).values()) >= 20
