"""The learner-skills command line on a node's own storage: `dases skills align FILE -p SLUG`,
`dases skills profile|badge|recommend --agent JSON`, fed by `dases lrs import` and
`dases offer publish`; bad input ends with a message naming it and exit status 2."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from dases.catalog.cli import offer_app
from dases.cli import app as dases_app
from dases.interop.learner_cli import app as skills_app
from dases.lrs.cli import app as lrs_app

from .conftest import SHARED, backend_name
from .skills_support import (
    ADA,
    COMPUTER_PROGRAMMING,
    HOME,
    MARKUP_LANGUAGES,
    SOFTWARE_LIBRARIES,
    WEB_PROGRAMMING,
    statement,
    training,
)

cli = typer.Typer()
cli.add_typer(skills_app, name="skills")
cli.add_typer(lrs_app, name="lrs")
cli.add_typer(offer_app, name="offer")
AGENT = json.dumps({"mbox": "mailto:ada@example.org"})


@pytest.fixture
def node_env(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    for name in list(os.environ):
        if name.startswith("DASES_") and name != "DASES_TEST_DATABASE_URL":
            monkeypatch.delenv(name)
    env = {
        "DASES_DATA_DIR": str(tmp_path / "node"),
        "DASES_NODE_SECRET": "skills-cli-secret-0123456789",
        "DASES_ESCO_DIR": str(SHARED / "data" / "esco"),
    }
    if backend_name() == "postgresql":
        env["DASES_DATABASE_URL"] = database_url
    created = CliRunner().invoke(dases_app, ["participant", "create", "edtech-a", "--name", "EdTech A"], env=env)
    assert created.exit_code == 0, created.output
    yield env


def run(env: dict[str, str], *args: str) -> Any:
    return CliRunner().invoke(cli, list(args), env=env)


def write(tmp_path: Path, name: str, body: Any) -> str:
    path = tmp_path / name
    path.write_text(body if isinstance(body, str) else json.dumps(body))
    return str(path)


def test_align_import_then_profile_badge_and_recommend(node_env: dict[str, str], tmp_path: Path) -> None:
    pairs = [("prog-101", COMPUTER_PROGRAMMING), ("web-201", WEB_PROGRAMMING), ("html-1", MARKUP_LANGUAGES)]
    batch = {"alignments": [{"activity_id": HOME + activity, "skill_uri": skill} for activity, skill in pairs]}
    aligned = run(node_env, "skills", "align", write(tmp_path, "alignments.json", batch), "-p", "edtech-a")
    assert aligned.exit_code == 0, aligned.output
    assert "3 alignment(s) stored for edtech-a" in aligned.output
    lines = "\n".join(json.dumps(s) for s in [
        statement(ADA, "completed", "prog-101"), statement(ADA, "passed", "web-201", result={"score": {"scaled": 0.75}}),
        statement(ADA, "failed", "html-1"),
    ])
    imported = run(node_env, "lrs", "import", write(tmp_path, "statements.jsonl", lines), "--store", "edtech-a")
    assert imported.exit_code == 0, imported.output

    found = run(node_env, "skills", "profile", "-p", "edtech-a", "--agent", AGENT, "--json")
    assert found.exit_code == 0, found.output
    skills = json.loads(found.output)["skills"]
    assert [(s["skill_uri"], s["best_score"]) for s in skills] == [(COMPUTER_PROGRAMMING, None), (WEB_PROGRAMMING, 0.75)]

    out = tmp_path / "badges"
    issued = run(node_env, "skills", "badge", "-p", "edtech-a", "--agent", AGENT, "--out", str(out))
    assert issued.exit_code == 0, issued.output
    assert sorted(path.name for path in out.iterdir()) == sorted(uri.rsplit("/", 1)[1] + ".jwt" for uri in (COMPUTER_PROGRAMMING, WEB_PROGRAMMING))

    published = run(node_env, "offer", "publish", write(tmp_path, "t.json", training("Front-end bootcamp", [MARKUP_LANGUAGES, SOFTWARE_LIBRARIES])), "-p", "edtech-a")
    assert published.exit_code == 0, published.output
    advice = run(node_env, "skills", "recommend", "-p", "edtech-a", "--agent", AGENT, "--occupation", "web developer", "--json")
    assert advice.exit_code == 0, advice.output
    report = json.loads(advice.output[advice.output.index("{"):])
    assert report["occupation"] == "http://data.europa.eu/esco/occupation/c40a2919-48a9-40ea-b506-1f34f693496d"
    [only] = report["recommendations"]
    assert only["title"] == "Front-end bootcamp" and only["covers_essential"] == [MARKUP_LANGUAGES, SOFTWARE_LIBRARIES]


def test_bad_input_is_named_with_exit_status_2(node_env: dict[str, str], tmp_path: Path) -> None:
    unknown = {"alignments": [{"activity_id": HOME + "x", "skill_uri": "http://data.europa.eu/esco/skill/00000000-0000-4000-8000-000000000000"}]}
    refused = run(node_env, "skills", "align", write(tmp_path, "a.json", unknown), "-p", "edtech-a")
    assert refused.exit_code == 2 and "alignments.0.skill_uri" in refused.output
    not_agent = run(node_env, "skills", "profile", "-p", "edtech-a", "--agent", "ada")
    assert not_agent.exit_code == 2 and "--agent" in not_agent.output
    nobody = run(node_env, "skills", "profile", "-p", "nobody", "--agent", AGENT)
    assert nobody.exit_code == 2 and "no participant 'nobody'" in nobody.output
    no_job = run(node_env, "skills", "recommend", "-p", "edtech-a", "--agent", AGENT, "--occupation", "zzzz qqqq")
    assert no_job.exit_code == 2 and "no ESCO occupation matches" in no_job.output
