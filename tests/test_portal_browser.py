"""The portal in a real browser (Playwright driving Debian's Chromium): a visitor searches the
catalog, narrows it with a facet, opens an offering and reads its terms; the node's operator
signs in with the admin token and reads the school's contracts and its verified ledger, page by
page; anyone reads the governance page in French and English. Every page passes the same
accessibility smoke check as the dashboard, and a screenshot of each goes to docs/screenshots/.

Without Chromium the test skips, except under CI (`CI` set), where it fails: the fixture is the
dashboard browser test's own.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from dases.ledger import service as ledger

from .conftest import RunningNode
from .portal_support import OPERATOR_ADMIN, SCHOOL_TOKEN, PortalSpace
from .test_learner_dashboard_browser import SCREENSHOTS, accessible, chromium  # noqa: F401  (chromium is a fixture)

#: Screenshots are documentation, kept small: one screen, not the whole page.
MAX_SCREENSHOT_BYTES = 150_000


@pytest.fixture
def space(start_node: Callable[..., RunningNode], tmp_path: Path) -> PortalSpace:
    return PortalSpace(start_node, tmp_path)


def shoot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / name
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(path), full_page=False)
    assert path.stat().st_size < MAX_SCREENSHOT_BYTES, f"{name} is {path.stat().st_size} bytes"


def test_the_portal_pages_in_the_browser(chromium: Any, space: PortalSpace) -> None:  # noqa: F811
    from playwright.sync_api import expect

    published = space.publish_school_catalog()
    exchange = space.contract_and_transfer()
    with space.school.node.db.transaction() as session:
        for n in range(25 - len(ledger.entries(session, "school"))):
            ledger.append(session, space.school.node.sealer, "school", "consent.checked", {"transfer_id": f"check-{n}", "allowed": True})
    space.governance_history()

    context = chromium.new_context(base_url=space.school.url, locale="en-GB", viewport={"width": 1100, "height": 820})
    page = context.new_page()
    try:
        # the catalog: search, then a facet
        page.goto("/portal/catalog")
        accessible(page, "en")
        expect(page.get_by_role("heading", level=1)).to_have_text("Catalog of the data space")
        expect(page.get_by_text("Offerings 1 to 4 of 4.")).to_be_visible()
        page.get_by_label("Search the catalog").fill("cohort")
        page.get_by_role("button", name="Search").click()
        expect(page).to_have_url(f"{space.school.url}/portal/catalog?q=cohort")
        expect(page.get_by_text("Offerings 1 to 2 of 2.")).to_be_visible()
        expect(page.get_by_role("link", name="Learning traces of the 2025 cohort")).to_be_visible()
        expect(page.get_by_role("link", name="Dropout early warning")).to_have_count(0)
        page.get_by_role("link", name="Catalog", exact=True).click()
        page.get_by_role("link", name="Data service (1)").click()
        expect(page.get_by_text("Offerings 1 to 1 of 1.")).to_be_visible()
        expect(page.get_by_role("link", name="Dropout early warning")).to_be_visible()
        accessible(page, "en")
        page.goto("/portal/catalog")
        shoot(page, "portal-catalog.png")

        # an offering and its terms
        page.get_by_role("link", name="Dropout early warning").click()
        expect(page).to_have_url(f"{space.school.url}/portal/offerings/{published['dropout']['id']}")
        expect(page.get_by_role("heading", level=1)).to_have_text("Dropout early warning")
        expect(page.get_by_text("Allowed: use the data, if the purpose is research.")).to_be_visible()
        page.get_by_text("The policy as published (ODRL, JSON)").click()
        expect(page.locator("pre.token")).to_contain_text('"leftOperand": "purpose"')
        accessible(page, "en")
        shoot(page, "portal-offering.png")

        # the members' pages: sign in first, then back to the page asked for
        page.goto("/portal/members/school/contracts")
        expect(page.get_by_role("heading", level=1)).to_have_text("Sign in to the members' area")
        accessible(page, "en")
        page.get_by_label("Admin token of this node").fill(SCHOOL_TOKEN)
        page.get_by_role("button", name="Sign in").click()
        expect(page).to_have_url(f"{space.school.url}/portal/members/school/contracts")
        expect(page.get_by_role("heading", level=1)).to_have_text("Contracts of Lycée Victor Hugo")
        row = page.locator("table.contracts tbody tr").first
        expect(row).to_contain_text("Cohort 2025 scores")
        expect(row).to_contain_text("Signed by both parties")
        expect(row).to_contain_text(exchange["agreement"]["@id"])
        accessible(page, "en")
        shoot(page, "portal-contracts.png")

        page.get_by_role("link", name="Ledger").first.click()
        expect(page.get_by_role("status")).to_have_text("Chain verified: the 25 entries are intact, in order, and their signatures check out.")
        expect(page.locator("table.ledger tbody tr").first).to_have_id("entry-25")
        accessible(page, "en")
        shoot(page, "portal-ledger.png")
        page.get_by_role("link", name="Older entries").click()
        expect(page.locator("table.ledger tbody tr").first).to_have_id("entry-5")
        expect(page.locator("table.ledger")).to_contain_text("Transfer completed")

        page.get_by_role("link", name="Members' area", exact=True).click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Organisations hosted on this node")
        accessible(page, "en")
        page.get_by_role("button", name="Sign out").click()
        expect(page.get_by_role("status")).to_have_text("You are signed out.")
        page.goto("/portal/members/school/ledger")
        expect(page.get_by_role("heading", level=1)).to_have_text("Sign in to the members' area")

        # the whole data space's catalog, on the operator's node
        with space.operator.client(headers=OPERATOR_ADMIN) as admin:
            assert admin.post("/catalog/federated/crawl").status_code == 200
        page.goto(f"{space.operator.url}/portal/catalog")
        page.get_by_role("link", name="The whole data space").click()
        expect(page.get_by_text("Offerings 1 to 4 of 4.")).to_be_visible()
        accessible(page, "en")
        shoot(page, "portal-space-catalog.png")
        page.get_by_role("link", name="Dropout early warning").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Dropout early warning")
        expect(page.get_by_text("Allowed: use the data, if the purpose is research.")).to_be_visible()
        expect(page.get_by_text(f"{space.school.url}/participants/school/dsp")).to_be_visible()
        accessible(page, "en")

        # governance, on the operator's node, and the switch to French
        page.goto(f"{space.operator.url}/portal/governance")
        expect(page.get_by_role("heading", level=1)).to_have_text("Governance of the data space")
        expect(page.locator("#rule-data-retention")).to_contain_text("Learning traces are kept at most 2 years.")
        page.locator("#rule-data-retention").get_by_text("Earlier versions").click()
        expect(page.locator("#rule-data-retention")).to_contain_text("Learning traces are kept at most 3 years.")
        accessible(page, "en")
        shoot(page, "portal-governance.png")
        page.get_by_role("link", name="Français").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Gouvernance de l'espace de données")
        accessible(page, "fr")
        page.get_by_role("link", name="Catalogue", exact=True).click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Catalogue de l'espace de données")
        accessible(page, "fr")

        page.goto(f"{space.school.url}/portal/catalog?lang=fr")
        expect(page.get_by_role("link", name="Service de données (1)")).to_be_visible()
        shoot(page, "portal-catalog-fr.png")

        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.getAttribute('href')") == "#main", "the skip link comes first"
    finally:
        context.close()
