"""`dases ledger verify|export`: check a participant's ledger offline, export it for billing."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from dases.identity import service as identity
from dases.ledger import service
from dases.node import node_session
from dases.settings import load_settings

app = typer.Typer(help="The hash-chained ledger of a participant hosted on this node.", no_args_is_help=True)


@app.command()
def verify(slug: Annotated[str, typer.Argument(help="The participant whose ledger to check.")]) -> None:
    """Check every entry's hash, chain link and signature; exit 1 at the first bad entry."""
    with node_session(load_settings()) as (_node, session):
        identity.get_participant(session, slug)
        report = service.verify(session, slug)
    if report.ok:
        typer.echo(f"ledger of {slug}: {report.checked} entries, intact")
        return
    typer.echo(f"ledger of {slug}: NOT intact after {report.checked} good entries: {report.problem}", err=True)
    raise typer.Exit(1)


@app.command()
def export(
    slug: Annotated[str, typer.Argument(help="The participant whose ledger to export.")],
    format: Annotated[str, typer.Option("--format", help="csv or json (JSON lines)")] = "csv",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="File to write (default: standard output)")] = None,
) -> None:
    """Write the entries as rows for billing and value sharing."""
    with node_session(load_settings()) as (_node, session):
        identity.get_participant(session, slug)
        chunks = service.export(session, slug, format)
        if output is None:
            for chunk in chunks:
                sys.stdout.write(chunk)
        else:
            with output.open("w", encoding="utf-8", newline="") as handle:
                for chunk in chunks:
                    handle.write(chunk)
