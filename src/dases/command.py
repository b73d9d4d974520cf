"""What the building blocks' command lines share."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.console import Console
from sqlalchemy.orm import Session

from dases.errors import DasesError
from dases.node import Node, node_session
from dases.settings import load_settings

console = Console()


@contextmanager
def command_session(data_dir: Path | None) -> Iterator[tuple[Node, Session]]:
    """`dases.node.node_session` for a command: a service error is printed field by field and
    ends the command with exit code 2."""
    try:
        with node_session(load_settings(data_dir=data_dir)) as opened:
            yield opened
    except DasesError as error:
        console.print(f"[red]error:[/red] {error.detail}")
        for problem in error.errors:
            console.print(f"  {problem.field}: {problem.message}")
        raise typer.Exit(2) from None
