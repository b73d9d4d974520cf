"""xAPI document resources (State, Activity Profile, Agent Profile) and the Activities and Agents
resources of the standalone LRS, as a client sees them, on the backend CI selects."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from dases.db import Database
from dases.errors import NotFound
from dases.lrs import documents
from dases.lrs.documents import STATE, DocumentKey
from dases.lrs.models import Activity, Statement
from dases.settings import Settings

ACTIVITY = "http://www.example.com/activities/course-1"
AGENT = {"objectType": "Agent", "name": "Ada", "account": {"homePage": "http://www.example.com", "name": "ada"}}
OTHER_AGENT = {"objectType": "Agent", "mbox": "mailto:grace@example.com"}


def auth(version: str = "2.0.0", **extra: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(b"u:p").decode(), "X-Experience-API-Version": version, **extra}


def state(**overrides: Any) -> dict[str, str]:
    params: dict[str, Any] = {"activityId": ACTIVITY, "agent": AGENT, "stateId": "bookmark"}
    params.update(overrides)
    return {name: json.dumps(value) if isinstance(value, dict) else value for name, value in params.items() if value is not None}


def agent_profile(profile_id: str = "prefs", agent: dict[str, Any] = AGENT) -> dict[str, str]:
    return {"agent": json.dumps(agent), "profileId": profile_id}


def activity_profile(profile_id: str = "settings", activity: str = ACTIVITY) -> dict[str, str]:
    return {"activityId": activity, "profileId": profile_id}


@pytest.fixture
def client(tmp_path: Path, make_database_url: Callable[[], str]) -> Iterator[TestClient]:
    from dases.lrs.app import create_lrs_app

    settings = Settings(data_dir=tmp_path / "lrs", database_url=make_database_url(), lrs_basic_auth="u:p", node_secret="test-node-secret-0123456789")  # type: ignore[arg-type]
    with TestClient(create_lrs_app(settings)) as test_client:
        yield test_client


def problem_field(response: Any) -> str:
    assert response.status_code == 400, response.text
    return response.json()["errors"][0]["field"]


# -- documents round trip ------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["1.0.3", "2.0.0"])
def test_state_round_trip_keeps_bytes_and_content_type(client: TestClient, version: str) -> None:
    body = b"name,score\nada,0.9\n"
    put = client.put("/xapi/activities/state", params=state(), content=body, headers=auth(version, **{"Content-Type": "text/csv"}))
    assert put.status_code == 204, put.text

    got = client.get("/xapi/activities/state", params=state(), headers=auth(version))
    assert got.status_code == 200
    assert got.content == body
    assert got.headers["content-type"] == "text/csv"
    assert got.headers["etag"] == f'"{hashlib.sha1(body).hexdigest()}"'
    assert parsedate_to_datetime(got.headers["last-modified"]) <= datetime.now(UTC)

    head = client.head("/xapi/activities/state", params=state(), headers=auth(version))
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["etag"] == got.headers["etag"]
    assert head.headers["content-length"] == str(len(body))

    assert client.delete("/xapi/activities/state", params=state(), headers=auth(version)).status_code == 204
    assert client.get("/xapi/activities/state", params=state(), headers=auth(version)).status_code == 404
    # deleting what is not there is no error
    assert client.delete("/xapi/activities/state", params=state(), headers=auth(version)).status_code == 204


def test_agent_and_activity_profiles_round_trip(client: TestClient) -> None:
    created = client.put("/xapi/agents/profile", params=agent_profile(), json={"theme": "dark"}, headers=auth(**{"If-None-Match": "*"}))
    assert created.status_code == 204, created.text
    assert client.get("/xapi/agents/profile", params=agent_profile(), headers=auth()).json() == {"theme": "dark"}
    # the same agent, sent with other JSON around its identifier, finds the same profile
    same_agent = {"account": {"name": "ada", "homePage": "http://www.example.com"}}
    assert client.get("/xapi/agents/profile", params=agent_profile(agent=same_agent), headers=auth()).json() == {"theme": "dark"}

    image = bytes(range(256))
    put = client.put("/xapi/activities/profile", params=activity_profile("logo"), content=image, headers=auth(**{"Content-Type": "image/png"}))
    assert put.status_code == 204, put.text
    got = client.get("/xapi/activities/profile", params=activity_profile("logo"), headers=auth())
    assert (got.content, got.headers["content-type"]) == (image, "image/png")


# -- POST merges ---------------------------------------------------------------------------------


def test_post_merges_json_objects_one_level_deep(client: TestClient) -> None:
    params = activity_profile()
    first = {"car": {"make": "Ford", "model": "Escape"}, "driver": "Dale"}
    assert client.post("/xapi/activities/profile", params=params, json=first, headers=auth()).status_code == 204
    second = {"car": {"make": "Dodge"}, "series": "nextel"}
    assert client.post("/xapi/activities/profile", params=params, json=second, headers=auth()).status_code == 204
    got = client.get("/xapi/activities/profile", params=params, headers=auth())
    assert got.json() == {"car": {"make": "Dodge"}, "driver": "Dale", "series": "nextel"}
    assert got.headers["content-type"] == "application/json"


@pytest.mark.parametrize("version", ["1.0.3", "2.0.0"])
def test_post_refuses_what_cannot_be_merged_and_changes_nothing(client: TestClient, version: str) -> None:
    text_state = state(stateId="notes")
    client.put("/xapi/activities/state", params=text_state, content=b"plain notes", headers=auth(version, **{"Content-Type": "text/plain"}))
    onto_text = client.post("/xapi/activities/state", params=text_state, json={"a": 1}, headers=auth(version))
    assert onto_text.status_code == 400
    assert "not JSON" in onto_text.json()["detail"]
    assert client.get("/xapi/activities/state", params=text_state, headers=auth(version)).content == b"plain notes"

    json_state = state(stateId="progress")
    client.post("/xapi/activities/state", params=json_state, json={"page": 3}, headers=auth(version))
    not_json = client.post("/xapi/activities/state", params=json_state, content=b"abc", headers=auth(version, **{"Content-Type": "text/plain"}))
    assert not_json.status_code == 400
    broken = client.post("/xapi/activities/state", params=json_state, content=b'{"page": 4', headers=auth(version, **{"Content-Type": "application/json"}))
    assert broken.status_code == 400
    array = client.post("/xapi/activities/state", params=json_state, json=[1, 2], headers=auth(version))
    assert array.status_code == 400
    assert client.get("/xapi/activities/state", params=json_state, headers=auth(version)).json() == {"page": 3}


# -- concurrency ---------------------------------------------------------------------------------


def test_if_match_and_if_none_match_guard_every_write(client: TestClient) -> None:
    params = agent_profile("guarded")
    assert client.put("/xapi/agents/profile", params=params, json={"v": 1}, headers=auth(**{"If-None-Match": "*"})).status_code == 204
    etag = client.get("/xapi/agents/profile", params=params, headers=auth()).headers["etag"]
    wrong = '"1111111111111111111111111111111111111111"'

    exists = client.put("/xapi/agents/profile", params=params, json={"v": 2}, headers=auth(**{"If-None-Match": "*"}))
    assert exists.status_code == 412
    assert exists.json()["type"].endswith("precondition-failed")
    assert client.put("/xapi/agents/profile", params=params, json={"v": 2}, headers=auth(**{"If-Match": wrong})).status_code == 412
    assert client.post("/xapi/agents/profile", params=params, json={"v": 2}, headers=auth(**{"If-Match": wrong})).status_code == 412
    assert client.delete("/xapi/agents/profile", params=params, headers=auth(**{"If-Match": wrong})).status_code == 412
    assert client.get("/xapi/agents/profile", params=params, headers=auth()).json() == {"v": 1}

    replaced = client.put("/xapi/agents/profile", params=params, json={"v": 2}, headers=auth(**{"If-Match": etag}))
    assert replaced.status_code == 204
    new_etag = replaced.headers["etag"]
    assert new_etag != etag
    assert client.get("/xapi/agents/profile", params=params, headers=auth()).headers["etag"] == new_etag
    assert client.delete("/xapi/agents/profile", params=params, headers=auth(**{"If-Match": new_etag})).status_code == 204
    # If-Match on a document that is gone
    assert client.put("/xapi/agents/profile", params=params, json={"v": 3}, headers=auth(**{"If-Match": new_etag})).status_code == 412


@pytest.mark.parametrize("version", ["1.0.3", "2.0.0"])
def test_put_without_etag_headers_never_overwrites_a_profile(client: TestClient, version: str) -> None:
    params = activity_profile("unguarded-" + version)
    client.post("/xapi/activities/profile", params=params, json={"v": 1}, headers=auth(version))
    conflict = client.put("/xapi/activities/profile", params=params, json={"v": 2}, headers=auth(version))
    assert conflict.status_code == 409
    assert "If-Match" in conflict.json()["detail"]
    assert client.get("/xapi/activities/profile", params=params, headers=auth(version)).json() == {"v": 1}


def test_creating_a_profile_by_put_needs_if_none_match_in_1_0_3_only(client: TestClient) -> None:
    old = client.put("/xapi/agents/profile", params=agent_profile("new-103"), json={"v": 1}, headers=auth("1.0.3"))
    assert old.status_code == 400
    assert client.get("/xapi/agents/profile", params=agent_profile("new-103"), headers=auth("1.0.3")).status_code == 404
    assert client.put("/xapi/agents/profile", params=agent_profile("new-200"), json={"v": 1}, headers=auth("2.0.0")).status_code == 204


def test_state_put_overwrites_freely_in_1_0_3_and_needs_if_match_in_2_0(client: TestClient) -> None:
    params = state(stateId="overwrite")
    assert client.put("/xapi/activities/state", params=params, json={"v": 1}, headers=auth("1.0.3")).status_code == 204
    assert client.put("/xapi/activities/state", params=params, json={"v": 2}, headers=auth("1.0.3")).status_code == 204
    assert client.put("/xapi/activities/state", params=params, json={"v": 3}, headers=auth("2.0.0")).status_code == 409
    etag = client.get("/xapi/activities/state", params=params, headers=auth("2.0.0")).headers["etag"]
    assert client.put("/xapi/activities/state", params=params, json={"v": 3}, headers=auth("2.0.0", **{"If-Match": etag})).status_code == 204
    assert client.get("/xapi/activities/state", params=params, headers=auth("2.0.0")).json() == {"v": 3}


# -- listing and deleting many -------------------------------------------------------------------


def test_listing_ids_honours_since(client: TestClient) -> None:
    activity = f"{ACTIVITY}/listing"
    for state_id in ("a", "b"):
        client.post("/xapi/activities/state", params=state(activityId=activity, stateId=state_id), json={"x": 1}, headers=auth())
    listed = client.get("/xapi/activities/state", params=state(activityId=activity, stateId=None), headers=auth())
    assert listed.status_code == 200
    assert sorted(listed.json()) == ["a", "b"]

    time.sleep(0.01)
    boundary = datetime.now(UTC)
    time.sleep(0.01)
    client.post("/xapi/activities/state", params=state(activityId=activity, stateId="b"), json={"x": 2}, headers=auth())
    client.post("/xapi/activities/state", params=state(activityId=activity, stateId="c"), json={"x": 3}, headers=auth())
    since = boundary.isoformat().replace("+00:00", "Z")
    recent = client.get("/xapi/activities/state", params=state(activityId=activity, stateId=None, since=since), headers=auth())
    assert sorted(recent.json()) == ["b", "c"]

    client.put("/xapi/activities/profile", params=activity_profile("p1", activity), json={}, headers=auth(**{"If-None-Match": "*"}))
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    profiles = client.get("/xapi/activities/profile", params={"activityId": activity}, headers=auth())
    assert profiles.json() == ["p1"]
    assert client.get("/xapi/activities/profile", params={"activityId": activity, "since": future}, headers=auth()).json() == []
    assert client.get("/xapi/agents/profile", params={"agent": json.dumps(OTHER_AGENT)}, headers=auth()).json() == []


def test_state_delete_all_by_registration(client: TestClient) -> None:
    activity = f"{ACTIVITY}/registrations"
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    for registration, state_id in ((first, "s1"), (first, "s2"), (second, "s3"), (None, "s4")):
        params = state(activityId=activity, stateId=state_id, registration=registration)
        assert client.post("/xapi/activities/state", params=params, json={"k": state_id}, headers=auth()).status_code == 204

    all_ids = client.get("/xapi/activities/state", params=state(activityId=activity, stateId=None), headers=auth()).json()
    assert sorted(all_ids) == ["s1", "s2", "s3", "s4"]
    assert client.get("/xapi/activities/state", params=state(activityId=activity, stateId=None, registration=first), headers=auth()).json() in (
        ["s1", "s2"],
        ["s2", "s1"],
    )
    # a state stored under a registration is not the one without it
    assert client.get("/xapi/activities/state", params=state(activityId=activity, stateId="s1"), headers=auth()).status_code == 404

    deleted = client.delete("/xapi/activities/state", params=state(activityId=activity, stateId=None, registration=first), headers=auth())
    assert deleted.status_code == 204
    remaining = client.get("/xapi/activities/state", params=state(activityId=activity, stateId=None), headers=auth()).json()
    assert sorted(remaining) == ["s3", "s4"]

    assert client.delete("/xapi/activities/state", params=state(activityId=activity, stateId=None), headers=auth()).status_code == 204
    assert client.get("/xapi/activities/state", params=state(activityId=activity, stateId=None), headers=auth()).json() == []


def test_stores_never_see_each_others_documents(make_database_url: Callable[[], str]) -> None:
    db = Database(make_database_url())
    db.migrate()
    key = DocumentKey(STATE, activity_id=ACTIVITY, agent_key="mbox:mailto:ada@example.com", document_id="bookmark")
    try:
        with db.transaction() as session:
            documents.put_document(session, "school-a", key, b'{"page":1}', "application/json")
        with db.transaction() as session:
            with pytest.raises(NotFound):
                documents.get_document(session, "school-b", key)
            assert documents.list_document_ids(session, "school-b", key)[0] == []
            documents.post_document(session, "school-b", key, b'{"page":9}', "application/json")
            documents.delete_states(session, "school-b", ACTIVITY, key.agent_key)
        with db.transaction() as session:
            assert json.loads(documents.get_document(session, "school-a", key).content) == {"page": 1}
            assert documents.list_document_ids(session, "school-a", key)[0] == ["bookmark"]
    finally:
        db.dispose()


# -- parameters ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "params", "field"),
    [
        ("GET", "/xapi/activities/state", {"agent": json.dumps(AGENT), "stateId": "s"}, "activityId"),
        ("PUT", "/xapi/activities/state", state(agent=None), "agent"),
        ("POST", "/xapi/activities/state", state(agent="not JSON"), "agent"),
        ("GET", "/xapi/activities/state", state(agent='{"objectType""Agent"}'), "agent"),
        ("DELETE", "/xapi/activities/state", state(agent=json.dumps({"objectType": "Agent", "name": "no IFI"})), "agent"),
        ("GET", "/xapi/activities/state", state(registration="true"), "registration"),
        ("GET", "/xapi/activities/state", state(stateId=None, since="not a timestamp"), "since"),
        ("POST", "/xapi/activities/state", state(stateId=None), "stateId"),
        ("PUT", "/xapi/activities/profile", {"activityId": ACTIVITY}, "profileId"),
        ("GET", "/xapi/activities/profile", {"activityId": "not an iri"}, "activityId"),
        ("GET", "/xapi/agents/profile", {"agent": "true"}, "agent"),
        ("GET", "/xapi/agents/profile", {"agent": json.dumps(AGENT), "since": "true"}, "since"),
        ("DELETE", "/xapi/agents/profile", {"agent": json.dumps(AGENT)}, "profileId"),
        ("GET", "/xapi/activities", {}, "activityId"),
        ("GET", "/xapi/agents", {}, "agent"),
        ("GET", "/xapi/agents", {"agent": json.dumps({"objectType": "Agent", "name": "Rick"})}, "agent"),
        ("GET", "/xapi/activities/profile", {"activityId": ACTIVITY, "stateId": "x"}, "stateId"),
    ],
)
def test_bad_parameters_are_refused_naming_the_parameter(client: TestClient, method: str, path: str, params: dict[str, str], field: str) -> None:
    headers = auth(**({"If-None-Match": "*"} if method == "PUT" else {}))
    response = client.request(method, path, params=params, headers=headers, content=b"{}" if method in ("PUT", "POST") else None)
    assert problem_field(response) == field


def test_document_routes_need_credentials(client: TestClient) -> None:
    response = client.get("/xapi/activities/state", params=state(), headers={"X-Experience-API-Version": "1.0.3"})
    assert response.status_code == 401


# -- Activities and Agents resources -------------------------------------------------------------


def test_activities_resource_returns_the_canonical_definition(client: TestClient) -> None:
    definition = {"name": {"en-US": "example meeting", "fr-FR": "réunion"}, "type": "http://adlnet.gov/expapi/activities/meeting"}
    node = client.app.state.node  # type: ignore[attr-defined]
    with node.db.transaction() as session:
        session.add(Activity(store="standalone", activity_id=ACTIVITY, definition=json.dumps(definition)))

    known = client.get("/xapi/activities", params={"activityId": ACTIVITY}, headers=auth())
    assert known.status_code == 200
    assert known.json() == {"objectType": "Activity", "id": ACTIVITY, "definition": definition}

    unknown_id = f"http://www.example.com/never-seen/{uuid.uuid4()}"
    unknown = client.get("/xapi/activities", params={"activityId": unknown_id}, headers=auth("1.0.3"))
    assert unknown.status_code == 200
    assert unknown.json() == {"objectType": "Activity", "id": unknown_id}

    head = client.head("/xapi/activities", params={"activityId": ACTIVITY}, headers=auth())
    assert (head.status_code, head.content) == (200, b"")


@pytest.mark.parametrize(
    ("agent", "expected"),
    [
        (AGENT, {"objectType": "Person", "name": ["Ada"], "account": [{"homePage": "http://www.example.com", "name": "ada"}]}),
        ({"mbox": "mailto:grace@example.com"}, {"objectType": "Person", "mbox": ["mailto:grace@example.com"]}),
        (
            {"name": "Sha", "mbox_sha1sum": "cd9b00a5611f94eaa7b1661edab976068e364975"},
            {"objectType": "Person", "name": ["Sha"], "mbox_sha1sum": ["cd9b00a5611f94eaa7b1661edab976068e364975"]},
        ),
        ({"openid": "http://openid.example.org/12345"}, {"objectType": "Person", "openid": ["http://openid.example.org/12345"]}),
    ],
)
def test_agents_resource_returns_a_person(client: TestClient, agent: dict[str, Any], expected: dict[str, Any]) -> None:
    response = client.get("/xapi/agents", params={"agent": json.dumps(agent)}, headers=auth())
    assert response.status_code == 200, response.text
    assert response.json() == expected


def test_agents_resource_adds_the_names_the_store_knows(client: TestClient) -> None:
    node = client.app.state.node  # type: ignore[attr-defined]
    now = datetime.now(UTC)
    with node.db.transaction() as session:
        for name in ("Grace H.", "Grace Hopper"):
            statement = {"actor": {"name": name, **OTHER_AGENT}, "verb": {"id": "http://adlnet.gov/expapi/verbs/attended"}, "object": {"id": ACTIVITY}}
            session.add(
                Statement(
                    store="standalone",
                    statement_id=str(uuid.uuid4()),
                    stored=now,
                    verb_id=statement["verb"]["id"],
                    actor_key="mbox:mailto:grace@example.com",
                    object_type="Activity",
                    object_key=ACTIVITY,
                    document=json.dumps(statement),
                )
            )
    response = client.get("/xapi/agents", params={"agent": json.dumps({"name": "Amazing Grace", **OTHER_AGENT})}, headers=auth("1.0.3"))
    assert response.json() == {"objectType": "Person", "name": ["Amazing Grace", "Grace Hopper", "Grace H."], "mbox": ["mailto:grace@example.com"]}


def test_concurrent_merges_lose_nothing(make_database_url: Callable[[], str]) -> None:
    db = Database(make_database_url())
    db.migrate()
    key = DocumentKey(STATE, activity_id=ACTIVITY, agent_key="mbox:mailto:ada@example.com", document_id="shared")
    start = threading.Barrier(8)

    def merge(index: int) -> None:
        start.wait(timeout=30)
        with db.transaction() as session:
            documents.post_document(session, "standalone", key, json.dumps({f"k{index}": index}).encode(), "application/json")

    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            for future in [pool.submit(merge, index) for index in range(8)]:
                future.result(timeout=60)  # re-raises a failed merge here
        with db.transaction() as session:
            assert json.loads(documents.get_document(session, "standalone", key).content) == {f"k{index}": index for index in range(8)}
    finally:
        db.dispose()
