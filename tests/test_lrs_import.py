"""Bulk import of real statements (22,000 from a MOOC platform) and reading them back exactly."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from dases.lrs.agents import agent_key
from dases.lrs.app import create_lrs_app
from dases.settings import Settings
from tests.test_lrs_statements import VERSION, basic

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "xapi" / "ralph-statements.json.gz"


def dases_lrs(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "dases", "lrs", *args], capture_output=True, text=True, env=env, timeout=900, check=False)


@pytest.fixture
def lrs_env(tmp_path: Path, database_url: str) -> dict[str, str]:
    import os

    return {**os.environ, "DASES_DATA_DIR": str(tmp_path / "lrs"), "DASES_DATABASE_URL": database_url, "DASES_NODE_SECRET": "import-test-secret-0123456789"}


def read_all(client: TestClient, **params: Any) -> list[dict[str, Any]]:
    page = client.get("/xapi/statements", params=params).json()
    found = page["statements"]
    while page["more"]:
        page = client.get(page["more"]).json()
        found.extend(page["statements"])
    return found


def test_real_statements_import_without_rejects_and_read_back_exactly(tmp_path: Path, database_url: str, lrs_env: dict[str, str]) -> None:
    with gzip.open(REAL, "rt", encoding="utf-8") as handle:
        lines = handle.read().splitlines()
    statements = [json.loads(line) for line in lines]
    assert len(statements) == 22_000
    first_half, second_half = tmp_path / "first.jsonl.gz", tmp_path / "second.jsonl"
    with gzip.open(first_half, "wt", encoding="utf-8") as handle:
        handle.write("\n".join(lines[:11_000]) + "\n")
    second_half.write_text("\n".join(lines[11_000:]) + "\n")

    done = dases_lrs("import", str(first_half), env=lrs_env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "stored 11000 statements, 0 already present, 0 rejected" in done.stderr.replace("\n", " ")
    time.sleep(0.05)
    between = time.time()
    time.sleep(0.05)
    done = dases_lrs("import", str(second_half), env=lrs_env)
    assert done.returncode == 0, done.stdout + done.stderr
    again = dases_lrs("import", str(first_half), env=lrs_env)
    assert "stored 0 statements, 11000 already present, 0 rejected" in again.stderr.replace("\n", " ")

    settings = Settings(data_dir=Path(lrs_env["DASES_DATA_DIR"]), database_url=database_url, lrs_basic_auth="u:secret-secret")
    with TestClient(create_lrs_app(settings), headers={**VERSION, **basic("u", "secret-secret")}) as client:
        verbs = Counter(statement["verb"]["id"] for statement in statements)
        for verb, expected in verbs.most_common(3) + verbs.most_common()[-2:]:
            assert len(read_all(client, verb=verb, limit=1000)) == expected, verb
        actors = Counter(agent_key(statement["actor"]) for statement in statements)
        busiest = next(s["actor"] for s in statements if agent_key(s["actor"]) == actors.most_common(1)[0][0])
        by_agent = read_all(client, agent=json.dumps(busiest))
        assert len(by_agent) == actors.most_common(1)[0][1]
        assert {s["id"] for s in by_agent} == {s["id"] for s in statements if agent_key(s["actor"]) == agent_key(busiest)}
        from datetime import UTC, datetime

        since = datetime.fromtimestamp(between, UTC).isoformat()
        assert len(read_all(client, since=since, limit=1000)) == 11_000
        assert {s["id"] for s in read_all(client, until=since, limit=1000)} == {s["id"] for s in statements[:11_000]}
        # statements keep their own timestamps and extensions byte for byte in meaning
        sample = statements[12_345]
        stored = client.get("/xapi/statements", params={"statementId": sample["id"]}).json()
        assert stored["timestamp"] == sample["timestamp"] and stored["result"] == sample.get("result")


def test_a_bad_line_is_reported_with_its_number_and_the_rest_is_stored(tmp_path: Path, lrs_env: dict[str, str]) -> None:
    good = {"actor": {"mbox": "mailto:a@example.org"}, "verb": {"id": "http://example.org/v"}, "object": {"id": "http://example.org/a"}}
    bad = {**good, "actor": {"mbox": "a@example.org"}}
    source = tmp_path / "mixed.jsonl"
    source.write_text("\n".join([json.dumps(good), "{oops", json.dumps(bad), json.dumps(good)]) + "\n")
    done = dases_lrs("import", str(source), env=lrs_env)
    assert done.returncode == 1
    assert "stored 2 statements, 0 already present, 2 rejected" in done.stderr.replace("\n", " ")
    report = [json.loads(line) for line in (tmp_path / "mixed.jsonl.rejects.jsonl").read_text().splitlines()]
    assert [entry["line"] for entry in report] == [2, 3]
    assert report[1]["field"].endswith("actor.mbox")
