"""The portal over HTTP, as a browser without JavaScript uses it: the public catalog (search,
facets, paging) and offering pages, the governance pages, and the members' pages (contracts,
ledger with its chain verified) behind the node operator's sign-in; every page in French and
English; bad addresses and bad filters answered with 4xx pages that say what is wrong."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import timedelta
from html import unescape
from pathlib import Path

import httpx
import pytest

from dases.db import utcnow
from dases.ledger import service as ledger
from dases.settings import Settings
from dases.web import portal_sessions, sessions

from .conftest import RunningNode
from .portal_support import (
    EDTECH_TOKEN,
    FOR_RESEARCH,
    OPERATOR_ADMIN,
    SCHOOL_TOKEN,
    SKILL,
    PortalSpace,
    text_of,
)
from .test_ledger import tamper


@pytest.fixture
def space(start_node: Callable[..., RunningNode], tmp_path: Path) -> PortalSpace:
    return PortalSpace(start_node, tmp_path)


@pytest.fixture
def browsers() -> Iterator[Callable[..., httpx.Client]]:
    opened: list[httpx.Client] = []

    def open_browser(node: RunningNode, lang: str = "en") -> httpx.Client:
        opened.append(httpx.Client(base_url=node.url, timeout=20, headers={"Accept-Language": lang}))
        return opened[-1]

    yield open_browser
    for client in opened:
        client.close()


def assert_page(response: httpx.Response, status: int = 200) -> str:
    assert response.status_code == status, response.text[:3000]
    assert response.headers["content-type"].startswith("text/html"), "portal routes answer pages, not problem JSON"
    assert response.text.count("<h1") == 1
    assert response.headers["cache-control"] == "no-store" and "frame-ancestors 'none'" in response.headers["content-security-policy"]
    return text_of(response)


def csrf_of(response: httpx.Response) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', response.text)
    assert found, "every form carries a CSRF token"
    return found.group(1)


def sign_in(client: httpx.Client, token: str, next_url: str = "") -> httpx.Response:
    form = client.get("/portal/signin")
    data = {"token": token, "csrf": csrf_of(form)}
    if next_url:
        data["next"] = next_url
    return client.post("/portal/signin", data=data)


# -- the catalog -----------------------------------------------------------------------------


def test_the_catalog_lists_searches_and_filters_in_both_languages(space: PortalSpace, browsers: Callable[..., httpx.Client]) -> None:
    space.publish_school_catalog()
    reader = browsers(space.school)
    everything = assert_page(reader.get("/portal/catalog"))
    assert "Catalog of the data space" in everything and "Offerings 1 to 3 of 3." in everything
    for title in ("Learning traces of the 2025 cohort", "Dropout early warning", "Python for data analysis"):
        assert title in everything
    assert "offered by Lycée Victor Hugo" in everything
    assert '<a href="/me">Learners: your data</a>' in reader.get("/portal/catalog").text, "the learner's dashboard is one click away"
    assert "Learning traces (2)" in everything and "Early dropout detection (1)" in everything and "Training (1)" in everything

    searched = assert_page(reader.get("/portal/catalog", params={"q": "dropout"}))
    assert "Offerings 1 to 1 of 1." in searched and "Dropout early warning" in searched and "Python for data analysis" not in searched

    filtered = reader.get("/portal/catalog", params={"data_category": "learning_traces"})
    text = assert_page(filtered)
    assert "Offerings 1 to 2 of 2." in text and "Python for data analysis" not in text
    assert 'href="/portal/catalog" aria-current="true"' in filtered.text, "choosing a selected facet again removes it"
    both = assert_page(reader.get("/portal/catalog", params={"data_category": "learning_traces", "kind": "data_service"}))
    assert "Offerings 1 to 1 of 1." in both and "Dropout early warning" in both

    nothing = assert_page(reader.get("/portal/catalog", params={"q": "astronomy"}))
    assert "No offering matches this search." in nothing

    french = reader.get("/portal/catalog", params={"lang": "fr"})
    texte = assert_page(french)
    assert '<html lang="fr">' in french.text and "Catalogue de l'espace de données" in texte
    assert "Offres 1 à 3 sur 3." in texte and "proposé par Lycée Victor Hugo" in texte
    assert "Traces d'apprentissage (2)" in texte and "Détection précoce du décrochage (1)" in texte and "Formation (1)" in texte
    assert any(key == "set-cookie" and value.startswith("lang=fr;") and "Path=/portal" in value for key, value in french.headers.multi_items())
    assert "Catalogue de l'espace de données" in text_of(reader.get("/portal/catalog")), "the language chosen sticks"


def test_the_catalog_pages_through_long_results(space: PortalSpace, browsers: Callable[..., httpx.Client]) -> None:
    for n in range(12):
        space.publish(space.school, "school", SCHOOL_TOKEN, title=f"Weekly extract {n:02d}")
    reader = browsers(space.school)
    first = reader.get("/portal/catalog")
    text = assert_page(first)
    assert "Offerings 1 to 10 of 12." in text and "Page 1 of 2" in text and 'href="/portal/catalog?page=2" rel="next"' in first.text
    second = reader.get("/portal/catalog", params={"page": "2"})
    text = assert_page(second)
    assert "Offerings 11 to 12 of 12." in text and 'rel="prev"' in second.text and 'rel="next"' not in second.text
    titles = re.findall(r"Weekly extract \d\d", text_of(first) + text)
    assert sorted(titles) == [f"Weekly extract {n:02d}" for n in range(12)], "every offering on exactly one page"


def test_an_offering_page_says_what_it_is_and_on_which_terms(space: PortalSpace, browsers: Callable[..., httpx.Client]) -> None:
    published = space.publish_school_catalog()
    reader = browsers(space.school)
    catalog = reader.get("/portal/catalog")
    assert f'href="/portal/offerings/{published["dropout"]["id"]}"' in catalog.text

    service = assert_page(reader.get(f"/portal/offerings/{published['dropout']['id']}"))
    assert "Dropout early warning" in service and "Scores the risk that a pupil drops out" in service
    assert "Provider Lycée Victor Hugo" in service and space.school.did("school") in service
    assert "Data service" in service and "Learning traces" in service and "Assessment results" in service and "Early dropout detection" in service
    assert "Allowed: use the data, if the purpose is research." in service
    assert "HttpData-PULL" in service and "https://school.example/api/dropout" in service
    assert "Skills it teaches" not in service, "only trainings list skills"

    dataset = assert_page(reader.get(f"/portal/offerings/{published['traces']['id']}"))
    assert "Allowed: use the data, if the number of uses is at most 2." in dataset and "application/x-ndjson" in dataset

    course = reader.get(f"/portal/offerings/{published['course']['id']}")
    assert "Skills it teaches (ESCO)" in assert_page(course) and f'href="{SKILL}"' in course.text

    french = assert_page(reader.get(f"/portal/offerings/{published['dropout']['id']}", params={"lang": "fr"}))
    assert "Permis : utiliser les données, si la finalité est research." in french
    assert "Fournisseur Lycée Victor Hugo" in french and "Service de données" in french and "Comment l'obtenir" in french


def test_the_operators_portal_browses_the_whole_data_space(space: PortalSpace, browsers: Callable[..., httpx.Client]) -> None:
    published = space.publish_school_catalog()
    space.publish(space.edtech, "edtech", EDTECH_TOKEN, title="Adaptive maths exercises", kind="software_service",
                  data_categories=["learning_traces"], service_categories=["adaptive_learning"], policy=FOR_RESEARCH)
    with space.operator.client(headers=OPERATOR_ADMIN) as admin:
        crawled = admin.post("/catalog/federated/crawl")
    assert crawled.status_code == 200 and all(report["error"] is None for report in crawled.json()), crawled.text
    reader = browsers(space.operator)
    own = reader.get("/portal/catalog")
    assert "No offering matches this search." in assert_page(own), "the operator publishes nothing itself"
    assert 'href="/portal/catalog?scope=space"' in own.text

    whole = reader.get("/portal/catalog", params={"scope": "space"})
    text = assert_page(whole)
    assert "Offerings 1 to 4 of 4." in text and "offered by EdTech Numérique" in text and "offered by Lycée Victor Hugo" in text
    assert "Adaptive learning (1)" in text and 'href="/portal/catalog?scope=space&amp;kind=training"' in whole.text
    training = assert_page(reader.get("/portal/catalog", params={"scope": "space", "kind": "training"}))
    assert "Offerings 1 to 1 of 1." in training and "Python for data analysis" in training
    found = re.search(r'href="(/portal/space/offering\?[^"]+)">Dropout early warning', whole.text)
    assert found, whole.text

    detail = reader.get(unescape(found.group(1)))
    text = assert_page(detail)
    assert "Dropout early warning" in text and "Provider Lycée Victor Hugo" in text and space.school.did("school") in text
    assert "Allowed: use the data, if the purpose is research." in text and "HttpData-PULL application/x-ndjson JSON lines" in text and "iana.org" not in text
    assert f"{space.school.url}/participants/school/dsp" in text and "as read from its catalog on" in text
    assert published["dropout"]["id"] in text
    french = assert_page(reader.get(unescape(found.group(1)) + "&lang=fr"))
    assert "Permis : utiliser les données, si la finalité est research." in french and "Connecteur du fournisseur" in french

    assert "Le filtre « scope »" in assert_page(reader.get("/portal/catalog", params={"scope": "galaxy"}), 422)
    assert_page(reader.get("/portal/space/offering", params={"provider": space.school.did("school"), "id": "urn:uuid:nope"}), 404)
    assert_page(reader.get("/portal/space/offering"), 404)
    assert_page(browsers(space.school).get("/portal/catalog", params={"scope": "space"}), 404), "only the operator's node has it"


def test_a_retired_offering_still_has_its_page_saying_so(space: PortalSpace, browsers: Callable[..., httpx.Client]) -> None:
    published = space.publish(space.school, "school", SCHOOL_TOKEN)
    with space.school.client(headers={"Authorization": f"Bearer {SCHOOL_TOKEN}"}) as admin:
        assert admin.delete(f"/participants/school/offerings/{published['id']}").status_code == 200
    reader = browsers(space.school)
    assert "No offering matches this search." in assert_page(reader.get("/portal/catalog"))
    page = assert_page(reader.get(f"/portal/offerings/{published['id']}"))
    assert "This offering has been retired" in page and "Status Retired" in page


def test_bad_addresses_and_filters_are_4xx_pages_that_say_why(space: PortalSpace, browsers: Callable[..., httpx.Client]) -> None:
    reader = browsers(space.school)
    kind = assert_page(reader.get("/portal/catalog", params={"kind": "spaceship"}), 422)
    assert "The filter 'kind' has no such value" in kind
    category = assert_page(reader.get("/portal/catalog", params={"data_category": "x", "lang": "fr"}), 422)
    assert "Le filtre « data_category » n'a pas cette valeur" in category
    assert "at most 200 characters" in assert_page(reader.get("/portal/catalog", params={"q": "x" * 201}), 422)
    for page in ("0", "-1", "two", "1001"):
        assert_page(reader.get("/portal/catalog", params={"page": page}), 404)
    missing = assert_page(reader.get("/portal/offerings/urn:uuid:00000000-0000-0000-0000-000000000000"), 404)
    assert "This page does not exist" in missing and "Back to the catalog" in missing
    for bad_id in ("x" * 300, "%00", "urn:uuid:%00"):
        assert_page(reader.get(f"/portal/offerings/{bad_id}"), 404)
    for query in ("\x00", 'a"b', "NEAR(", "*", "-x", "💡"):
        assert_page(reader.get("/portal/catalog", params={"q": query}))
    assert "Page introuvable" in assert_page(reader.get("/portal/nowhere", params={"lang": "fr"}), 404)
    assert reader.get("/portal").headers["location"] == "/portal/catalog"


# -- the members' pages ----------------------------------------------------------------------


def test_member_pages_need_the_node_operator(space: PortalSpace, browsers: Callable[..., httpx.Client]) -> None:
    anonymous = browsers(space.school)
    for path in ("/portal/members", "/portal/members/school/contracts", "/portal/members/school/ledger?page=1", "/portal/members/nobody/ledger"):
        response = anonymous.get(path)
        assert response.status_code == 303, path
        assert response.headers["location"].startswith("/portal/signin?next=%2Fportal%2Fmembers"), "anonymous readers are sent to sign in, and learn nothing"

    form = anonymous.get("/portal/signin")
    assert_page(form)
    assert 'type="password"' in form.text and 'name="token"' in form.text and SCHOOL_TOKEN not in form.text

    wrong = sign_in(anonymous, EDTECH_TOKEN)
    assert "This is not the admin token of this node." in assert_page(wrong, 401), "another member's token opens nothing here"
    assert portal_sessions.SESSION_COOKIE not in anonymous.cookies
    assert "Enter the admin token." in assert_page(sign_in(anonymous, ""), 422)
    no_csrf = anonymous.post("/portal/signin", data={"token": SCHOOL_TOKEN})
    assert_page(no_csrf, 403)
    assert portal_sessions.SESSION_COOKIE not in anonymous.cookies

    signed = sign_in(anonymous, SCHOOL_TOKEN, next_url="/portal/members/school/ledger")
    assert signed.status_code == 303 and signed.headers["location"] == "/portal/members/school/ledger"
    cookie = next(value for key, value in signed.headers.multi_items() if key == "set-cookie" and value.startswith("dases_portal="))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/portal" in cookie and "Max-Age" not in cookie
    assert SCHOOL_TOKEN not in cookie and SCHOOL_TOKEN not in signed.headers["location"], "the token never goes back to the browser"
    members = assert_page(anonymous.get("/portal/members"))
    assert "Lycée Victor Hugo" in members and "Signed in as the node's operator" in members
    assert_page(anonymous.get("/portal/members/edtech/contracts"), 404), "a participant of another node has no page here"
    assert_page(anonymous.get("/portal/members/Not_A_Slug/ledger"), 404)
    assert_page(anonymous.get("/portal/members/sch%00ool/contracts"), 404)
    french = browsers(space.school, "fr")
    assert "Connexion à l'espace membres" in assert_page(french.get("/portal/signin"))
    sign_in(french, SCHOOL_TOKEN)
    organismes = assert_page(french.get("/portal/members"))
    assert "Organismes hébergés sur ce nœud" in organismes and "Connecté comme opérateur du nœud" in organismes
    assert "Registre de Lycée Victor Hugo" in assert_page(french.get("/portal/members/school/ledger"))
    assert "Aucun contrat n'a encore été négocié." in assert_page(french.get("/portal/members/school/contracts"))
    for target in ("https://evil.example/portal/members", "//evil.example", "/me", "/portal/membersx"):
        other = browsers(space.school)
        assert sign_in(other, SCHOOL_TOKEN, next_url=target).headers["location"] == "/portal/members", target


def test_failed_sign_ins_lock_the_form_for_a_minute_even_for_the_right_token(space: PortalSpace, browsers: Callable[..., httpx.Client]) -> None:
    client = browsers(space.school)
    for _ in range(sessions.MAX_FAILURES):
        assert_page(sign_in(client, "a guess"), 401)
    refused = sign_in(client, SCHOOL_TOKEN)
    assert "Too many failed attempts" in assert_page(refused, 429) and "Try again in" in text_of(refused)
    assert 0 < int(refused.headers["retry-after"]) <= 60 and portal_sessions.SESSION_COOKIE not in client.cookies
    learner = browsers(space.school)
    assert learner.get("/me/signin").status_code == 200, "the dashboard's sign-in is not locked with it"


def test_another_members_session_opens_nothing_here(space: PortalSpace, browsers: Callable[..., httpx.Client]) -> None:
    edtech = browsers(space.edtech)
    assert sign_in(edtech, EDTECH_TOKEN).status_code == 303
    assert edtech.get("/portal/members/edtech/contracts").status_code == 200
    stolen = edtech.cookies[portal_sessions.SESSION_COOKIE]
    with httpx.Client(base_url=space.school.url, cookies={portal_sessions.SESSION_COOKIE: stolen}) as school:
        response = school.get("/portal/members/school/contracts")
        assert response.status_code == 303 and response.headers["location"].startswith("/portal/signin")
    forged = stolen.rsplit(".", 1)[0] + "." + "0" * 64
    with httpx.Client(base_url=space.edtech.url, cookies={portal_sessions.SESSION_COOKIE: forged}) as client:
        assert client.get("/portal/members").status_code == 303, "a cookie whose MAC does not check opens nothing"


def test_signing_out_closes_the_members_pages(space: PortalSpace, browsers: Callable[..., httpx.Client]) -> None:
    client = browsers(space.school)
    sign_in(client, SCHOOL_TOKEN)
    members = client.get("/portal/members")
    assert_page(client.post("/portal/signout", data={"csrf": "not-the-token"}), 403)
    assert client.get("/portal/members").status_code == 200, "a forged sign-out does nothing"
    out = client.post("/portal/signout", data={"csrf": csrf_of(members)})
    assert out.status_code == 303 and out.headers["location"] == "/portal/signin?done=signed_out"
    assert portal_sessions.SESSION_COOKIE not in client.cookies
    assert client.get("/portal/members").status_code == 303
    assert "You are signed out." in assert_page(client.get("/portal/signin?done=signed_out"))


def test_a_member_sees_its_contracts_with_counterpart_offering_and_status(space: PortalSpace, browsers: Callable[..., httpx.Client]) -> None:
    exchange = space.contract_and_transfer()
    school = browsers(space.school)
    sign_in(school, SCHOOL_TOKEN)
    contracts = school.get("/portal/members/school/contracts")
    text = assert_page(contracts)
    assert "Contracts of Lycée Victor Hugo" in text and "1 negotiations in all." in text
    assert f'href="/portal/offerings/{exchange["offering"]["id"]}">Cohort 2025 scores</a>' in contracts.text
    assert space.edtech.did("edtech") in text and "We provide" in text and "Signed by both parties" in text
    assert exchange["agreement"]["@id"] in text
    signed_on = exchange["agreement"]["timestamp"][:10]
    assert re.search(r"Signed by both parties.*\d+ \w+ 20\d\d at \d\d:\d\d UTC", text), text
    assert signed_on[:4] in text

    edtech = browsers(space.edtech, "fr")
    sign_in(edtech, EDTECH_TOKEN)
    theirs = assert_page(edtech.get("/portal/members/edtech/contracts"))
    assert "Contrats de EdTech Numérique" in theirs and "Nous utilisons" in theirs and "Signé par les deux parties" in theirs
    assert exchange["offering"]["id"] in theirs and space.school.did("school") in theirs
    assert_page(school.get("/portal/members/school/contracts", params={"page": "2"}), 404)


def test_a_members_ledger_is_shown_newest_first_paged_and_verified(space: PortalSpace, browsers: Callable[..., httpx.Client]) -> None:
    exchange = space.contract_and_transfer()
    db = space.school.node.db
    with db.transaction() as session:
        transfers = len(ledger.entries(session, "school"))
        assert transfers >= 2, "the real transfer was recorded"
        for n in range(25 - transfers):
            ledger.append(session, space.school.node.sealer, "school", "consent.checked", {"transfer_id": f"check-{n}", "allowed": True})
    client = browsers(space.school)
    sign_in(client, SCHOOL_TOKEN)
    first = client.get("/portal/members/school/ledger")
    text = assert_page(first)
    assert "Chain verified: the 25 entries are intact, in order, and their signatures check out." in text
    seqs = [int(n) for n in re.findall(r'<tr id="entry-(\d+)">', first.text)]
    assert seqs == list(range(25, 5, -1)), "newest first, 20 a page"
    assert "Page 1, 25 entries in all" in text and 'href="?page=2" rel="next">Older entries' in first.text
    second = client.get("/portal/members/school/ledger", params={"page": "2"})
    assert [int(n) for n in re.findall(r'<tr id="entry-(\d+)">', second.text)] == [5, 4, 3, 2, 1]
    older = text_of(second)
    assert "Transfer started" in older and "Transfer completed" in older and exchange["agreement"]["@id"] in older
    assert_page(client.get("/portal/members/school/ledger", params={"page": "3"}), 404)

    french = assert_page(client.get("/portal/members/school/ledger", params={"page": "2", "lang": "fr"}))
    assert "Chaîne vérifiée : les 25 entrées sont intactes" in french and "Transfert terminé" in french

    tamper(db, "UPDATE ledger_entry SET kind = 'transfer.terminated' WHERE participant_slug = 'school' AND seq = 3")
    broken = client.get("/portal/members/school/ledger", params={"lang": "en"})
    text = assert_page(broken)
    assert "The chain is broken after entry 2: entry 3 does not match its hash (edited or moved)" in text
    assert "Chain verified" not in text


# -- governance ------------------------------------------------------------------------------


def test_governance_shows_proposals_results_and_rule_versions(space: PortalSpace, browsers: Callable[..., httpx.Client]) -> None:
    ids = space.governance_history()
    reader = browsers(space.operator)
    page = reader.get("/portal/governance")
    text = assert_page(page)
    assert "Governance of the data space" in text and "General assembly (2 member organisations)" in text
    rejected = text_of(re.search(rf'<article[^>]*id="proposal-{ids["rejected"]}".*?</article>', page.text, re.DOTALL).group(0))
    assert "Status: Rejected" in rejected and "0 yes, 2 no, 0 abstaining: 2 of 2 members voted" in rejected and "majority not reached" in rejected
    adopted = text_of(re.search(rf'<article[^>]*id="proposal-{ids["v2"]}".*?</article>', page.text, re.DOTALL).group(0))
    assert "Status: Adopted" in adopted and "Rule data-retention is now in force, version 2." in adopted
    still_open = text_of(re.search(rf'<article[^>]*id="proposal-{ids["open"]}".*?</article>', page.text, re.DOTALL).group(0))
    assert "Status: Vote open" in still_open and "Result" not in still_open, "no result while the window is open"
    rule = text_of(re.search(r'<article class="rule" id="rule-data-retention".*?</article>', page.text, re.DOTALL).group(0))
    assert "data-retention , version 2" in rule and "Learning traces are kept at most 2 years." in rule
    assert "Earlier versions" in rule and "version 1" in rule and "Learning traces are kept at most 3 years." in rule
    assert "kept 10 years" not in rule, "a rejected proposal changes no rule"

    french = assert_page(reader.get("/portal/governance", params={"lang": "fr"}))
    assert "Gouvernance de l'espace de données" in french and "Rejetée" in french and "Adoptée" in french and "Vote ouvert" in french
    assert "La règle data-retention est en vigueur, version 2." in french

    elsewhere = assert_page(browsers(space.school).get("/portal/governance"))
    assert "This node does not host the governance authority" in elsewhere


def test_a_portal_session_ends_after_eight_hours_and_when_the_admin_token_changes(tmp_path: Path) -> None:
    def settings(token: str | None) -> Settings:
        return Settings(data_dir=tmp_path, node_secret="portal-session-secret-0123456789", admin_token=token)

    now = utcnow()
    cookie = portal_sessions.open_session(settings(SCHOOL_TOKEN), now)
    assert portal_sessions.is_live(settings(SCHOOL_TOKEN), cookie, now + timedelta(hours=7, minutes=59))
    assert not portal_sessions.is_live(settings(SCHOOL_TOKEN), cookie, now + portal_sessions.MAX_AGE), "8 hours at most"
    assert not portal_sessions.is_live(settings(SCHOOL_TOKEN), cookie, now - timedelta(minutes=5)), "not issued in the future"
    assert not portal_sessions.is_live(settings(EDTECH_TOKEN), cookie, now), "a new admin token ends every session"
    assert not portal_sessions.is_live(settings(None), cookie, now), "no admin token, no members' area"
    other_node = Settings(data_dir=tmp_path, node_secret="another-node-secret-0123456789", admin_token=SCHOOL_TOKEN)
    assert not portal_sessions.is_live(other_node, cookie, now), "even with the same token, another node's secret"
    issued = cookie.split(".")[1]
    assert not portal_sessions.is_live(settings(SCHOOL_TOKEN), cookie.replace(f".{issued}.", f".{int(issued) + 3600}.", 1), now)
    assert SCHOOL_TOKEN not in cookie
