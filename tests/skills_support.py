"""What the learner-skills tests share: the real ESCO release (read once per test process), a
node hosting a provider whose LRS receives real statements, and the web developer occupation of
ESCO v1.1.1 with the skills the scenarios use."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

import httpx

from dases.identity.client import signed_client
from dases.interop.esco import Esco
from dases.lrs.deps import create_credential

from .conftest import ADMIN_TOKEN, SHARED, RunningNode

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
ESCO = "http://data.europa.eu/esco/"
WEB_DEVELOPER = ESCO + "occupation/c40a2919-48a9-40ea-b506-1f34f693496d"
# Essential skills of "web developer" in ESCO v1.1.1
COMPUTER_PROGRAMMING = ESCO + "skill/21d2f96d-35f7-4e3f-9745-c533d2dd6e97"
WEB_PROGRAMMING = ESCO + "skill/69bbd53f-fbb0-4476-b4b2-ef7844464e28"
DEBUG_SOFTWARE = ESCO + "skill/2522a6ce-3202-4ac8-9f5b-b9cb5a3a83a1"
MARKUP_LANGUAGES = ESCO + "skill/0af062de-eb43-41e9-9b96-249e2cd22d26"
STYLE_SHEET_LANGUAGES = ESCO + "skill/c2999f0c-eb37-4cdf-b9b0-82107b628794"
FRONT_END_DESIGN = ESCO + "skill/c4b1f326-224a-420a-b8b3-814a8f13b6cb"
SOFTWARE_LIBRARIES = ESCO + "skill/8b94aa1e-89c9-459d-b3b4-1dfab8dec2df"
# Optional skills of "web developer"
HASKELL = ESCO + "skill/000f1d3d-220f-4789-9c0a-cc742521fb02"
ERLANG = ESCO + "skill/034c29fa-c3ba-45ea-b8f3-bf8e3705e386"
KDEVELOP = ESCO + "skill/013441c1-1f13-47e9-80c4-9a53e8e1bc05"
SAS_LANGUAGE = ESCO + "skill/04f1b938-d4d4-4cb1-a863-982af76b9d93"

VERB = "http://adlnet.gov/expapi/verbs/"
HOME = "https://lms.edtech-a.example/course/"
ADA = {"objectType": "Agent", "name": "Ada", "mbox": "mailto:ada@example.org"}
BOB = {"objectType": "Agent", "name": "Bob", "account": {"homePage": "https://lms.edtech-a.example", "name": "bob-42"}}


@cache
def real_esco() -> Esco:
    """ESCO v1.1.1 from ../shared/data/esco, read once per test process (it takes a second)."""
    return Esco.load(SHARED / "data" / "esco")


def statement(actor: dict[str, Any], verb: str, activity: str, *, name: str | None = None, result: dict[str, Any] | None = None,
              timestamp: str = "2026-03-01T10:00:00Z") -> dict[str, Any]:
    target: dict[str, Any] = {"objectType": "Activity", "id": HOME + activity}
    if name:
        target["definition"] = {"name": {"en-US": name}}
    body: dict[str, Any] = {
        "id": str(uuid.uuid4()), "actor": actor, "verb": {"id": VERB + verb}, "object": target, "timestamp": timestamp,
    }
    if result is not None:
        body["result"] = result
    return body


@dataclass
class Provider:
    """A node hosting `edtech-a` (LRS, alignments) with ESCO already loaded in its app."""

    node: RunningNode
    slug: str
    lrs_auth: str

    def post_statements(self, statements: list[dict[str, Any]]) -> None:
        headers = {"Authorization": self.lrs_auth, "X-Experience-API-Version": "1.0.3"}
        with self.node.client(headers=headers) as client:
            response = client.post(f"/participants/{self.slug}/xapi/statements", json=statements)
        assert response.status_code == 200, response.text

    def admin(self) -> httpx.Client:
        return self.node.client(headers=ADMIN)

    def as_itself(self) -> httpx.Client:
        did = self.node.did(self.slug)
        return signed_client(self.node.signer(self.slug), did, base_url=self.node.url, timeout=30)

    def align(self, pairs: list[tuple[str, str]], **extra: Any) -> httpx.Response:
        body = {"alignments": [{"activity_id": HOME + activity, "skill_uri": skill, **extra} for activity, skill in pairs]}
        with self.admin() as client:
            return client.post(f"/participants/{self.slug}/skills/alignments", json=body)

    def publish(self, offering: dict[str, Any]) -> dict[str, Any]:
        with self.admin() as client:
            response = client.post(f"/participants/{self.slug}/offerings", json=offering)
        assert response.status_code == 201, response.text
        return response.json()


def start_provider(start_node: Callable[..., RunningNode], slug: str = "edtech-a") -> Provider:
    node = start_node()
    node.add_participant(slug, "EdTech A")
    node.app.state.esco = real_esco()
    with node.node.db.transaction() as session:
        key, secret = create_credential(session, slug, "tracker", ["all"])
    auth = "Basic " + base64.b64encode(f"{key}:{secret}".encode()).decode()
    return Provider(node, slug, auth)


def training(title: str, skills: list[str]) -> dict[str, Any]:
    return {
        "kind": "training",
        "title": title,
        "description": f"{title}: a course of EdTech A.",
        "contains_pii": False,
        "policy": {"permission": [{"action": "use"}]},
        "skills": skills,
    }
