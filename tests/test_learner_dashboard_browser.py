"""The learner's dashboard in a real browser (Playwright driving Debian's Chromium): a learner
registers, links a school account with a code, reads the request and its notice, gives consent
and withdraws it in one click each while the school's consent check follows, and downloads a
receipt whose signature verifies with the consent service's published key. Screenshots of each
step go to docs/screenshots/; every page passes an accessibility smoke check.

Without Chromium the test skips, except under CI (`CI` set), where it fails: the browser test is
the only one that proves the pages work without a hand-written HTTP client.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from joserfc import jws as jose
from joserfc.jwk import OKPKey

from dases.consent.receipts import verify_receipt
from dases.identity.resolver import DidResolver

from .conftest import RunningNode
from .test_learner_dashboard import PASSWORD, Space

CHROMIUM = Path(os.environ.get("DASES_CHROMIUM", "/usr/bin/chromium"))
SCREENSHOTS = Path(__file__).resolve().parents[1] / "docs" / "screenshots"

#: Run in the page: what an automated check can say about accessibility without a full audit.
A11Y_SMOKE = """() => {
  const controls = [...document.querySelectorAll('input:not([type=hidden]), select, textarea')];
  const unlabelled = controls
    .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label') && !el.getAttribute('aria-labelledby'))
    .map(el => el.name || el.id || el.outerHTML);
  const fakeButtons = [...document.querySelectorAll('[role=button], a[onclick], div[onclick], span[onclick]')].length;
  return {
    unlabelled,
    h1: document.querySelectorAll('h1').length,
    lang: document.documentElement.lang,
    main: document.querySelectorAll('main').length,
    header: document.querySelectorAll('header').length,
    nav: document.querySelectorAll('nav').length,
    skipLink: !!document.querySelector('a[href="#main"]') && !!document.getElementById('main'),
    fakeButtons,
  };
}"""


def _chromium_or_reason() -> str | None:
    if not CHROMIUM.exists() and shutil.which(str(CHROMIUM)) is None:
        return f"Chromium is not installed at {CHROMIUM} (apt-get install chromium, or set DASES_CHROMIUM)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright Python package is not installed (pip install -e '.[test]')"
    return None


@pytest.fixture
def chromium() -> Iterator[Any]:
    reason = _chromium_or_reason()
    if reason is not None:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the browser test: {reason}")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def space(start_node: Callable[..., RunningNode]) -> Space:
    return Space(start_node)


def accessible(page: Any, lang: str) -> None:
    """Every input labelled, one h1, the page language set, landmarks and a skip link."""
    report = page.evaluate(A11Y_SMOKE)
    assert report["unlabelled"] == [], f"inputs without a label on {page.url}: {report['unlabelled']}"
    assert report["h1"] == 1, f"{page.url} has {report['h1']} h1"
    assert report["lang"] == lang
    assert report["main"] == 1 and report["header"] >= 1 and report["nav"] >= 1 and report["skipLink"]
    assert report["fakeButtons"] == 0


def shoot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / name), full_page=True)


def verify_independently(token: str, operator: RunningNode) -> dict[str, Any]:
    """Check the receipt as an outsider would: fetch the issuer's DID document over HTTP, take
    the key the JWS header names, verify with joserfc. No DASES code involved."""
    header = jose.extract_compact(token.encode()).headers()
    issuer = header["kid"].split("#")[0]
    document = httpx.get(f"{operator.url}/participants/operator/did.json", timeout=10).json()
    assert document["id"] == issuer
    assert header["kid"] in [m if isinstance(m, str) else m["id"] for m in document["assertionMethod"]]
    method = next(m for m in document["verificationMethod"] if m["id"] == header["kid"])
    key = OKPKey.import_key(method["publicKeyJwk"])
    verified = jose.deserialize_compact(token, key, algorithms=[header["alg"]])
    return json.loads(verified.payload)


def test_a_learner_gives_and_withdraws_consent_in_the_browser(chromium: Any, space: Space) -> None:
    from playwright.sync_api import expect

    school_code = space.link_code("eleve-1")
    context = chromium.new_context(base_url=space.operator.url, locale="en-GB", viewport={"width": 1280, "height": 900}, accept_downloads=True)
    page = context.new_page()
    try:
        page.goto("/me")
        expect(page).to_have_url(f"{space.operator.url}/me/signin?next=%2Fme")
        accessible(page, "en")
        page.get_by_role("link", name="Create an account").first.click()
        accessible(page, "en")
        page.get_by_label("Login").fill("camille.martin")
        page.get_by_label("Your name").fill("Camille Martin")
        page.get_by_label("Date of birth").fill("2001-05-04")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_label("Language of your dashboard").select_option("en")
        page.get_by_role("button", name="Create my account").click()
        expect(page.get_by_role("status")).to_have_text("Your account is created.")
        expect(page.get_by_role("heading", level=1)).to_have_text("Your data and your consents")

        page.get_by_label("Link code").fill(school_code)
        page.get_by_role("button", name="Link the account").click()
        expect(page.get_by_role("status")).to_have_text("The account is linked.")
        expect(page.get_by_text("Holds data about you: your account eleve-1.")).to_be_visible()

        record = space.request("eleve-1")
        page.reload()
        card = page.locator(f"#consent-{record['id']}")
        expect(card.get_by_text("Waiting for your answer")).to_be_visible()
        expect(card.get_by_role("heading", name="Sharing your data with EdTech Numérique")).to_be_visible()
        expect(card.get_by_text("to follow your progress and detect early that a student may drop out").first).to_be_visible()
        accessible(page, "en")
        shoot(page, "dashboard-request.png")
        assert not space.allowed("eleve-1")

        card.get_by_role("button", name="Give consent").click()
        expect(page.get_by_role("status")).to_have_text("Consent given.")
        expect(card.get_by_text("Given", exact=True)).to_be_visible()
        assert space.allowed("eleve-1"), "the school's check says yes as soon as the learner gives"
        shoot(page, "dashboard-given.png")

        card.get_by_role("button", name="Withdraw consent").click()
        expect(page.get_by_role("status")).to_contain_text("Consent withdrawn")
        expect(card.get_by_text("Withdrawn", exact=True)).to_be_visible()
        expect(card.get_by_role("button", name="Give consent again")).to_be_visible()
        assert not space.allowed("eleve-1"), "and no at once after withdrawing"
        shoot(page, "dashboard-withdrawn.png")

        card.get_by_role("link", name="See the signed receipt").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Consent receipt: Consent withdrawn")
        accessible(page, "en")
        shoot(page, "receipt.png")
        with page.expect_download() as download_info:
            page.get_by_role("link", name="Download the signed receipt (JSON)").click()
        download = download_info.value
        assert download.suggested_filename == f"consent-receipt-{record['id']}-3.json"
        receipt = json.loads(Path(download.path()).read_text())
        assert receipt["receipt"]["status"] == "withdrawn" and receipt["receipt"]["actor"] == "subject"

        with httpx.Client(timeout=10) as http:
            resolver = DidResolver(http, ttl=0, allow_http_hosts=["127.0.0.1"])
            assert verify_receipt(receipt["jws"], resolver) == receipt["receipt"]
        independent = verify_independently(receipt["jws"], space.operator)
        assert independent["receipt"] == receipt["receipt"] and independent["iss"] == space.operator.did("operator")

        page.get_by_role("link", name="History").click()
        accessible(page, "en")
        expect(page.get_by_role("heading", name="Exchanges of your data")).to_be_visible()

        space.request("eleve-1", purpose="sector-education:StudentPersonalisedContentDelivery", data_categories=["learning_traces"], duration_days=180)
        page.goto("/me?lang=fr")
        expect(page.get_by_role("heading", level=1)).to_have_text("Vos données et vos consentements")
        expect(page.get_by_text("pour adapter vos cours et vos exercices à vos besoins").first).to_be_visible()
        expect(page.get_by_role("button", name="Donner mon accord")).to_be_visible()
        accessible(page, "fr")
        shoot(page, "dashboard-fr.png")

        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.getAttribute('href')") == "#main", "the skip link comes first"
    finally:
        context.close()
