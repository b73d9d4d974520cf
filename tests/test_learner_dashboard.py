"""The learner's dashboard over HTTP, as a browser without JavaScript uses it: registration and
sign-in, sessions and CSRF, consents given, refused and withdrawn in one click, receipts only for
their learner (or guardian), minors and guardians, French and English, and errors as pages that
name the field."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator
from datetime import timedelta
from html import unescape
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from dases.consent import accounts
from dases.consent.receipts import verify_receipt
from dases.db import utcnow
from dases.web import sessions
from dases.web.i18n import MESSAGES, choose_language, from_accept_language
from dases.web.models import SigninThrottle, WebSession
from dases.web.views import TEMPLATES_DIR

from .conftest import RunningNode
from .spaces import PURPOSE, DataSpace

PASSWORD = "correct horse battery staple"
ADULT = "2001-05-04"
MINOR = (utcnow().date() - timedelta(days=365 * 12)).isoformat()


class Space(DataSpace):
    """The data space of `tests/spaces.py`, seen from the learner's browser."""

    def request(self, account: str, **overrides: Any) -> dict[str, Any]:
        response = self.ask(account=account, **overrides)
        assert response.status_code == 201, response.text
        return dict(response.json())

    def allowed(self, account: str) -> bool:
        query = {"account": account, "consumer": self.edtech.did("edtech"), "purpose": PURPOSE}
        with self.call(self.school, "school") as client:
            response = client.get("/consent/check", params=query)
        assert response.status_code == 200, response.text
        return bool(response.json()["allowed"])

    def browser(self, **headers: str) -> Browser:
        return Browser(self.operator.url, headers)


class Browser:
    """An httpx client that uses the dashboard the way a browser without JavaScript does:
    it reads each form's CSRF token from the page before posting it."""

    def __init__(self, base_url: str, headers: dict[str, str]) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=10, headers={"Accept-Language": "en", **headers})

    def close(self) -> None:
        self.http.close()

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.get(path, **kwargs)

    def csrf(self, page: str) -> str:
        response = self.http.get(page)
        assert response.status_code == 200, response.text
        found = re.search(r'name="csrf" value="([^"]+)"', response.text)
        assert found, "every form carries a CSRF token"
        return found.group(1)

    def post(self, path: str, data: dict[str, str] | None = None, *, page: str = "/me", csrf: bool = True) -> httpx.Response:
        form = dict(data or {})
        if csrf:
            form["csrf"] = self.csrf(page)
        return self.http.post(path, data=form)

    def register(self, login: str, *, name: str = "Camille", birth_date: str = ADULT, password: str = PASSWORD, language: str = "en") -> httpx.Response:
        data = {"login": login, "display_name": name, "birth_date": birth_date, "password": password, "language": language}
        return self.post("/me/register", data, page="/me/register")

    def signin(self, login: str, password: str = PASSWORD) -> httpx.Response:
        return self.post("/me/signin", {"login": login, "password": password}, page="/me/signin")

    def link(self, code: str) -> httpx.Response:
        return self.post("/me/link", {"code": code})

    def decide(self, record_id: str, action: str) -> httpx.Response:
        return self.post(f"/me/consents/{record_id}/{action}")


@pytest.fixture
def space(start_node: Callable[..., RunningNode]) -> Space:
    return Space(start_node)


@pytest.fixture
def browsers(space: Space) -> Iterator[Callable[..., Browser]]:
    opened: list[Browser] = []

    def open_browser(**headers: str) -> Browser:
        opened.append(space.browser(**headers))
        return opened[-1]

    yield open_browser
    for browser in opened:
        browser.close()


def text_of(response: httpx.Response) -> str:
    """The page's text, tags dropped and whitespace folded, to assert on what a reader sees."""
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", response.text)).split())


def field_error(response: httpx.Response, field: str) -> str | None:
    found = re.search(rf'<p class="error-message" id="{field}-error">(.*?)</p>', response.text, re.DOTALL)
    return text_of(httpx.Response(200, text=found.group(1))) if found else None


def assert_page(response: httpx.Response, status: int) -> None:
    assert response.status_code == status, response.text[:2000]
    assert response.headers["content-type"].startswith("text/html"), "web routes answer pages, not problem JSON"
    assert response.text.count("<h1") == 1


# -- sign-in, sessions, CSRF -----------------------------------------------------------------


def test_register_sign_out_and_sign_in_again(space: Space, browsers: Callable[..., Browser]) -> None:
    browser = browsers()
    anonymous = browser.get("/me")
    assert anonymous.status_code == 303 and anonymous.headers["location"] == "/me/signin?next=%2Fme"

    registered = browser.register("camille.martin", name="Camille Martin")
    assert registered.status_code == 303 and registered.headers["location"] == "/me?done=registered"
    cookie = next(value for key, value in registered.headers.multi_items() if key == "set-cookie" and value.startswith("dases_session="))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/me" in cookie
    assert "Secure" not in cookie and "Max-Age" not in cookie, "an http node; and the cookie ends with the browser"
    token = browser.http.cookies["dases_session"]
    assert len(token) >= 43, "32 random bytes"

    dashboard = browser.get(registered.headers["location"])
    assert_page(dashboard, 200)
    assert "Camille Martin" in dashboard.text and "Your account is created." in text_of(dashboard)
    assert dashboard.headers["cache-control"] == "no-store" and "frame-ancestors 'none'" in dashboard.headers["content-security-policy"]
    with space.operator.node.db.transaction() as db:
        stored = db.scalars(select(WebSession.token_hash)).all()
    assert stored == [hashlib.sha256(token.encode()).hexdigest()], "only the token's hash is stored"

    signed_out = browser.post("/me/signout")
    assert signed_out.status_code == 303 and signed_out.headers["location"] == "/me/signin?done=signed_out"
    assert browser.get("/me").status_code == 303
    with httpx.Client(base_url=space.operator.url, headers={"Cookie": f"dases_session={token}"}) as replay:
        assert replay.get("/me").status_code == 303, "a signed-out token opens nothing, even if the browser kept it"
    with space.operator.node.db.transaction() as db:
        assert db.scalars(select(WebSession)).all() == []

    assert "You are signed out." in text_of(browser.get("/me/signin?done=signed_out"))
    again = browser.signin("Camille.Martin ")
    assert again.status_code == 303 and again.headers["location"] == "/me"
    assert browser.http.cookies["dases_session"] != token, "every sign-in opens a new session"
    assert "Camille Martin" in browser.get("/me").text


def test_sign_in_goes_back_to_the_page_asked_for_and_never_elsewhere(space: Space, browsers: Callable[..., Browser]) -> None:
    browsers().register("dominique")
    browser = browsers()
    asked = browser.get("/me/history")
    assert asked.headers["location"] == "/me/signin?next=%2Fme%2Fhistory"
    assert browser.post("/me/signin", {"login": "dominique", "password": PASSWORD, "next": "/me/history"}, page=asked.headers["location"]).headers["location"] == "/me/history"
    other = browsers()
    for target in ("https://evil.example/me", "//evil.example/me", "/consent/check", "/me\\@evil"):
        response = other.post("/me/signin", {"login": "dominique", "password": PASSWORD, "next": target}, page="/me/signin")
        assert response.headers["location"] == "/me", target
        other.post("/me/signout")


def test_a_wrong_password_is_a_401_page_that_does_not_say_which_field_was_wrong(space: Space, browsers: Callable[..., Browser]) -> None:
    browsers().register("eden")
    browser = browsers()
    wrong_password = browser.signin("eden", "not the password at all")
    unknown_login = browser.signin("nobody-here", PASSWORD)
    for response in (wrong_password, unknown_login):
        assert_page(response, 401)
        assert "The login or the password is wrong." in text_of(response)
        assert field_error(response, "login") is None and field_error(response, "password") is None
        assert "dases_session" not in browser.http.cookies
    assert 'value="eden"' in wrong_password.text, "the login is kept"
    assert "not the password" not in wrong_password.text, "the password never comes back"
    empty = browser.post("/me/signin", {"login": "", "password": ""}, page="/me/signin")
    assert_page(empty, 422)
    assert field_error(empty, "login") == "Error: Enter your login." and field_error(empty, "password") == "Error: Enter your password."


def test_five_failed_sign_ins_lock_the_login_for_a_minute(space: Space, browsers: Callable[..., Browser]) -> None:
    browsers().register("frankie")
    browser = browsers()
    for _ in range(sessions.MAX_FAILURES):
        assert browser.signin("frankie", "wrong password 123").status_code == 401
    locked = browser.signin("FRANKIE", PASSWORD)
    assert_page(locked, 429)
    assert 0 < int(locked.headers["retry-after"]) <= 60 and "Too many failed attempts" in text_of(locked)
    assert "dases_session" not in browser.http.cookies, "even the right password waits for the lock to end"
    with space.operator.node.db.transaction() as db:
        rows = db.scalars(select(SigninThrottle)).all()
        assert [row.login_hash for row in rows] == [hashlib.sha256(b"frankie").hexdigest()], "logins typed are stored hashed"
        rows[0].locked_until = utcnow() - timedelta(seconds=1)
    assert browser.signin("frankie", PASSWORD).status_code == 303
    with space.operator.node.db.transaction() as db:
        assert db.scalars(select(SigninThrottle)).all() == [], "a successful sign-in clears the count"


def test_the_throttle_forgets_old_failures_and_locks_again_after_a_lock(space: Space) -> None:
    now = utcnow()
    with space.operator.node.db.transaction() as db:
        for minutes in range(sessions.MAX_FAILURES - 1):
            sessions.record_failure(db, "grace", now + timedelta(minutes=minutes))
        assert sessions.locked_for(db, "grace", now + timedelta(minutes=4)) == 0
        sessions.record_failure(db, "grace", now + timedelta(minutes=60))
        assert sessions.locked_for(db, "grace", now + timedelta(minutes=60)) == 0, "failures spread over an hour are typos"
        later = now + timedelta(hours=2)
        for _ in range(sessions.MAX_FAILURES):
            sessions.record_failure(db, "grace", later)
        assert sessions.locked_for(db, "grace", later) == 60
        sessions.record_failure(db, "grace", later + timedelta(seconds=61))
        assert sessions.locked_for(db, "grace", later + timedelta(seconds=61)) == 60, "one more failure after a lock locks again"


def test_sessions_end_when_idle_and_after_a_week_in_any_case(space: Space) -> None:
    now = utcnow()
    with space.operator.node.db.transaction() as db:
        subject = accounts.register(db, login="hana", password=PASSWORD, display_name="Hana", birth_date=now.date().replace(year=2000))
        opened = sessions.open_session(db, subject.id, now)
        assert sessions.resume(db, opened.token, now + timedelta(hours=11)) is not None
        assert sessions.resume(db, opened.token, now + timedelta(hours=22)) is not None, "each visit restarts the idle period"
        assert sessions.resume(db, opened.token, now + timedelta(hours=34, minutes=1)) is None, "12 hours without a visit"
        kept = sessions.open_session(db, subject.id, now)
        for hours in range(11, 7 * 24, 11):
            assert sessions.resume(db, kept.token, now + timedelta(hours=hours)) is not None
        assert sessions.resume(db, kept.token, now + timedelta(days=7)) is None, "a week at most, however often it is used"
        assert sessions.resume(db, "x" * 500) is None and sessions.resume(db, None) is None
        assert sessions.live_sessions(db, subject.id, now) == 0, "ended sessions are deleted"
        sessions.open_session(db, subject.id, now)
        assert sessions.live_sessions(db, subject.id, now) == 1



def test_forms_without_the_csrf_token_are_refused(space: Space, browsers: Callable[..., Browser]) -> None:
    space.link_code("eleve-1")
    browser = browsers()
    browser.register("ines")
    browser.link(space.link_code("eleve-1"))
    record = space.request("eleve-1")
    assert browser.decide(record["id"], "give").status_code == 303

    for path in (f"/me/consents/{record['id']}/withdraw", "/me/signout", "/me/link"):
        missing = browser.post(path, {"code": "ABCD-EFGH-JKLM"}, csrf=False)
        assert_page(missing, 403)
        assert "nothing was done" in text_of(missing)
        forged = browser.http.post(path, data={"csrf": "0" * 64, "code": "ABCD-EFGH-JKLM"})
        assert_page(forged, 403)
    assert space.allowed("eleve-1"), "the consent is still given"
    assert browser.get("/me").status_code == 200, "and the learner is still signed in"

    anonymous = browsers()
    assert_page(anonymous.http.post("/me/signin", data={"login": "ines", "password": PASSWORD}), 403)
    token = anonymous.csrf("/me/signin")
    stranger = browsers()
    assert_page(stranger.http.post("/me/signin", data={"login": "ines", "password": PASSWORD, "csrf": token}), 403), "a token works only with its own cookie"
    assert_page(stranger.http.post("/me/register", data={"login": "other", "password": PASSWORD, "csrf": token}), 403)


# -- consents --------------------------------------------------------------------------------


def test_the_dashboard_shows_who_holds_data_and_each_consent_with_one_click_actions(space: Space, browsers: Callable[..., Browser]) -> None:
    browser = browsers()
    browser.register("jade", name="Jade Lefèvre")
    linked = browser.link(space.link_code("eleve-1"))
    assert linked.status_code == 303 and linked.headers["location"] == "/me?done=linked"
    record = space.request("eleve-1")

    page = browser.get("/me")
    assert_page(page, 200)
    text = text_of(page)
    assert "The account is linked." in browser.get("/me?done=linked").text
    assert "Organisations that hold data about you" in text
    assert "Lycée Victor Hugo Holds data about you: your account eleve-1." in text
    assert "Receives data about you" not in text
    assert "to follow your progress and detect early that a student may drop out" in text
    assert "your test and exam results" in text and "your learning activity" in text
    assert "Status: Waiting for your answer" in text and "90 days from your yes" in text
    assert '<details class="privacy-notice" open>' in page.text and "Sharing your data with EdTech Numérique" in text
    assert re.findall(r'data-action="(\w+)"', page.text) == ["give", "refuse"]
    assert f'href="/me/consents/{record["id"]}/receipt"' in page.text

    given = browser.decide(record["id"], "give")
    assert given.status_code == 303 and given.headers["location"] == f"/me?done=given#consent-{record['id']}"
    assert space.allowed("eleve-1")
    page = browser.get("/me?done=given")
    text = text_of(page)
    assert "Consent given." in text and "Status: Given" in text and "Valid until" in text
    assert "EdTech Numérique Receives data about you, with your consent." in text
    assert re.findall(r'data-action="(\w+)"', page.text) == ["withdraw"], "withdrawing is one button, like giving"

    assert browser.decide(record["id"], "withdraw").headers["location"] == f"/me?done=withdrawn#consent-{record['id']}"
    assert not space.allowed("eleve-1")
    page = browser.get("/me")
    assert "Status: Withdrawn" in text_of(page) and re.findall(r'data-action="(\w+)"', page.text) == ["give_again"]
    assert_page(browser.decide(record["id"], "withdraw"), 409)

    assert browser.decide(record["id"], "give").status_code == 303 and space.allowed("eleve-1")
    other = space.request("eleve-1", purpose="sector-education:StudentPlagiarismDetection")
    assert browser.decide(other["id"], "refuse").status_code == 303
    assert "Status: Refused" in text_of(browser.get("/me"))


def test_history_lists_every_event_newest_first_and_leaves_exchanges_to_the_ledger(space: Space, browsers: Callable[..., Browser]) -> None:
    browser = browsers()
    browser.register("kim")
    browser.link(space.link_code("eleve-1"))
    record = space.request("eleve-1")
    browser.decide(record["id"], "give")
    browser.decide(record["id"], "withdraw")

    page = browser.get("/me/history")
    assert_page(page, 200)
    rows = re.findall(r'<tr class="event-(\w+)">', page.text)
    assert rows == ["withdrawn", "given", "requested"]
    text = text_of(page)
    assert "Consent withdrawn" in text and " you " in f" {text} " and "the organisation that holds the data" in text
    assert f'/me/consents/{record["id"]}/receipt?event=1' in page.text
    assert "No transfer of data about you has been reported yet." in text


def test_history_lists_the_exchanges_the_providers_report(space: Space, browsers: Callable[..., Browser]) -> None:
    browser = browsers()
    browser.register("noa")
    browser.link(space.link_code("eleve-9"))
    record = space.request("eleve-9")
    browser.decide(record["id"], "give")
    report = {"consumer": space.edtech.did("edtech"), "agreement_id": "urn:uuid:agreement-1", "record_ids": [record["id"]]}
    with space.call(space.school, "school") as client:
        first = client.post("/consent/exchanges", json={**report, "transfer_id": "urn:uuid:t-1", "at": utcnow().isoformat()})
        assert first.status_code == 201 and first.json() == {"recorded": 1, "without_consent": []}, first.text
        again = client.post("/consent/exchanges", json={**report, "transfer_id": "urn:uuid:t-1", "at": utcnow().isoformat()})
        assert again.json()["recorded"] == 0  # reported twice, recorded once
    browser.decide(record["id"], "withdraw")
    with space.call(space.school, "school") as client:  # a release after the withdrawal is flagged, not hidden
        late = client.post("/consent/exchanges", json={**report, "transfer_id": "urn:uuid:t-2", "at": utcnow().isoformat()})
    assert late.json() == {"recorded": 1, "without_consent": [record["id"]]}

    text = text_of(browser.get("/me/history"))
    assert "Lycée Victor Hugo EdTech Numérique" in text
    assert text.count("Under your consent") == 1 and text.count("Without a valid consent") == 1


def test_receipts_are_signed_readable_and_downloadable(space: Space, browsers: Callable[..., Browser]) -> None:
    browser = browsers()
    browser.register("lou")
    browser.link(space.link_code("eleve-1"))
    record = space.request("eleve-1")
    browser.decide(record["id"], "give")

    page = browser.get(f"/me/consents/{record['id']}/receipt")
    assert_page(page, 200)
    text = text_of(page)
    assert "Consent receipt: Consent given" in text and "Event 2 of 2" in text and "Decided by you" in text
    assert "EdTech Numérique" in text and space.edtech.did("edtech") in text

    download = browser.get(f"/me/consents/{record['id']}/receipt.json")
    assert download.status_code == 200
    assert download.headers["content-disposition"] == f'attachment; filename="consent-receipt-{record["id"]}-2.json"'
    body = download.json()
    assert body["receipt"]["status"] == "given" and body["typ"] == "dases-consent-receipt+jwt"
    content = verify_receipt(body["jws"], space.operator.node.resolver)
    assert content == body["receipt"] and content["issuer"] == space.operator.did("operator")

    first = browser.get(f"/me/consents/{record['id']}/receipt.json?event=1").json()
    assert first["receipt"]["status"] == "requested" and first["receipt"]["actor"] == "provider"
    assert_page(browser.get(f"/me/consents/{record['id']}/receipt?event=9"), 404)
    assert_page(browser.get(f"/me/consents/{record['id']}/receipt?event=x"), 404)


def test_another_learner_cannot_see_or_change_my_consent(space: Space, browsers: Callable[..., Browser]) -> None:
    mine = browsers()
    mine.register("mael")
    mine.link(space.link_code("eleve-1"))
    record = space.request("eleve-1")
    mine.decide(record["id"], "give")

    other = browsers()
    other.register("nour")
    for path in (f"/me/consents/{record['id']}/receipt", f"/me/consents/{record['id']}/receipt.json", "/me/consents/no-such-record/receipt"):
        response = other.get(path)
        assert_page(response, 404)
        assert "EdTech Numérique" not in response.text and "Consent given" not in response.text
    assert_page(other.decide(record["id"], "withdraw"), 404)
    assert space.allowed("eleve-1")
    assert record["id"] not in other.get("/me").text and record["id"] not in other.get("/me/history").text

    anonymous = browsers()
    assert anonymous.get(f"/me/consents/{record['id']}/receipt.json").status_code == 303


def test_a_minor_cannot_give_consent_but_their_guardian_can(space: Space, browsers: Callable[..., Browser]) -> None:
    minor = browsers()
    minor.register("olivia", name="Olivia", birth_date=MINOR)
    minor.link(space.link_code("eleve-2"))
    record = space.request("eleve-2")

    page = minor.get("/me")
    assert "A parent or guardian must give this consent." in text_of(page)
    assert re.findall(r'data-action="(\w+)"', page.text) == ["refuse"], "no Give button; refusing stays open"
    refused = minor.decide(record["id"], "give")
    assert_page(refused, 403)
    assert "Under 15, a parent or guardian must give this consent." in text_of(refused)
    assert not space.allowed("eleve-2")

    guardian = browsers()
    guardian.register("parent-olivia", name="Paul")
    linked = guardian.link(space.link_code("eleve-2", role="guardian"))
    assert linked.headers["location"] == "/me?done=guardian"
    page = guardian.get("/me")
    text = text_of(page)
    assert "People you are the parent or guardian of" in text and "Consents of Olivia" in text
    assert re.findall(r'data-action="(\w+)"', page.text) == ["give", "refuse"]
    assert guardian.decide(record["id"], "give").status_code == 303
    assert space.allowed("eleve-2")
    receipt = guardian.get(f"/me/consents/{record['id']}/receipt")
    assert_page(receipt, 200)
    assert "Decided by a parent or guardian" in text_of(receipt)
    assert "Decisions about the consents of Olivia" in text_of(guardian.get("/me/history"))

    assert re.findall(r'data-action="(\w+)"', minor.get("/me").text) == ["withdraw"]
    assert minor.decide(record["id"], "withdraw").status_code == 303, "a minor can always stop the use of their data"
    assert not space.allowed("eleve-2")


# -- languages -------------------------------------------------------------------------------


def test_the_language_comes_from_the_link_then_the_cookie_then_the_account_then_the_browser(space: Space, browsers: Callable[..., Browser]) -> None:
    french_browser = browsers(**{"Accept-Language": "fr-FR,fr;q=0.9,en;q=0.5"})
    page = french_browser.get("/me/signin")
    assert '<html lang="fr">' in page.text and "Connexion à votre tableau de bord" in page.text
    assert 'href="/me/signin?lang=en" lang="en" hreflang="en"' in page.text

    switched = french_browser.get("/me/signin?lang=en")
    assert '<html lang="en">' in switched.text and "Sign in to your dashboard" in switched.text
    assert french_browser.http.cookies["lang"] == "en"
    assert '<html lang="en">' in french_browser.get("/me/signin").text, "the choice is remembered"

    french_browser.register("quentin", language="fr")
    assert '<html lang="en">' in french_browser.get("/me").text, "a choice made on this browser beats the account's"
    english_browser = browsers(**{"Accept-Language": "en"})
    english_browser.signin("quentin")
    dashboard = english_browser.get("/me")
    assert '<html lang="fr">' in dashboard.text and "Vos consentements" in dashboard.text, "the account's language beats the browser's"
    assert '<html lang="en">' in english_browser.get("/me?lang=en").text

    assert '<html lang="fr">' in browsers(**{"Accept-Language": "de, es;q=0.8"}).get("/me/signin").text, "French when nothing matches"


def test_language_choice_rules() -> None:
    assert from_accept_language("de;q=1, en-GB;q=0.7, fr;q=0.8") == "fr"
    assert from_accept_language("en;q=0, fr;q=0.1") == "fr"
    assert from_accept_language("*") is None and from_accept_language(None) is None
    assert choose_language(query="xx", cookie="en", account="fr", accept_language="fr") == "en"
    assert choose_language(query=None, cookie=None, account=None, accept_language=None) == "fr"


def test_every_string_exists_in_french_and_english() -> None:
    assert set(MESSAGES["fr"]) == set(MESSAGES["en"])
    used = set()
    for template in TEMPLATES_DIR.glob("*.html"):
        used |= set(re.findall(r"""\bt\(\s*["']([a-z0-9_]+)["']\s*[,)]""", template.read_text()))
    assert used and used <= set(MESSAGES["en"]), used - set(MESSAGES["en"])
    for lang in ("fr", "en"):
        assert all(text.strip() for text in MESSAGES[lang].values())


# -- bad input and errors --------------------------------------------------------------------


def test_bad_registration_input_is_shown_next_to_the_field(space: Space, browsers: Callable[..., Browser]) -> None:
    browser = browsers()
    bad_date = browser.register("rose", name="Rose", birth_date="31/02/2008")
    assert_page(bad_date, 422)
    assert field_error(bad_date, "birth_date") == "Error: Enter the date as year-month-day, for example 2008-03-27."
    assert 'aria-invalid="true" aria-describedby="birth_date-hint birth_date-error"' in bad_date.text
    assert 'value="rose"' in bad_date.text and 'value="Rose"' in bad_date.text and PASSWORD not in bad_date.text
    assert '<a href="#birth_date">' in bad_date.text, "the error summary links to the field"

    short = browser.register("rose", password="short")
    assert_page(short, 422)
    assert field_error(short, "password") == "Error: The password must have at least 10 characters."
    assert field_error(short, "login") is None

    future = browser.register("rose", birth_date="2999-01-01", name=" ")
    assert_page(future, 422)
    assert field_error(future, "birth_date") and field_error(future, "display_name")

    everything = browser.register("x", birth_date="", password="")
    assert {field for field in ("login", "birth_date", "password") if field_error(everything, field)} == {"login", "birth_date", "password"}

    assert browser.register("rose").status_code == 303
    taken = browsers().register("ROSE")
    assert_page(taken, 409)
    assert field_error(taken, "login") == "Error: This login is already taken: choose another one."


def test_a_bad_link_code_is_shown_next_to_the_field_and_a_refused_code_stays_usable(space: Space, browsers: Callable[..., Browser]) -> None:
    browser = browsers()
    browser.register("sacha")
    unknown = browser.link("ABCD-EFGH-JKLM")
    assert_page(unknown, 422)
    assert field_error(unknown, "code") == "Error: This code is unknown, already used or expired. Ask the organisation for a new one."
    assert 'value="ABCD-EFGH-JKLM"' in unknown.text and "Your consents" in unknown.text
    assert field_error(browser.link(""), "code") == "Error: Enter the code the organisation gave you."

    assert browser.link(space.link_code("eleve-9")).status_code == 303
    second_code = space.link_code("eleve-9")
    other = browsers()
    other.register("tom")
    taken = other.link(second_code)
    assert_page(taken, 409)
    assert field_error(taken, "code") == "Error: This account is already linked to another person. Contact the organisation."
    assert browser.link(second_code).status_code == 303, "the code refused to someone else was not used up"


def test_web_errors_are_pages_and_web_routes_stay_out_of_the_api_schema(space: Space, browsers: Callable[..., Browser]) -> None:
    browser = browsers()
    missing = browser.get("/me/no/such/page")
    assert_page(missing, 404)
    assert "Page not found" in missing.text
    assert browser.get("/me/").headers["location"] == "/me"
    css = browser.get("/me/static/dases.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css") and ":focus-visible" in css.text
    assert_page(browser.get("/me/static/../app.py"), 404)
    with space.operator.client() as client:
        paths = client.get("/openapi.json").json()["paths"]
    assert not [path for path in paths if path.startswith("/me")]


def test_parallel_gives_and_withdrawals_from_the_dashboard_lose_no_event(space: Space, browsers: Callable[..., Browser]) -> None:
    """Many clicks at once, as separate requests to the node: each accepted click is one event."""
    from concurrent.futures import ThreadPoolExecutor

    browser = browsers()
    assert browser.register("sami", name="Sami").status_code == 303
    assert browser.link(space.link_code("eleve-par")).status_code == 303
    record = space.request("eleve-par")
    token = browser.csrf("/me")
    cookies = dict(browser.http.cookies)
    actions = ["give", "withdraw"] * 12

    def click(action: str) -> int:
        with httpx.Client(base_url=space.operator.url, cookies=cookies, timeout=30) as tab:
            return tab.post(f"/me/consents/{record['id']}/{action}", data={"csrf": token}).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(click, actions))
    assert set(statuses) <= {303, 409}, statuses  # accepted, or "not given: nothing to withdraw"
    accepted = [action for action, status in zip(actions, statuses, strict=True) if status == 303]
    with space.call(space.school, "school") as client:
        history = client.get(f"/consent/records/{record['id']}").json()["history"]
    assert len(history) == 1 + len(accepted)
    assert [event["seq"] for event in history] == list(range(1, len(history) + 1))
    assert sorted(event["status"] for event in history[1:]) == sorted("given" if a == "give" else "withdrawn" for a in accepted)
    assert space.allowed("eleve-par") is (history[-1]["status"] == "given")
