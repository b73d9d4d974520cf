"""The Statements resource as an LRS client sees it: store, conflict, void, query, page, shape."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from dases.lrs.app import create_lrs_app
from dases.settings import Settings

VERSION = {"X-Experience-API-Version": "1.0.3"}
EXPERIENCED = "http://adlnet.gov/expapi/verbs/experienced"
VOIDED = "http://adlnet.gov/expapi/verbs/voided"


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def agent(name: str) -> dict[str, Any]:
    return {"objectType": "Agent", "name": name, "mbox": f"mailto:{name}@example.org"}


def statement(actor: str = "ada", verb: str = EXPERIENCED, activity: str = "http://example.org/course/1", **extra: Any) -> dict[str, Any]:
    return {"actor": agent(actor), "verb": {"id": verb, "display": {"en-US": verb.rsplit("/", 1)[-1]}}, "object": {"id": activity}, **extra}


@pytest.fixture
def lrs(tmp_path: Path, database_url: str) -> Iterator[TestClient]:
    settings = Settings(data_dir=tmp_path / "lrs", database_url=database_url, lrs_basic_auth="lrs-user:lrs-secret-0123", node_secret="test-secret-0123456789abcdef")
    with TestClient(create_lrs_app(settings), headers={**VERSION, **basic("lrs-user", "lrs-secret-0123")}) as client:
        yield client


def post(client: TestClient, body: Any, **headers: str) -> Any:
    response = client.post("/xapi/statements", json=body, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def fetch_all(client: TestClient, **params: Any) -> list[dict[str, Any]]:
    """Every page of a query, following `more` links as a client would."""
    response = client.get("/xapi/statements", params=params)
    assert response.status_code == 200, response.text
    page = response.json()
    found = page["statements"]
    while page["more"]:
        response = client.get(page["more"])
        assert response.status_code == 200, response.text
        page = response.json()
        found.extend(page["statements"])
    return found


def test_a_posted_statement_comes_back_with_what_the_lrs_adds(lrs: TestClient) -> None:
    [statement_id] = post(lrs, statement())
    response = lrs.get("/xapi/statements", params={"statementId": statement_id})
    assert response.status_code == 200
    assert response.headers["X-Experience-API-Version"] == "1.0.3"
    assert "X-Experience-API-Consistent-Through" in response.headers
    assert "Last-Modified" in response.headers
    stored = response.json()
    assert stored["id"] == statement_id
    assert stored["actor"]["mbox"] == "mailto:ada@example.org"
    assert stored["stored"].endswith("Z") and stored["timestamp"] == stored["stored"]
    assert stored["authority"]["objectType"] == "Agent"
    assert stored["version"] == "1.0.0"


def test_extension_values_come_back_exactly_as_sent(lrs: TestClient) -> None:
    """Stored text is written by a fast JSON writer; values it cannot write (an integer beyond 64
    bits) must still come back unchanged, not rounded to a float or refused."""
    extensions = {
        "http://example.org/ext/big": 123456789012345678901234567890,
        "http://example.org/ext/small": -(2**63),
        "http://example.org/ext/text": "Élève — 学习 ✓",
        "http://example.org/ext/float": 0.1,
    }
    [statement_id] = post(lrs, statement(result={"extensions": extensions}))
    response = lrs.get("/xapi/statements", params={"statementId": statement_id})
    assert response.status_code == 200
    assert json.loads(response.text)["result"]["extensions"] == extensions
    assert "123456789012345678901234567890" in response.text


def test_every_response_names_the_version_it_speaks(lrs: TestClient) -> None:
    assert lrs.get("/xapi/statements", headers={"X-Experience-API-Version": "2.0.0"}).headers["X-Experience-API-Version"] == "2.0.0"
    refused = lrs.get("/xapi/statements", headers={"X-Experience-API-Version": "0.95"})
    assert refused.status_code == 400 and "0.95" in refused.json()["detail"]
    assert refused.headers["X-Experience-API-Version"] == "1.0.3"
    about = lrs.get("/xapi/about", headers={"Authorization": ""})
    assert about.status_code == 200 and {"1.0.3", "2.0.0"} <= set(about.json()["version"])


def test_put_is_idempotent_and_statements_are_immutable(lrs: TestClient) -> None:
    statement_id = str(uuid.uuid4())
    assert lrs.put("/xapi/statements", params={"statementId": statement_id}, json=statement()).status_code == 204
    assert lrs.put("/xapi/statements", params={"statementId": statement_id}, json=statement()).status_code == 204
    changed = lrs.put("/xapi/statements", params={"statementId": statement_id}, json=statement(actor="mallory"))
    assert changed.status_code == 409
    kept = lrs.get("/xapi/statements", params={"statementId": statement_id}).json()
    assert kept["actor"]["name"] == "ada"
    mismatched = lrs.put("/xapi/statements", params={"statementId": str(uuid.uuid4())}, json={**statement(), "id": statement_id})
    assert mismatched.status_code == 400


def test_a_batch_with_one_invalid_statement_stores_nothing(lrs: TestClient) -> None:
    good = {**statement(), "id": str(uuid.uuid4())}
    bad = statement()
    bad["verb"] = {"id": "not an iri"}
    response = lrs.post("/xapi/statements", json=[good, bad])
    assert response.status_code == 400
    assert "statements[1].verb.id" in json.dumps(response.json())
    assert lrs.get("/xapi/statements", params={"statementId": good["id"]}).status_code == 404


def test_voided_statements_leave_queries_but_stay_reachable_by_voided_id(lrs: TestClient) -> None:
    [target, other] = post(lrs, [statement(), statement(actor="bob")])
    [voider] = post(lrs, statement(verb=VOIDED, object={"objectType": "StatementRef", "id": target}))
    assert lrs.get("/xapi/statements", params={"statementId": target}).status_code == 404
    assert lrs.get("/xapi/statements", params={"voidedStatementId": target}).json()["id"] == target
    assert lrs.get("/xapi/statements", params={"voidedStatementId": other}).status_code == 404
    ids = {found["id"] for found in fetch_all(lrs)}
    assert ids == {other, voider}
    again = lrs.post("/xapi/statements", json=statement(verb=VOIDED, object={"objectType": "StatementRef", "id": voider}))
    assert again.status_code == 400


def test_filters_select_exactly_the_matching_statements(lrs: TestClient) -> None:
    registration = str(uuid.uuid4())
    context = {"registration": registration, "contextActivities": {"parent": {"id": "http://example.org/programme"}}, "instructor": agent("teacher")}
    ada_course = post(lrs, [statement("ada", context=context), statement("ada", activity="http://example.org/course/2")])
    bob = post(lrs, [statement("bob", verb="http://adlnet.gov/expapi/verbs/completed")])
    ada_agent = json.dumps(agent("ada"))
    assert {s["id"] for s in fetch_all(lrs, agent=ada_agent)} == set(ada_course)
    assert {s["id"] for s in fetch_all(lrs, verb="http://adlnet.gov/expapi/verbs/completed")} == set(bob)
    assert {s["id"] for s in fetch_all(lrs, activity="http://example.org/course/1")} == {ada_course[0], bob[0]}
    assert fetch_all(lrs, activity="http://example.org/programme") == []
    assert {s["id"] for s in fetch_all(lrs, activity="http://example.org/programme", related_activities="true")} == {ada_course[0]}
    assert fetch_all(lrs, agent=json.dumps(agent("teacher"))) == []
    assert {s["id"] for s in fetch_all(lrs, agent=json.dumps(agent("teacher")), related_agents="true")} == {ada_course[0]}
    assert {s["id"] for s in fetch_all(lrs, registration=registration)} == {ada_course[0]}
    # the `registration` of the context is normalised: a single parent activity becomes a list
    stored = lrs.get("/xapi/statements", params={"statementId": ada_course[0]}).json()
    assert stored["context"]["contextActivities"]["parent"] == [{"id": "http://example.org/programme"}]


def test_since_and_until_cut_on_stored_time(lrs: TestClient) -> None:
    first = post(lrs, statement())
    between = lrs.get("/xapi/statements", params={"statementId": first[0]}).json()["stored"]
    time.sleep(0.01)
    second = post(lrs, statement())
    assert [s["id"] for s in fetch_all(lrs, since=between)] == second
    assert [s["id"] for s in fetch_all(lrs, until=between)] == first


def test_pages_follow_more_links_without_loss_or_repeat_in_both_orders(lrs: TestClient) -> None:
    ids = post(lrs, [statement(actor=f"learner{n}") for n in range(25)])
    newest_first = [s["id"] for s in fetch_all(lrs, limit=7)]
    assert newest_first == list(reversed(ids))
    assert [s["id"] for s in fetch_all(lrs, limit=7, ascending="true")] == ids
    page = lrs.get("/xapi/statements", params={"limit": 25}).json()
    assert len(page["statements"]) == 25 and page["more"] == ""


def test_formats_ids_and_canonical(lrs: TestClient) -> None:
    activity = "http://example.org/course/fr"
    post(lrs, statement(object={"id": activity, "definition": {"name": {"en-US": "Course", "fr-FR": "Cours"}}}))
    post(lrs, statement(object={"id": activity}))
    ids_form = fetch_all(lrs, format="ids")
    assert all(s["actor"] == {"objectType": "Agent", "mbox": "mailto:ada@example.org"} for s in ids_form)
    assert all(s["object"] == {"id": activity} for s in ids_form)
    canonical = lrs.get("/xapi/statements", params={"format": "canonical"}, headers={"Accept-Language": "fr-FR, en;q=0.5"}).json()
    assert [s["object"]["definition"]["name"] for s in canonical["statements"]] == [{"fr-FR": "Cours"}] * 2
    assert lrs.get("/xapi/statements", params={"format": "pretty"}).status_code == 400


def test_bad_query_parameters_get_a_400_naming_them(lrs: TestClient) -> None:
    cases = {
        "colour": "blue",
        "agent": "{not json",
        "since": "yesterday",
        "limit": "-1",
        "registration": "nope",
        "ascending": "maybe",
    }
    for name, value in cases.items():
        response = lrs.get("/xapi/statements", params={name: value})
        assert response.status_code == 400, name
        assert name in response.json()["detail"], name
    both = lrs.get("/xapi/statements", params={"statementId": str(uuid.uuid4()), "verb": EXPERIENCED})
    assert both.status_code == 400


def test_credentials_are_checked_before_anything_else(lrs: TestClient) -> None:
    assert lrs.get("/xapi/statements", headers={"Authorization": ""}).status_code == 401
    wrong = lrs.get("/xapi/statements", headers=basic("lrs-user", "guess"))
    assert wrong.status_code == 401 and "guess" not in wrong.text
    assert lrs.get("/xapi/statements", headers={"X-Experience-API-Version": ""}).status_code == 400


def test_alternate_request_syntax_of_1_0_3(lrs: TestClient) -> None:
    [statement_id] = post(lrs, statement())
    form = {"statementId": statement_id, "X-Experience-API-Version": "1.0.3", **basic("lrs-user", "lrs-secret-0123")}
    response = lrs.post("/xapi/statements", params={"method": "GET"}, data=form, headers={"Authorization": "", "X-Experience-API-Version": ""})
    assert response.status_code == 200, response.text
    assert response.json()["id"] == statement_id
    new_id = str(uuid.uuid4())
    put = lrs.post("/xapi/statements", params={"method": "PUT"}, data={"statementId": new_id, "content": json.dumps(statement())})
    assert put.status_code == 204
    assert lrs.get("/xapi/statements", params={"statementId": new_id}).status_code == 200
    extra = lrs.post("/xapi/statements", params={"method": "GET", "statementId": statement_id}, data={})
    assert extra.status_code == 400
    in_2_0 = lrs.post("/xapi/statements", params={"method": "GET"}, data={}, headers={"X-Experience-API-Version": "2.0.0"})
    assert in_2_0.status_code == 400


def test_keys_carry_scopes_and_belong_to_one_store(start_node: Callable[..., Any]) -> None:
    from dases.lrs.deps import create_credential

    running = start_node()
    running.add_participant("school")
    running.add_participant("edtech")
    with running.node.db.transaction() as session:
        writer = create_credential(session, "school", "tracker", ["statements/write"])
        reader = create_credential(session, "school", "connector", ["statements/read"])
        other = create_credential(session, "edtech", "tracker", ["all"])
    with running.client(headers=VERSION) as client:
        school = "/participants/school/xapi/statements"
        assert client.post(school, json=statement(), headers=basic(*writer)).status_code == 200
        assert client.get(school, headers=basic(*writer)).status_code == 403
        assert len(client.get(school, headers=basic(*reader)).json()["statements"]) == 1
        assert client.post(school, json=statement(), headers=basic(*reader)).status_code == 403
        assert client.get(school, headers=basic(*other)).status_code == 403
        mine = client.get("/participants/edtech/xapi/statements", headers=basic(*other))
        assert mine.status_code == 200 and mine.json()["statements"] == []
        # only keys with `define` shape the canonical definition of an activity
        defined = {"id": "http://example.org/course/9", "definition": {"name": {"en": "Algebra"}}}
        assert client.post(school, json=statement(object=defined), headers=basic(*writer)).status_code == 200
        activities = "/participants/school/xapi/activities"
        assert "definition" not in client.get(activities, params={"activityId": defined["id"]}, headers=basic(*reader)).json()
        with running.node.db.transaction() as session:
            definer = create_credential(session, "school", "catalogue", ["statements/write", "define"])
        assert client.post(school, json=statement(object=defined), headers=basic(*definer)).status_code == 200
        canonical = client.get(activities, params={"activityId": defined["id"]}, headers=basic(*reader)).json()
        assert canonical["definition"]["name"] == {"en": "Algebra"}
