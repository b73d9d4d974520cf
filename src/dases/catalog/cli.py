"""Command line of the catalog, on the node's own storage (like `dases participant ...`):

    dases offer publish OFFERING.json --participant edtech-a
    dases offer list edtech-a
    dases offer retire edtech-a urn:uuid:...
    dases catalog search "learning traces" --category learning_traces --no-pii
    dases catalog reindex
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from dases.catalog import index, service
from dases.catalog.index import SearchQuery
from dases.catalog.models import (
    DataCategory,
    OfferingIn,
    OfferingKind,
    OfferingStatus,
    ServiceCategory,
)
from dases.command import command_session

offer_app = typer.Typer(help="Offerings of the participants hosted on this node.", no_args_is_help=True)
catalog_app = typer.Typer(help="This node's catalog.", no_args_is_help=True)
console = Console()

DataDir = Annotated[Path | None, typer.Option("--data-dir", help="Node data directory (DASES_DATA_DIR).")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def _read_offering(file: Path) -> OfferingIn:
    try:
        return OfferingIn.model_validate_json(file.read_bytes())
    except ValidationError as error:
        console.print(f"[red]error:[/red] {file} is not an offering description:")
        for problem in error.errors():
            console.print(f"  {'.'.join(str(part) for part in problem['loc']) or '(document)'}: {problem['msg']}")
        raise typer.Exit(2) from None


@offer_app.command("publish")
def offer_publish(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="The offering, as JSON (the body of POST /participants/{slug}/offerings).")],
    participant: Annotated[str, typer.Option("--participant", "-p", help="Slug of the hosted participant that offers it.")],
    data_dir: DataDir = None,
) -> None:
    """Publish an offering in the catalog."""
    draft = _read_offering(file)
    with command_session(data_dir) as (_node, session):
        offering = service.publish(session, participant, draft)
        offering_id, offer_id = offering.id, offering.offer_id
    console.print(f"published [bold]{offering_id}[/bold] (offer {offer_id})")


@offer_app.command("list")
def offer_list(
    participant: Annotated[str, typer.Argument(help="Participant slug.")],
    all_statuses: Annotated[bool, typer.Option("--all", help="Include retired offerings.")] = False,
    as_json: AsJson = False,
    data_dir: DataDir = None,
) -> None:
    """A participant's offerings."""
    with command_session(data_dir) as (_node, session):
        _total, offerings = service.list_offerings(session, participant, status=None if all_statuses else OfferingStatus.ACTIVE, limit=10_000)
        rows = [(o.id, o.kind, o.status, o.title) for o in offerings]
    if as_json:
        console.print_json(json.dumps([dict(zip(("id", "kind", "status", "title"), row)) for row in rows]))
        return
    table = Table("id", "kind", "status", "title")
    for column in table.columns:
        column.overflow = "fold"
    for row in rows:
        table.add_row(*row)
    console.print(table)


@offer_app.command("retire")
def offer_retire(
    participant: Annotated[str, typer.Argument(help="Participant slug.")],
    offering_id: Annotated[str, typer.Argument(help="The offering's urn:uuid id.")],
    data_dir: DataDir = None,
) -> None:
    """Withdraw an offering from the catalog."""
    with command_session(data_dir) as (_node, session):
        service.retire(session, participant, offering_id)
    console.print(f"retired {offering_id}")


def _category(value: str | None) -> tuple[DataCategory | None, ServiceCategory | None]:
    if value is None:
        return None, None
    if value in DataCategory.__members__.values():
        return DataCategory(value), None
    if value in ServiceCategory.__members__.values():
        return None, ServiceCategory(value)
    choices = ", ".join([*DataCategory, *ServiceCategory])
    raise typer.BadParameter(f"{value!r} is neither a data nor a service category; one of {choices}", param_hint="--category")


@catalog_app.command("search")
def catalog_search(
    query: Annotated[str, typer.Argument(help="Words to find (all of them); empty to browse.")] = "",
    category: Annotated[str | None, typer.Option("--category", help="A data category (learning_traces, ...) or a service category (skills_matching, ...).")] = None,
    provider: Annotated[str | None, typer.Option(help="Provider DID, or slug of a participant of this node.")] = None,
    kind: Annotated[OfferingKind | None, typer.Option(help="dataset, data_service or software_service.")] = None,
    pii: Annotated[bool | None, typer.Option("--pii/--no-pii", help="Only offerings with / without personal data.")] = None,
    keyword: Annotated[str | None, typer.Option(help="An exact keyword.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=100)] = 20,
    offset: Annotated[int, typer.Option(min=0, max=10_000)] = 0,
    as_json: AsJson = False,
    data_dir: DataDir = None,
) -> None:
    """Search the offerings published on this node."""
    data_category, service_category = _category(category)
    search = SearchQuery(
        text=query or None, data_category=data_category, service_category=service_category, provider=provider,
        contains_pii=pii, kind=kind, keyword=keyword, limit=limit, offset=offset,
    )
    with command_session(data_dir) as (_node, session):
        page = service.search(session, search)
        rows = [
            {"id": o.id, "kind": o.kind, "title": o.title, "provider": o.provider_did, "categories": [*o.data_categories, *o.service_categories], "contains_pii": o.contains_pii}
            for o in page.entries
        ]
    if as_json:
        console.print_json(json.dumps({"total": page.total, "facets": page.facets.__dict__, "facets_exact": page.facets_exact, "items": rows}))
        return
    table = Table("title", "kind", "categories", "PII", "id", title=f"{page.total} offering{'' if page.total == 1 else 's'}" + ("" if page.total <= offset + len(rows) else f", {offset + 1}-{offset + len(rows)} shown"))
    for column in table.columns:
        column.overflow = "fold"
    for row in rows:
        table.add_row(row["title"], row["kind"], ", ".join(row["categories"]), "yes" if row["contains_pii"] else "no", row["id"])
    console.print(table)


@catalog_app.command("reindex")
def catalog_reindex(data_dir: DataDir = None) -> None:
    """Rebuild the search index and facet counts from the stored offerings (and federated entries)."""
    with command_session(data_dir) as (_node, session):
        local = index.rebuild(session, index.LOCAL_INDEX)
        federated = index.rebuild(session, index.FEDERATED_INDEX)
    console.print(f"reindexed {local} offerings and {federated} federated entries")
