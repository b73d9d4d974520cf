"""The `dases quickstart` command."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from dases.errors import DasesError
from dases.quickstart import prepare_folder
from dases.quickstart.journey import DEMO_PASSWORD, Journey

console = Console()
_SHARED = Path(__file__).resolve().parents[3].parent / "shared"


def quickstart(
    data_dir: Annotated[Path, typer.Option(help="Folder for the four nodes' databases, keys and files.")] = Path("dases-quickstart"),
    learners: Annotated[int, typer.Option(min=50, max=32593, help="How many OULAD learners the scenario draws.")] = 2000,
    oulad: Annotated[Path, typer.Option(help="The OULAD tables.")] = _SHARED / "data" / "oulad",
    dpv: Annotated[Path, typer.Option(help="The W3C DPV purpose vocabulary (Turtle files).")] = _SHARED / "specs" / "dpv",
    fresh: Annotated[bool, typer.Option("--fresh", help="Start over in a folder an earlier quickstart made.")] = False,
    serve: Annotated[bool, typer.Option("--serve/--no-serve", help="Keep the nodes and the portal running at the end.")] = True,
) -> None:
    """Start an operator and three member nodes, load an OULAD scenario and run the journey:
    publish, consent, negotiate, transfer, pool, train, impact study."""
    from dases.quickstart import journey as steps

    root = data_dir.resolve()
    journey = Journey(root=root, oulad=oulad, dpv=dpv, learners=learners, report=console.print)
    started = time.perf_counter()
    try:
        prepare_folder(root, fresh)
        with journey.step("1. Start the operator's node and three member nodes"):
            journey.start()
        with journey.step("2. Admit the members to the data space"):
            journey.onboard()
        with journey.step("3. Load the OULAD scenario"):
            journey.load_scenario()
        with journey.step("4. Providers publish their offerings"):
            journey.publish()
        with journey.step("5. Learners answer the consent requests"):
            journey.consents()
        with journey.step("6. The school negotiates a contract per offering"):
            journey.negotiate()
        with journey.step("7. Transfers: only consenting learners' rows leave the providers"):
            journey.transfer()
        with journey.step("8. Pool: study pseudonyms, k-anonymity, then the day-30 dropout model"):
            pseudonymise = journey.pseudonymiser()
            journey.pool_and_train(pseudonymise)
        with journey.step("9. Impact study: early quizzes and withdrawal, across both providers"):
            journey.impact(pseudonymise)
        console.print(f"[green]The journey ran in {time.perf_counter() - started:.0f} s.[/green]")
        if not serve:
            return
        operator = journey.nodes["operator"]
        console.print(f"Portal: {operator.url}/portal/catalog (the data space's catalog, governance; members sign in with their node's admin token)")
        console.print(f"Learner dashboard: {operator.url}/me (any learner: login learner-<id_student>, password {DEMO_PASSWORD})")
        console.print(f"Study results: {journey.nodes['school'].url}/portal/members/school/studies (sign in with the school node's admin token)")
        for name, node in journey.nodes.items():
            token_file = root / name / "admin-token"
            token_file.touch(mode=0o600)
            token_file.write_text(node.admin_token + "\n")
            console.print(f"  {name}: {node.url}/docs   (admin token in {token_file})")
        console.print("Press Ctrl-C to stop.")
        try:
            while all(node.thread.is_alive() for node in journey.nodes.values()):
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
    except (DasesError, steps.JourneyError) as error:
        console.print(f"[red]quickstart failed:[/red] {error}")
        raise typer.Exit(1) from error
    finally:
        journey.stop()
