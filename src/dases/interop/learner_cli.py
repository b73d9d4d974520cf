"""Command line of learner skills, on the node's own storage (like `dases offer ...`):

    dases skills align ALIGNMENTS.json --participant edtech-a
    dases skills profile --participant edtech-a --agent '{"mbox": "mailto:ada@example.org"}'
    dases skills badge --participant edtech-a --agent '...' [--skill URI] [--out DIR]
    dases skills recommend --participant edtech-a --agent '...' --occupation "web developer"

`--occupation` takes an ESCO occupation URI, or words of its label (the best match is used and
named). ESCO is read from `$DASES_ESCO_DIR`, else `../shared/data/esco` (see dases.interop.esco).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table
from sqlalchemy.orm import Session

from dases.errors import DasesError, FieldError, NotFound
from dases.identity import service as identity
from dases.interop import alignments, badges, learner_skills, recommend
from dases.interop.esco import Esco, default_esco_dir
from dases.interop.models import AlignmentBatch
from dases.node import Node, node_session
from dases.settings import load_settings

app = typer.Typer(help="Learners' skills: alignments, profiles, Open Badges, training recommendations.", no_args_is_help=True)
console = Console()
errors = Console(stderr=True)

DataDir = Annotated[Path | None, typer.Option("--data-dir", help="Node data directory (DASES_DATA_DIR).")]
Participant = Annotated[str, typer.Option("--participant", "-p", help="Slug of the hosted participant whose LRS holds the statements.")]
Agent = Annotated[str, typer.Option("--agent", help='The learner as an xAPI Agent in JSON, e.g. {"mbox": "mailto:ada@example.org"}.')]
EscoDir = Annotated[Path | None, typer.Option("--esco-dir", help="The ESCO v1.1.x CSV release (default: $DASES_ESCO_DIR or ../shared/data/esco).")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


@contextmanager
def _session(data_dir: Path | None) -> Iterator[tuple[Node, Session]]:
    try:
        with node_session(load_settings(data_dir=data_dir)) as opened:
            yield opened
    except DasesError as error:
        _fail(error)


def _fail(error: DasesError) -> None:
    errors.print(f"[red]error:[/red] {error.detail}")
    for problem in error.errors:
        errors.print(f"  {problem.field}: {problem.message}")
    raise typer.Exit(2) from None


def _esco(directory: Path | None) -> Esco:
    try:
        return Esco.load(directory or default_esco_dir())
    except DasesError as error:
        _fail(error)
        raise


def _agent(text: str) -> dict[str, Any]:
    try:
        return learner_skills.parse_agent(text, "--agent")
    except DasesError as error:
        _fail(error)
        raise


@app.command("align")
def align(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True, help='JSON: {"alignments": [{"activity_id": ..., "skill_uri": ...}]}.')],
    participant: Participant,
    data_dir: DataDir = None,
    esco_dir: EscoDir = None,
) -> None:
    """Declare which activities develop which ESCO skills."""
    try:
        batch = AlignmentBatch.model_validate_json(file.read_bytes())
    except ValidationError as error:
        errors.print(f"[red]error:[/red] {file} is not a batch of alignments:")
        for problem in error.errors():
            errors.print(f"  {'.'.join(str(part) for part in problem['loc']) or '(document)'}: {problem['msg']}")
        raise typer.Exit(2) from None
    esco = _esco(esco_dir)
    with _session(data_dir) as (_node, session):
        stored = alignments.declare(session, participant, batch.alignments, esco)
    console.print(f"{len(stored)} alignment(s) stored for {participant}")


@app.command("profile")
def profile(participant: Participant, agent: Agent, data_dir: DataDir = None, esco_dir: EscoDir = None, as_json: AsJson = False) -> None:
    """A learner's skills and the evidence behind each."""
    learner, esco = _agent(agent), _esco(esco_dir)
    with _session(data_dir) as (_node, session):
        found = learner_skills.learner_profile(session, participant, learner, esco)
    if as_json:
        rows = [
            {
                "skill_uri": e.skill_uri, "label": e.label, "statements": list(e.statement_ids), "activities": list(e.activity_ids),
                "first_achieved": e.first_achieved.isoformat(), "last_achieved": e.last_achieved.isoformat(),
                "best_score": e.best_score, "source": e.source.value, "confidence": e.confidence,
            }
            for e in found.skills
        ]
        console.print_json(json.dumps({"agent": found.agent, "skills": rows}))
        return
    table = Table("skill", "activities", "statements", "last", "best score", "source")
    for e in found.skills:
        score = "" if e.best_score is None else f"{e.best_score:.2f}"
        table.add_row(e.label, str(len(e.activity_ids)), str(len(e.statement_ids)), e.last_achieved.date().isoformat(), score, e.source.value)
    console.print(table)
    console.print(f"{len(found.skills)} skill(s) with evidence")


@app.command("badge")
def badge(
    participant: Participant,
    agent: Agent,
    skill: Annotated[str | None, typer.Option("--skill", help="Only the badge of this ESCO skill URI.")] = None,
    out: Annotated[Path | None, typer.Option("--out", file_okay=False, help="Write one <uuid>.jwt per badge in this directory instead of printing them.")] = None,
    data_dir: DataDir = None,
    esco_dir: EscoDir = None,
) -> None:
    """Open Badges 3.0 credentials of a learner's skills, signed (VC-JOSE) by the participant."""
    learner, esco = _agent(agent), _esco(esco_dir)
    with _session(data_dir) as (node, session):
        participant_view = identity.get_participant(session, participant)
        found = learner_skills.learner_profile(session, participant, learner, esco)
        issuer = badges.Issuer(participant_view.did, participant_view.name, identity.signer_for(session, node.sealer, participant))
        issued = badges.issue_badges(found, esco, issuer, skill_uri=skill)
    if out is None:
        for item in issued:
            console.print(item.jwt, soft_wrap=True)
        return
    out.mkdir(parents=True, exist_ok=True)
    for item in issued:
        (out / f"{item.skill_uri.rsplit('/', 1)[-1]}.jwt").write_text(item.jwt + "\n")
    errors.print(f"{len(issued)} badge(s) written to {out}")


def _occupation(esco: Esco, text: str) -> str:
    if text.startswith(recommend.ESCO_OCCUPATION_PREFIX):
        return text
    found = esco.find_occupations(text, limit=1)
    if not found:
        _fail(NotFound(f"no ESCO occupation matches {text!r}", errors=[FieldError("--occupation", "esco_occupation", "a URI or words of a label")]))
    errors.print(f"occupation: {found[0].label()} ({found[0].uri})")
    return found[0].uri


@app.command("recommend")
def recommend_trainings(
    participant: Participant,
    agent: Agent,
    occupation: Annotated[str, typer.Option("--occupation", help="Target ESCO occupation: its URI, or words of its label.")],
    limit: Annotated[int, typer.Option(min=1, max=100, help="At most this many trainings.")] = 10,
    data_dir: DataDir = None,
    esco_dir: EscoDir = None,
    as_json: AsJson = False,
) -> None:
    """The learner's skills gap for an occupation and the catalog's trainings that fill it."""
    learner, esco = _agent(agent), _esco(esco_dir)
    occupation_uri = _occupation(esco, occupation)
    with _session(data_dir) as (_node, session):
        found = learner_skills.learner_profile(session, participant, learner, esco)
        report = recommend.recommend(session, found, occupation_uri, esco, limit=limit)
    if as_json:
        console.print_json(json.dumps({
            "occupation": report.occupation.uri,
            "gap": [vars(s) for s in report.gap],
            "recommendations": [
                {"offering_id": r.offering_id, "title": r.title, "explanation": r.explanation,
                 "covers_essential": [s.skill_uri for s in r.covers_essential], "covers_optional": [s.skill_uri for s in r.covers_optional]}
                for r in report.recommendations
            ],
            "uncovered_essential": [s.skill_uri for s in report.uncovered_essential],
        }))
        return
    essential = sum(1 for s in report.gap if s.relation == "essential")
    console.print(f"{report.occupation.label()}: {len(report.held)} skill(s) held, {essential} essential and {len(report.gap) - essential} optional missing")
    for rank, r in enumerate(report.recommendations, start=1):
        console.print(f"{rank}. [bold]{r.title}[/bold] ({r.offering_id})\n   {r.explanation}")
    if not report.recommendations:
        console.print("no training of this node's catalog teaches a missing skill")
