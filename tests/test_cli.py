"""The `dases` command line: version, participant create / list / show against the node's
storage, errors reported as messages with a non-zero exit, and `dases serve` running a node."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

import dases
from dases.cli import app, main
from dases.errors import Conflict, InvalidInput, NotFound

from .conftest import backend_name

NODE_SECRET = "cli-test-node-secret-0123456789"
DASES_SCRIPT = Path(sys.executable).parent / "dases"


@pytest.fixture
def node_env(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """Environment of a node whose data lives in tmp_path (on PostgreSQL: in the test's schema)."""
    for name in list(os.environ):
        if name.startswith("DASES_") and name != "DASES_TEST_DATABASE_URL":
            monkeypatch.delenv(name)
    env = {"DASES_DATA_DIR": str(tmp_path / "node"), "DASES_NODE_SECRET": NODE_SECRET, }
    if backend_name() == "postgresql":
        env["DASES_DATABASE_URL"] = database_url
    yield env


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def invoke(runner: CliRunner, env: dict[str, str], *args: str):  # type: ignore[no-untyped-def]
    return runner.invoke(app, list(args), env=env)


def test_version(runner: CliRunner) -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"dases {dases.__version__}"


def test_no_arguments_prints_help(runner: CliRunner) -> None:
    result = runner.invoke(app, [])
    assert "participant" in result.output and "serve" in result.output


def test_participant_create_list_show(runner: CliRunner, node_env: dict[str, str], tmp_path: Path) -> None:
    created = invoke(runner, node_env, "participant", "create", "acme", "--name", "Acme Learning")
    assert created.exit_code == 0, created.output
    did = "did:web:127.0.0.1%3A8000:participants:acme"
    assert f"created participant acme: {did}" in created.output
    if backend_name() == "sqlite":
        assert (tmp_path / "node" / "dases.sqlite3").is_file()  # the embedded default under data_dir

    listed = invoke(runner, node_env, "participant", "list")
    assert listed.exit_code == 0, listed.output
    row = next(line for line in listed.output.splitlines() if "acme" in line)
    assert "Acme Learning" in row and did in row and row.rstrip(" │|").endswith("1")

    shown = invoke(runner, node_env, "participant", "show", "acme")
    assert shown.exit_code == 0, shown.output
    assert f"DID: {did}" in shown.output
    document = json.loads(shown.output[shown.output.index("{") :])
    assert document["id"] == did
    assert len(document["verificationMethod"]) == 1
    assert document["authentication"] == [document["verificationMethod"][0]["id"]]
    assert "d" not in document["verificationMethod"][0]["publicKeyJwk"]
    active = next(line for line in shown.output.splitlines() if line.startswith("active key:")).split(":", 1)[1].strip()
    assert document["verificationMethod"][0]["id"] == f"{did}#{active}"


def test_data_dir_option_selects_the_node(runner: CliRunner, node_env: dict[str, str], tmp_path: Path) -> None:
    env = {key: value for key, value in node_env.items() if key != "DASES_DATA_DIR"}
    other = tmp_path / "other-node"
    created = invoke(runner, env, "participant", "create", "globex", "--name", "Globex", "--data-dir", str(other))
    assert created.exit_code == 0, created.output
    assert (other / "node.secret").exists() is False  # DASES_NODE_SECRET is set: no secret is generated
    listed = invoke(runner, env, "participant", "list", "--data-dir", str(other))
    assert "globex" in listed.output
    if backend_name() == "sqlite":
        assert (other / "dases.sqlite3").is_file()
        empty = invoke(runner, env, "participant", "list", "--data-dir", str(tmp_path / "empty-node"))
        assert empty.exit_code == 0 and "globex" not in empty.output


def test_participant_list_is_empty_on_a_new_node(runner: CliRunner, node_env: dict[str, str]) -> None:
    listed = invoke(runner, node_env, "participant", "list")
    assert listed.exit_code == 0, listed.output
    assert "slug" in listed.output and "acme" not in listed.output


def test_creating_a_participant_twice_fails(
    runner: CliRunner, node_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert invoke(runner, node_env, "participant", "create", "acme", "--name", "Acme").exit_code == 0
    again = invoke(runner, node_env, "participant", "create", "acme", "--name", "Acme again")
    assert again.exit_code != 0
    assert isinstance(again.exception, Conflict)
    assert "already exists" in again.exception.detail

    # Through the installed entry point, the error is a message and exit status 2, not a traceback.
    for key, value in node_env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(sys, "argv", ["dases", "participant", "create", "acme", "--name", "Acme"])
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 2
    output = capsys.readouterr().out
    assert "error:" in output and "'acme' already exists" in output
    assert "Traceback" not in output

    listed = invoke(runner, node_env, "participant", "list")
    assert sum("acme" in line for line in listed.output.splitlines()) == 1  # the first one is kept


@pytest.mark.parametrize("slug", ["Acme", "acme_corp", "-acme", "acme-", "a" * 64, "ac me"])
def test_invalid_slug_fails_naming_the_rule(runner: CliRunner, node_env: dict[str, str], slug: str) -> None:
    result = invoke(runner, node_env, "participant", "create", "--name", "Acme", "--", slug)
    assert result.exit_code != 0
    assert isinstance(result.exception, InvalidInput)
    assert "lowercase letters, digits or inner hyphens" in result.exception.detail
    assert result.exception.errors[0].field == "slug"


def test_blank_name_fails(runner: CliRunner, node_env: dict[str, str]) -> None:
    result = invoke(runner, node_env, "participant", "create", "acme", "--name", "   ")
    assert isinstance(result.exception, InvalidInput)
    assert "name must not be blank" in result.exception.detail


def test_showing_an_unknown_participant_fails(runner: CliRunner, node_env: dict[str, str]) -> None:
    result = invoke(runner, node_env, "participant", "show", "nobody")
    assert result.exit_code != 0
    assert isinstance(result.exception, NotFound)
    assert "'nobody'" in result.exception.detail


def test_create_needs_a_name(runner: CliRunner, node_env: dict[str, str]) -> None:
    result = invoke(runner, node_env, "participant", "create", "acme")
    assert result.exit_code == 2
    assert "--name" in result.output


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_serve_runs_a_node_that_answers_healthz(tmp_path: Path, node_env: dict[str, str]) -> None:
    assert DASES_SCRIPT.is_file()
    port = free_port()
    data_dir = tmp_path / "served"
    env = {key: value for key, value in os.environ.items() if not key.startswith("DASES_")}
    env.update({key: value for key, value in node_env.items() if key != "DASES_DATA_DIR"})
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(DASES_SCRIPT), "serve", "--port", str(port), "--data-dir", str(data_dir)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            health = None
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                assert process.poll() is None, f"dases serve exited early:\n{log_path.read_text()}"
                try:
                    response = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                except httpx.TransportError:
                    time.sleep(0.1)
                    continue
                if response.status_code == 200:
                    health = response.json()
                    break
                time.sleep(0.1)
            assert health is not None, f"no healthy answer within 20 s:\n{log_path.read_text()}"
            assert health == {"status": "ok", "version": dases.__version__, "database": backend_name()}
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
    output = log_path.read_text()
    assert f"http://127.0.0.1:{port}" in output  # the banner names where it serves
    if backend_name() == "sqlite":
        assert (data_dir / "dases.sqlite3").is_file()


def _run_main(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], env: dict[str, str], *args: str) -> tuple[int, str]:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(sys, "argv", ["dases", *args])
    with pytest.raises(SystemExit) as exit_info:
        main()
    return int(exit_info.value.code or 0), capsys.readouterr().out


def test_invalid_setting_is_a_one_line_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], node_env: dict[str, str]
) -> None:
    code, output = _run_main(monkeypatch, capsys, {**node_env, "DASES_PORT": "notaport"}, "participant", "list")
    assert code == 2
    assert "invalid settings" in output and "port" in output and "Traceback" not in output


def test_missing_config_file_is_an_error_not_a_silent_default(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], node_env: dict[str, str], tmp_path: Path
) -> None:
    missing = tmp_path / "typo.toml"
    code, output = _run_main(monkeypatch, capsys, {**node_env, "DASES_CONFIG": str(missing)}, "participant", "list")
    assert code == 2
    assert str(missing) in output.replace("\n", "")


def test_participant_list_never_cuts_a_did_short(runner: CliRunner, node_env: dict[str, str]) -> None:
    slug = "a-rather-long-participant-slug-for-a-narrow-terminal"
    assert invoke(runner, node_env, "participant", "create", slug, "--name", "Long").exit_code == 0
    listed = runner.invoke(app, ["participant", "list"], env={**node_env, "COLUMNS": "80"})
    assert listed.exit_code == 0
    assert "…" not in listed.output
    assert slug in "".join(line.strip(" │┃") for line in listed.output.splitlines())
