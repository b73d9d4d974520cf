"""The `dases` command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

import dases
from dases.catalog.cli import catalog_app, offer_app
from dases.errors import DasesError
from dases.governance.cli import governance_app
from dases.impact.cli import impact_app
from dases.interop.cli import convert
from dases.interop.learner_cli import app as skills_app
from dases.interop.skills_cli import add_mapping_commands
from dases.ledger.cli import app as ledger_app
from dases.lrs.cli import app as lrs_app
from dases.negotiation.cli import negotiate
from dases.node import node_session
from dases.pooling.cli import app as study_app
from dases.pooling.cli import model_app
from dases.privacy.cli import app as privacy_app
from dases.quickstart.cli import quickstart
from dases.settings import load_settings
from dases.transfer.cli import transfer

app = typer.Typer(help="DASES: a node of the Data Space Education & Skills.", no_args_is_help=True)
participant_app = typer.Typer(help="Participants hosted on this node.", no_args_is_help=True)
app.add_typer(participant_app, name="participant")
app.add_typer(offer_app, name="offer")
app.add_typer(catalog_app, name="catalog")
app.add_typer(ledger_app, name="ledger")
app.add_typer(governance_app, name="governance")
app.add_typer(lrs_app, name="lrs")
add_mapping_commands(skills_app)
app.add_typer(skills_app, name="skills")
app.add_typer(impact_app, name="impact")
app.add_typer(privacy_app, name="privacy")
app.add_typer(study_app, name="study")
app.add_typer(model_app, name="model")
app.command("negotiate")(negotiate)
app.command("transfer")(transfer)
app.command("convert")(convert)
app.command("quickstart")(quickstart)
console = Console()

DataDir = Annotated[Path | None, typer.Option("--data-dir", help="Node data directory (DASES_DATA_DIR).")]


def _version(value: bool) -> None:
    if value:
        console.print(f"dases {dases.__version__}")
        raise typer.Exit()


@app.callback()
def main_callback(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")] = False,
) -> None:
    """DASES command line."""


@app.command()
def serve(
    port: Annotated[int | None, typer.Option(help="Port to listen on (DASES_PORT, default 8000).")] = None,
    host: Annotated[str | None, typer.Option(help="Interface to bind (DASES_HOST, default 127.0.0.1).")] = None,
    data_dir: DataDir = None,
) -> None:
    """Start a node: migrate its storage and serve its API."""
    import uvicorn

    from dases.app import create_app

    settings = load_settings(port=port, host=host, data_dir=data_dir)
    application = create_app(settings)
    console.print(f"DASES node {dases.__version__} on {settings.base_url} (storage: {application.state.node.db.backend})")
    console.print(f"API docs: {settings.base_url}/docs")
    uvicorn.run(application, host=settings.host, port=settings.port, log_level=settings.log_level)


def _node_session(data_dir: Path | None):
    return node_session(load_settings(data_dir=data_dir))


@participant_app.command("create")
def participant_create(
    slug: Annotated[str, typer.Argument(help="Short identifier: lowercase letters, digits, hyphens.")],
    name: Annotated[str, typer.Option(help="Display name of the organisation or service.")],
    data_dir: DataDir = None,
) -> None:
    """Host a new participant: a did:web DID and a fresh Ed25519 key."""
    from dases.identity import service

    with _node_session(data_dir) as (node, session):
        view = service.create_participant(session, node.sealer, node.settings.base_url, slug, name)
    console.print(f"created participant [bold]{view.slug}[/bold]: {view.did}")


@participant_app.command("list")
def participant_list(data_dir: DataDir = None) -> None:
    """The participants hosted on this node."""
    from dases.identity import service

    with _node_session(data_dir) as (_node, session):
        views = service.list_participants(session)
    table = Table("slug", "name", "DID", "keys")
    for column in table.columns:
        column.overflow = "fold"  # never cut a DID short, even when piped at 80 columns
    for view in views:
        table.add_row(view.slug, view.name, view.did, str(view.key_count))
    console.print(table)


@participant_app.command("show")
def participant_show(slug: str, data_dir: DataDir = None) -> None:
    """A participant and its DID document (public keys only)."""
    from dases.identity import service

    with _node_session(data_dir) as (_node, session):
        view = service.get_participant(session, slug)
        document = service.did_document(session, slug)
    console.print(f"[bold]{view.slug}[/bold] {view.name}\nDID: {view.did}\nactive key: {view.active_kid}")
    console.print_json(json.dumps(document))


def main() -> None:
    try:
        app()
    except DasesError as error:
        console.print(f"[red]error:[/red] {error.detail}")
        raise SystemExit(2) from None
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(str(part) for part in e['loc'])}: {e['msg']}" for e in error.errors())
        console.print(f"[red]error:[/red] invalid settings: {problems}")
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
