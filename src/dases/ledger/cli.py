"""`dases ledger verify|export`: check a participant's ledger offline, export it for billing.

Exit codes of `verify`: 0 intact, 1 not intact (the first bad entry is named), 2 the command
could not run (unknown participant, bad option), so scripts can tell tampering from a typo.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.orm import Session

from dases.errors import DasesError
from dases.identity import service as identity
from dases.ledger import service
from dases.node import Node, node_session
from dases.settings import load_settings

app = typer.Typer(help="The hash-chained ledger of a participant hosted on this node.", no_args_is_help=True)

DataDir = Annotated[Path | None, typer.Option("--data-dir", help="Node data directory (DASES_DATA_DIR).")]


class ExportFormat(str, Enum):
    csv = "csv"
    json = "json"


@contextmanager
def _participant_session(data_dir: Path | None, slug: str) -> Iterator[tuple[Node, Session]]:
    """The node's storage, with the participant known to exist; service errors end the command
    with exit code 2 and their message, not a traceback."""
    try:
        with node_session(load_settings(data_dir=data_dir)) as (node, session):
            identity.get_participant(session, slug)
            yield node, session
    except DasesError as error:
        typer.echo(f"error: {error.detail}", err=True)
        for problem in error.errors:
            typer.echo(f"  {problem.field}: {problem.message}", err=True)
        raise typer.Exit(2) from None


@app.command()
def verify(
    slug: Annotated[str, typer.Argument(help="The participant whose ledger to check.")],
    data_dir: DataDir = None,
) -> None:
    """Check every entry's hash, chain link and signature; exit 1 at the first bad entry."""
    with _participant_session(data_dir, slug) as (_node, session):
        report = service.verify(session, slug)
    if report.ok:
        typer.echo(f"ledger of {slug}: {report.checked} entries, intact")
        return
    typer.echo(f"ledger of {slug}: NOT intact after {report.checked} good entries: {report.problem}", err=True)
    raise typer.Exit(1)


@app.command()
def export(
    slug: Annotated[str, typer.Argument(help="The participant whose ledger to export.")],
    format: Annotated[ExportFormat, typer.Option("--format", help="csv, or json (JSON lines)")] = ExportFormat.csv,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="File to write (default: standard output)")] = None,
    data_dir: DataDir = None,
) -> None:
    """Write the transfer entries as rows for billing and value sharing."""
    with _participant_session(data_dir, slug) as (_node, session):
        chunks = service.export(session, slug, format.value)
        if output is None:
            for chunk in chunks:
                sys.stdout.write(chunk)
        else:
            with output.open("w", encoding="utf-8", newline="") as handle:
                for chunk in chunks:
                    handle.write(chunk)
