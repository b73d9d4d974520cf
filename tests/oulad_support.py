"""A few modules of the real OULAD tables, written where a test wants them."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import polars as pl

from .conftest import SHARED

OULAD = SHARED / "data" / "oulad"


def write_modules(folder: Path, modules: Sequence[str]) -> Path:
    """The five tables the dropout features read, cut to `modules`, as CSV files in `folder`."""
    for name in ("studentInfo.csv", "studentRegistration.csv", "assessments.csv", "courses.csv"):
        pl.read_csv(OULAD / name, infer_schema_length=0).filter(pl.col("code_module").is_in(list(modules))).write_csv(folder / name)
    assessments = pl.read_csv(folder / "assessments.csv", infer_schema_length=0)["id_assessment"].implode()
    submissions = pl.read_csv(OULAD / "studentAssessment.csv", infer_schema_length=0)
    submissions.filter(pl.col("id_assessment").is_in(assessments)).write_csv(folder / "studentAssessment.csv")
    return folder
