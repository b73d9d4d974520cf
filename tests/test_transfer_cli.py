"""`dases transfer`: the local node receives an agreement's data and the command follows it to
the end, writing the verified payload where asked; a refused transfer says why."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import typer
from typer.testing import CliRunner

from dases.transfer.cli import transfer

from .conftest import ADMIN_TOKEN, RunningNode
from .test_transfer_pull import Exchange

ANY_USE = {"permission": [{"action": "use"}]}


def _cli() -> typer.Typer:
    app = typer.Typer()
    app.command("transfer")(transfer)
    app.command("noop")(lambda: None)  # two commands, so Typer keeps `transfer` as a subcommand
    return app


def test_transfer_writes_the_verified_payload(start_node: Callable[..., RunningNode], tmp_path: Path) -> None:
    exchange = Exchange.pair(start_node)
    source = tmp_path / "skills.csv"
    source.write_text("learner,skill\n" + "".join(f"l{i},s{i % 5}\n" for i in range(1000)))
    exchange.publish({"kind": "file", "path": str(source)}, contains_pii=False, policy=ANY_USE)
    agreement_id = exchange.agree()
    output = tmp_path / "received.csv"
    args = ["transfer", agreement_id, "--as", "school-b", "--node", exchange.consumer.url, "--output", str(output), "--timeout", "30"]
    result = CliRunner().invoke(_cli(), args, env={"DASES_ADMIN_TOKEN": ADMIN_TOKEN, "COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "COMPLETED" in result.output and "verified" in result.output
    assert output.read_bytes() == source.read_bytes()


def test_transfer_reports_why_it_was_refused(start_node: Callable[..., RunningNode], tmp_path: Path) -> None:
    exchange = Exchange.pair(start_node)
    source = tmp_path / "skills.csv"
    source.write_text("learner,skill\nl1,s1\n")
    exchange.publish({"kind": "file", "path": str(source)}, contains_pii=False, policy=ANY_USE)
    agreement_id = exchange.agree()
    with exchange.provider.client(headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as admin:
        assert admin.post(f"/participants/edtech-a/agreements/{agreement_id}/revoke", json={"reason": "contract ended"}).status_code == 200
    args = ["transfer", agreement_id, "--as", "school-b", "--node", exchange.consumer.url, "--timeout", "30"]
    result = CliRunner().invoke(_cli(), args, env={"DASES_ADMIN_TOKEN": ADMIN_TOKEN})
    assert result.exit_code != 0
    assert "revoked" in str(result.exception) and "contract ended" in str(result.exception)
