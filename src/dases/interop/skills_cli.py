"""`dases skills map|evaluate`: a local competency framework to ESCO skills, and how well that works.

Exit codes: 0 done, 2 the command could not run (a bad framework file, naming its line; ESCO or
the model missing), so a script can tell bad input from a crash.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from dases.errors import DasesError, InvalidInput
from dases.interop import skills
from dases.interop.esco import Esco, default_esco_dir

skills_app = typer.Typer(help="Map local competency frameworks to ESCO skills, offline.", no_args_is_help=True)


class Lang(str, Enum):
    en = "en"
    fr = "fr"


EscoDir = Annotated[Path | None, typer.Option("--esco", help="The ESCO v1.1.1 CSV directory (DASES_ESCO_DIR, default ../shared/data/esco).")]
CacheDir = Annotated[Path | None, typer.Option("--cache", help="Where skill vectors are cached (default ~/.cache/dases/skills).")]
LangOption = Annotated[Lang, typer.Option("--lang", help="The framework's language; FR labels exist for 2,218 skills, English is used for the rest.")]


@contextmanager
def _errors_exit() -> Iterator[None]:
    """Service errors end the command with exit code 2 and their message, not a traceback."""
    try:
        yield
    except DasesError as error:
        typer.echo(f"error: {error.detail}", err=True)
        raise typer.Exit(2) from None


def _write(records: list[dict[str, object]], out: Path | None) -> None:
    if out is None:
        sys.stdout.write(skills.records_json(records) + "\n")
        return
    if out.suffix.lower() == ".json":
        out.write_text(skills.records_json(records) + "\n", encoding="utf-8")
    elif out.suffix.lower() == ".csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(records[0]) if records else ["label"], lineterminator="\n")
        writer.writeheader()
        writer.writerows(records)
        out.write_text(buffer.getvalue(), encoding="utf-8")
    else:
        raise InvalidInput(f"--out must end in .json or .csv, not {out.name!r}")


def add_mapping_commands(target: typer.Typer) -> None:
    """Put `map` and `evaluate` on another command group: `dases skills` also holds the learner
    skills commands (dases.interop.learner_cli), and one group per word reads better."""
    target.command("map")(map_framework)
    target.command("evaluate")(evaluate)


def map_framework(
    framework: Annotated[Path, typer.Argument(help="CSV with a header: label, description (optional).", dir_okay=False)],
    lang: LangOption = Lang.en,
    top: Annotated[int, typer.Option("--top", min=1, max=50, help="ESCO skills proposed per competency.")] = 5,
    out: Annotated[Path | None, typer.Option("--out", help="FILE.json or FILE.csv (default: JSON on stdout).")] = None,
    esco_dir: EscoDir = None,
    cache: CacheDir = None,
) -> None:
    """Propose, for each competency of FRAMEWORK, the ESCO skills it most likely is, with a confidence."""
    with _errors_exit():
        if out is not None and out.suffix.lower() not in (".json", ".csv"):
            raise InvalidInput(f"--out must end in .json or .csv, not {out.name!r}")
        competencies = skills.read_framework(framework)
        esco = Esco.load(esco_dir or default_esco_dir())
        index = skills.load_index(esco, lang.value, cache_dir=cache)
        mappings = index.map(competencies, top=top)
        _write(skills.mappings_as_records(mappings, lang.value), out)
    typer.echo(f"mapped {len(mappings)} competencies to ESCO ({lang.value}), top {top} each", err=True)


def evaluate(
    lang: LangOption = Lang.en,
    sample: Annotated[int | None, typer.Option("--sample", min=1, help="Held-out pairs to score (default: all).")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the pairs and of the split.")] = 7,
    esco_dir: EscoDir = None,
    cache: CacheDir = None,
) -> None:
    """Top-1 / top-5 on ESCO's own alternative labels of the held-out split, with the shipped weights."""
    with _errors_exit():
        esco = Esco.load(esco_dir or default_esco_dir())
        index = skills.load_index(esco, lang.value, cache_dir=cache)
        test = skills.alt_label_pairs(esco, lang.value, seed=seed).test
        if sample is not None:
            test = test[:sample]
        if not test:
            raise InvalidInput(f"ESCO has no alternative labels in {lang.value} to evaluate on")
        signals = index.signals([skills.Competency(label) for label, _ in test])
        rows = {
            "combined (shipped weights)": skills.DEFAULT_WEIGHTS[lang.value],
            "lexical alone (baseline)": skills.Weights(1.0, 0.0, 0.0),
        }
        results = {name: skills.accuracy(skills.ranks_from_signals(index, test, signals, w)) for name, w in rows.items()}
    table = Table(title=f"ESCO alternative labels -> their skill, held-out split, {lang.value}, n={len(test)}")
    for column in ("method", "top-1", "top-5"):
        table.add_column(column)
    for name, result in results.items():
        table.add_row(name, f"{result.top1:.3f}", f"{result.top5:.3f}")
    Console().print(table)
    sys.stdout.write(json.dumps({name: {"top1": r.top1, "top5": r.top5, "n": r.n} for name, r in results.items()}) + "\n")


add_mapping_commands(skills_app)
