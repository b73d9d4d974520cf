"""`dases negotiate`: the local node negotiates a catalog offer and the command follows it to the end."""

from __future__ import annotations

from collections.abc import Callable

from typer.testing import CliRunner

from dases.catalog import service as catalog
from dases.catalog.models import OfferingIn
from dases.cli import app
from dases.negotiation.messages import DSP_CONTEXT

from .conftest import ADMIN_TOKEN, RunningNode
from .test_catalog_dsp import Nodes
from .test_catalog_offerings import offering


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


def test_an_offer_beyond_the_first_catalog_page_is_found(start_node: Callable[..., RunningNode]) -> None:
    nodes = Nodes(start_node)
    provider = nodes.provider.node
    with provider.db.transaction() as session:
        published = catalog.publish_many(session, "edtech-a", [OfferingIn(**offering(title=f"Cohort {i}", policy={"permission": [{"action": "use"}]})) for i in range(150)])
        offers = {offering_row.id: catalog.get_offering(session, "edtech-a", offering_row.id) for offering_row in published}
    with nodes.as_consumer() as client:
        page = client.post("/participants/edtech-a/dsp/catalog/request", json={"@context": [DSP_CONTEXT], "@type": "CatalogRequestMessage"})
    assert 'rel="next"' in page.headers["link"]
    on_first_page = {dataset["@id"] for dataset in page.json()["dataset"]}
    dataset_id = next(dataset_id for dataset_id in offers if dataset_id not in on_first_page)
    offer_id = offers[dataset_id].policy["@id"]
    args = ["negotiate", offer_id, "--provider", nodes.connector, "--as", "school-b", "--node", nodes.consumer.url]
    result = CliRunner().invoke(app, args, env={"DASES_ADMIN_TOKEN": ADMIN_TOKEN, "COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert dataset_id in result.output
