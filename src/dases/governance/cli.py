"""Command line of governance, on the operator node's own storage (like `dases offer ...`):

    dases governance assembly create interop-wg --title "Interoperability" --member <member id>
    dases governance assembly list
    dases governance proposal create PROPOSAL.json
    dases governance proposal list --assembly general
    dases governance proposal show <proposal id>
    dases governance vote <proposal id> --member <member id> --choice yes
    dases governance results <proposal id>        (or --due: tally every closed vote)
    dases governance rules [RULE_KEY]

`vote` records, as the operator, a vote a member cast in the room; members vote themselves with
a signed call to `POST /governance/proposals/{id}/votes`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from pydantic import TypeAdapter, ValidationError
from rich.console import Console
from rich.table import Table

from dases.command import command_session
from dases.db import utcnow
from dases.governance import service
from dases.governance.models import Choice, Proposal, ProposalIn, ProposalStatus, Result

governance_app = typer.Typer(help="Assemblies, proposals, votes and adopted rules (operator node).", no_args_is_help=True)
assembly_app = typer.Typer(help="The general assembly and the working groups.", no_args_is_help=True)
proposal_app = typer.Typer(help="Proposals put to an assembly.", no_args_is_help=True)
governance_app.add_typer(assembly_app, name="assembly")
governance_app.add_typer(proposal_app, name="proposal")
console = Console()

DataDir = Annotated[Path | None, typer.Option("--data-dir", help="Node data directory (DASES_DATA_DIR).")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
_PROPOSAL = TypeAdapter(ProposalIn)


def _proposal_dict(proposal: Proposal) -> dict[str, object]:
    return {
        "id": proposal.id, "assembly": proposal.assembly_key, "kind": proposal.kind, "title": proposal.title,
        "text": proposal.text, "details": proposal.details, "opens_at": proposal.opens_at.isoformat(),
        "closes_at": proposal.closes_at.isoformat(), "quorum": float(service.quorum(proposal)),
        "majority": proposal.majority, "electorate": proposal.electorate, "status": proposal.status,
    }


def _result_dict(result: Result) -> dict[str, object]:
    return {
        "proposal_id": result.proposal_id, "outcome": "adopted" if result.adopted else "rejected",
        "eligible": result.eligible, "voted": result.voted, "yes": result.yes, "no": result.no, "abstain": result.abstain,
        "quorum_reached": result.quorum_reached, "majority_reached": result.majority_reached, "adopted": result.adopted,
        "reasons": result.reasons, "effect": result.effect, "tallied_at": result.tallied_at.isoformat(),
    }


@assembly_app.command("create")
def assembly_create(
    key: Annotated[str, typer.Argument(help="Working group key: lowercase letters, digits, hyphens.")],
    title: Annotated[str, typer.Option(help="The working group's name.")],
    member: Annotated[list[str] | None, typer.Option("--member", help="Id of an active member to seat (repeatable).")] = None,
    data_dir: DataDir = None,
) -> None:
    """Create a working group."""
    with command_session(data_dir) as (_node, session):
        view = service.create_working_group(session, key, title, member or [])
    console.print(f"created working group [bold]{view.key}[/bold] with {len(view.members)} members")


@assembly_app.command("list")
def assembly_list(as_json: AsJson = False, data_dir: DataDir = None) -> None:
    """The general assembly and the working groups."""
    with command_session(data_dir) as (_node, session):
        views = service.list_assemblies(session)
    if as_json:
        console.print_json(json.dumps([{"key": v.key, "title": v.title, "is_general": v.is_general, "members": v.members} for v in views]))
        return
    table = Table("key", "title", "members")
    for view in views:
        table.add_row(view.key, view.title, str(len(view.members)))
    console.print(table)


@proposal_app.command("create")
def proposal_create(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="The proposal as JSON (kind rule, infrastructure_service or funding).")],
    data_dir: DataDir = None,
) -> None:
    """Put a proposal to an assembly."""
    try:
        draft = _PROPOSAL.validate_json(file.read_bytes())
    except ValidationError as error:
        console.print(f"[red]error:[/red] {file} is not a valid proposal")
        for problem in error.errors():
            console.print(f"  {'.'.join(str(part) for part in problem['loc'])}: {problem['msg']}")
        raise typer.Exit(2) from None
    with command_session(data_dir) as (_node, session):
        proposal = service.create_proposal(session, draft, utcnow())
    console.print(f"proposal [bold]{proposal.id}[/bold] put to {proposal.assembly_key}, {len(proposal.electorate)} eligible voters")


@proposal_app.command("list")
def proposal_list(
    assembly: Annotated[str | None, typer.Option(help="Only this assembly's proposals.")] = None,
    status: Annotated[ProposalStatus | None, typer.Option(help="open, adopted or rejected.")] = None,
    as_json: AsJson = False,
    data_dir: DataDir = None,
) -> None:
    """Proposals, latest closing first."""
    with command_session(data_dir) as (_node, session):
        proposals = service.list_proposals(session, assembly=assembly, status=status)
    if as_json:
        console.print_json(json.dumps([_proposal_dict(p) for p in proposals]))
        return
    table = Table("id", "assembly", "kind", "title", "closes at", "status")
    for proposal in proposals:
        table.add_row(proposal.id, proposal.assembly_key, proposal.kind, proposal.title, proposal.closes_at.isoformat(), proposal.status)
    console.print(table)


@proposal_app.command("show")
def proposal_show(proposal_id: str, data_dir: DataDir = None) -> None:
    """One proposal, as JSON."""
    with command_session(data_dir) as (_node, session):
        proposal = service.get_proposal(session, proposal_id)
    console.print_json(json.dumps(_proposal_dict(proposal)))


@governance_app.command("vote")
def vote(
    proposal_id: str,
    member: Annotated[str, typer.Option(help="Id of the member whose vote this is.")],
    choice: Annotated[Choice, typer.Option(help="yes, no or abstain.")],
    data_dir: DataDir = None,
) -> None:
    """Record a member's vote cast in the room (channel 'operator'); the last vote counts."""
    with command_session(data_dir) as (node, session):
        recorded = service.vote_for_member(session, service.authority(node.settings, node.sealer), proposal_id, member, choice, utcnow())
    console.print(f"recorded {recorded.choice} for member {recorded.member_id} on {recorded.proposal_id}")


@governance_app.command("results")
def results(
    proposal_id: Annotated[str | None, typer.Argument(help="The proposal; leave out with --due.")] = None,
    due: Annotated[bool, typer.Option("--due", help="Tally every open proposal whose window has closed.")] = False,
    data_dir: DataDir = None,
) -> None:
    """A proposal's published result (tallied now if its window has closed), as JSON."""
    if (proposal_id is None) == (not due):
        console.print("[red]error:[/red] give a proposal id, or --due, not both")
        raise typer.Exit(2)
    with command_session(data_dir) as (node, session):
        authority = service.authority(node.settings, node.sealer)
        if due:
            tallied = service.close_due(session, authority, utcnow())
        else:
            assert proposal_id is not None
            tallied = [service.result(session, authority, proposal_id, utcnow())]
        output = [_result_dict(result) for result in tallied]
    console.print_json(json.dumps(output if due else output[0]))


@governance_app.command("rules")
def rules(
    key: Annotated[str | None, typer.Argument(help="A rule key: print its whole version history.")] = None,
    as_json: AsJson = False,
    data_dir: DataDir = None,
) -> None:
    """The rules in force (newest version of each), or one rule's history."""
    with command_session(data_dir) as (_node, session):
        found = service.rule_history(session, key) if key else service.current_rules(session)
    rows = [{"key": r.key, "version": r.version, "text": r.text, "proposal_id": r.proposal_id, "adopted_at": r.adopted_at.isoformat()} for r in found]
    if as_json:
        console.print_json(json.dumps(rows))
        return
    table = Table("key", "version", "adopted at", "text")
    for row in rows:
        table.add_row(str(row["key"]), str(row["version"]), str(row["adopted_at"]), str(row["text"]))
    console.print(table)
