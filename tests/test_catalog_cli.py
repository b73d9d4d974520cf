"""The catalog's command line, on the node's own storage: `dases offer publish FILE -p SLUG`,
`dases offer list|retire`, `dases catalog search QUERY [--category ...]`; bad input ends with a
message naming the problem and exit status 2, never a traceback."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from dases.catalog.cli import catalog_app, offer_app
from dases.cli import app as dases_app

from .conftest import backend_name
from .test_catalog_offerings import offering

#: The command tree as `dases` registers it: `dases offer ...` and `dases catalog ...`.
cli = typer.Typer()
cli.add_typer(offer_app, name="offer")
cli.add_typer(catalog_app, name="catalog")


@pytest.fixture
def node_env(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    for name in list(os.environ):
        if name.startswith("DASES_") and name != "DASES_TEST_DATABASE_URL":
            monkeypatch.delenv(name)
    env = {"DASES_DATA_DIR": str(tmp_path / "node"), "DASES_NODE_SECRET": "catalog-cli-secret-0123456789"}
    if backend_name() == "postgresql":
        env["DASES_DATABASE_URL"] = database_url
    runner = CliRunner()
    created = runner.invoke(dases_app, ["participant", "create", "edtech-a", "--name", "EdTech A"], env=env)
    assert created.exit_code == 0, created.output
    yield env


def run(env: dict[str, str], *args: str) -> Any:
    return CliRunner().invoke(cli, list(args), env=env)


def write(tmp_path: Path, name: str, body: dict[str, Any] | str) -> str:
    path = tmp_path / name
    path.write_text(body if isinstance(body, str) else json.dumps(body))
    return str(path)


def test_publish_then_search(node_env: dict[str, str], tmp_path: Path) -> None:
    published = run(node_env, "offer", "publish", write(tmp_path, "traces.json", offering()), "--participant", "edtech-a")
    assert published.exit_code == 0, published.output
    assert "published urn:uuid:" in published.output
    skills = offering(title="Soft skills assessments", data_categories=["soft_skills"], service_categories=[], contains_pii=False, keywords=["teamwork"])
    assert run(node_env, "offer", "publish", write(tmp_path, "skills.json", skills), "-p", "edtech-a").exit_code == 0

    found = run(node_env, "catalog", "search", "learning", "--json")
    assert found.exit_code == 0, found.output
    result = json.loads(found.output)
    assert result["total"] == 1 and result["items"][0]["title"] == "MOOC learning traces 2025"
    assert result["facets"]["data_category"] == {"learning_traces": 1}

    by_category = json.loads(run(node_env, "catalog", "search", "--category", "soft_skills", "--json").output)
    assert [item["title"] for item in by_category["items"]] == ["Soft skills assessments"]
    no_pii = json.loads(run(node_env, "catalog", "search", "--no-pii", "--json").output)
    assert no_pii["total"] == 1
    table = run(node_env, "catalog", "search", "skills")
    assert table.exit_code == 0 and "1 offering " in table.output
    assert "Soft" in table.output and "soft_skills" in table.output


def test_list_and_retire(node_env: dict[str, str], tmp_path: Path) -> None:
    run(node_env, "offer", "publish", write(tmp_path, "o.json", offering()), "-p", "edtech-a")
    listed = json.loads(run(node_env, "offer", "list", "edtech-a", "--json").output)
    assert [o["status"] for o in listed] == ["active"]
    retired = run(node_env, "offer", "retire", "edtech-a", listed[0]["id"])
    assert retired.exit_code == 0, retired.output
    assert json.loads(run(node_env, "offer", "list", "edtech-a", "--json").output) == []
    assert json.loads(run(node_env, "offer", "list", "edtech-a", "--all", "--json").output)[0]["status"] == "retired"
    assert json.loads(run(node_env, "catalog", "search", "--json").output)["total"] == 0
    reindexed = run(node_env, "catalog", "reindex")
    assert reindexed.exit_code == 0 and "reindexed 0 offerings" in reindexed.output


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("{not json", "is not an offering description"),
        (offering(title=""), "title"),
        (offering(policy={"permission": [{"constraint": []}]}), "policy.permission.0.action"),
    ],
)
def test_bad_offerings_end_with_a_message_and_status_2(node_env: dict[str, str], tmp_path: Path, body: Any, expected: str) -> None:
    result = run(node_env, "offer", "publish", write(tmp_path, "bad.json", body), "-p", "edtech-a")
    assert result.exit_code == 2, result.output
    assert expected in " ".join(result.output.split()) and "Traceback" not in result.output


def test_unknown_participant_and_category(node_env: dict[str, str], tmp_path: Path) -> None:
    result = run(node_env, "offer", "publish", write(tmp_path, "o.json", offering()), "-p", "nobody")
    assert result.exit_code == 2 and "no participant 'nobody'" in " ".join(result.output.split())
    result = run(node_env, "catalog", "search", "--category", "gossip")
    assert result.exit_code == 2 and "'gossip' is neither" in result.output
