"""`dases lrs`: serve a standalone LRS, import statements in bulk, manage client keys."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, TextIO

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from dases.errors import DasesError
from dases.settings import load_settings

app = typer.Typer(help="The learning record store (xAPI 1.0.3 and 2.0).", no_args_is_help=True)
key_app = typer.Typer(help="HTTP Basic keys of the LRS's clients.", no_args_is_help=True)
app.add_typer(key_app, name="key")
console = Console(stderr=True)

DataDir = Annotated[Path | None, typer.Option("--data-dir", help="Node data directory (DASES_DATA_DIR).")]
Store = Annotated[str, typer.Option("--store", help="Participant slug whose LRS this is; 'standalone' for `dases lrs serve`.")]


@app.command("serve")
def serve(
    port: Annotated[int | None, typer.Option(help="Port to listen on (DASES_PORT, default 8000).")] = None,
    host: Annotated[str | None, typer.Option(help="Interface to bind (DASES_HOST, default 127.0.0.1).")] = None,
    data_dir: DataDir = None,
) -> None:
    """Serve a standalone LRS: the xAPI endpoint at /xapi/, Basic credentials from
    DASES_LRS_BASIC_AUTH=user:password or from `dases lrs key create`."""
    import uvicorn

    from dases.lrs.app import create_lrs_app

    settings = load_settings(port=port, host=host, data_dir=data_dir)
    application = create_lrs_app(settings)
    console.print(f"DASES LRS on {settings.base_url}/xapi/ (storage: {application.state.node.db.backend})")
    if settings.lrs_basic_auth is None:
        console.print("no DASES_LRS_BASIC_AUTH: only keys made with `dases lrs key create --store standalone` are accepted")
    uvicorn.run(application, host=settings.host, port=settings.port, log_level=settings.log_level)


def _open(path: Path) -> TextIO:
    with path.open("rb") as probe:
        gzipped = probe.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rt", encoding="utf-8") if gzipped else path.open(encoding="utf-8")


def read_statements(path: Path) -> Iterator[tuple[int, Any]]:
    """(line number, parsed statement or the JSON error) for each statement of a JSON-lines file,
    or of a file holding one JSON array (read whole: arrays are small exports)."""
    with _open(path) as handle:
        first = handle.read(1)
        while first and first.isspace():
            first = handle.read(1)
        if first == "[":
            try:
                items = json.loads(first + handle.read())
            except ValueError as error:
                yield 1, ValueError(f"the file is not a JSON array: {error}")
                return
            yield from enumerate(items, start=1)
            return
        for number, line in enumerate(_rejoin(first, handle), start=1):
            if not line.strip():
                continue
            try:
                yield number, json.loads(line)
            except ValueError as error:
                yield number, ValueError(f"not JSON: {error}")


def _rejoin(first: str, handle: TextIO) -> Iterator[str]:
    lines = iter(handle)
    head = next(lines, "")
    yield first + head
    yield from lines


@app.command("import")
def import_statements(
    file: Annotated[Path, typer.Argument(help="Statements as JSON lines (or one JSON array); .gz accepted.", exists=True, dir_okay=False)],
    store: Store = "standalone",
    version: Annotated[str, typer.Option(help="xAPI version the statements are validated under.")] = "1.0.3",
    batch: Annotated[int, typer.Option(help="Statements per transaction.", min=1, max=10000)] = 1000,
    rejects: Annotated[Path | None, typer.Option(help="Where to write the reject report (JSON lines); default FILE.rejects.jsonl.")] = None,
    data_dir: DataDir = None,
) -> None:
    """Bulk import: every valid statement is stored; each invalid one is listed, with its line
    and the rule it breaks, in the reject report. Re-running the same file stores nothing twice."""
    from dases.lrs.importer import import_file
    from dases.node import Node

    settings = load_settings(data_dir=data_dir)
    node = Node.start(settings)
    report = rejects or file.with_name(file.name + ".rejects.jsonl")
    try:
        with Progress(TextColumn("importing"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=console, transient=False) as progress:
            task = progress.add_task("import", total=None)
            result = import_file(node.db, store, file, version=version, batch=batch, rejects_path=report, on_progress=lambda n: progress.update(task, advance=n))
    finally:
        node.close()
    console.print(f"stored {result.stored} statements, {result.duplicates} already present, {result.rejected} rejected")
    if result.rejected:
        console.print(f"reject report: {report}")
        raise typer.Exit(1)
    report.unlink(missing_ok=True)


@key_app.command("create")
def key_create(
    store: Store,
    name: Annotated[str, typer.Option(help="Who the key is for.")],
    scope: Annotated[list[str], typer.Option("--scope", help="statements/write, statements/read, state, profile, define or all; repeat.")],
    data_dir: DataDir = None,
) -> None:
    """A new key; its secret is printed once and only its hash is kept."""
    from dases.identity import service as identity
    from dases.lrs.deps import STANDALONE, create_credential
    from dases.node import node_session

    try:
        with node_session(load_settings(data_dir=data_dir)) as (_node, session):
            if store != STANDALONE:
                identity.get_participant(session, store)  # a hosted participant, or NotFound
            key, secret = create_credential(session, store, name, scope)
    except DasesError as error:
        console.print(f"[red]error:[/red] {error.detail}")
        raise typer.Exit(2) from None
    typer.echo(f"{key}:{secret}")
