"""`dases negotiate`: the local node negotiates a catalog offer and the command follows it to the end."""

from __future__ import annotations

from collections.abc import Callable

from typer.testing import CliRunner

from dases.cli import app

from .conftest import ADMIN_TOKEN, RunningNode
from .test_catalog_dsp import Nodes


def test_negotiate_follows_an_offer_to_its_agreement(start_node: Callable[..., RunningNode]) -> None:
    nodes = Nodes(start_node)
    published = nodes.publish(policy={"permission": [{"action": "use"}]})
    args = ["negotiate", published["offer_id"], "--provider", nodes.connector, "--as", "school-b", "--node", nodes.consumer.url]
    result = CliRunner().invoke(app, args, env={"DASES_ADMIN_TOKEN": ADMIN_TOKEN, "COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "FINALIZED" in result.output and published["id"] in result.output


def test_negotiate_reports_an_unknown_offer(start_node: Callable[..., RunningNode]) -> None:
    nodes = Nodes(start_node)
    args = ["negotiate", "urn:uuid:nothing-like-it", "--provider", nodes.connector, "--as", "school-b", "--node", nodes.consumer.url]
    result = CliRunner().invoke(app, args, env={"DASES_ADMIN_TOKEN": ADMIN_TOKEN})
    assert result.exit_code != 0
    assert "404" in str(result.exception) and "nothing-like-it" in str(result.exception)
