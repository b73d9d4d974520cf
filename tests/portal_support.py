"""A data space for the portal's tests: the operator's node (registry, governance), a school that
publishes offerings and an EdTech that signs a contract for one and pulls its data, so that the
school has contracts and a ledger of real transfers. Each member node has its own admin token."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from html import unescape
from pathlib import Path
from typing import Any

import httpx

from dases.db import utcnow
from dases.governance import service as governance
from dases.governance.models import Choice, Majority, RuleProposalIn
from dases.identity.client import signed_client

from .conftest import ADMIN_TOKEN, RunningNode

OPERATOR_ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
SCHOOL_TOKEN = "school-portal-admin-token-0123456789"
EDTECH_TOKEN = "edtech-portal-admin-token-9876543210"
TWICE = {"permission": [{"action": "use", "constraint": [{"leftOperand": "count", "operator": "lteq", "rightOperand": {"@value": "2", "@type": "xsd:integer"}}]}]}
FOR_RESEARCH = {"permission": [{"action": "use", "constraint": [{"leftOperand": "purpose", "operator": "eq", "rightOperand": "research"}]}]}
SKILL = "http://data.europa.eu/esco/skill/ccd0a1d9-afda-43d9-b901-96344886e14d"


def offering(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "kind": "dataset",
        "title": "Learning traces of the 2025 cohort",
        "description": "xAPI statements of our pupils, pseudonymised.",
        "keywords": ["xAPI", "lycée"],
        "data_categories": ["learning_traces"],
        "contains_pii": False,
        "policy": TWICE,
        "distributions": [{"format": "HttpData-PULL", "media_type": "application/x-ndjson", "title": "JSON lines"}],
    }
    body.update(overrides)
    return body


def text_of(response: httpx.Response | str) -> str:
    """The page's text as a reader sees it: tags dropped, whitespace folded."""
    html = response if isinstance(response, str) else response.text
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def wait_for(read: Callable[[], dict[str, Any]], done: Callable[[dict[str, Any]], bool], timeout: float = 20) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        view = read()
        if done(view):
            return view
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out; last seen: {json.dumps(view, default=str)[:2000]}")
        time.sleep(0.05)


class PortalSpace:
    def __init__(self, start_node: Callable[..., RunningNode], tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.operator = start_node(governance_authority="operator")
        self.operator.add_participant("operator", "Data space operator")
        self.school = start_node(admin_token=SCHOOL_TOKEN)
        self.school.add_participant("school", "Lycée Victor Hugo")
        self.edtech = start_node(admin_token=EDTECH_TOKEN)
        self.edtech.add_participant("edtech", "EdTech Numérique")
        self.member_ids = {
            "school": self.onboard(self.school, "school", "Lycée Victor Hugo"),
            "edtech": self.onboard(self.edtech, "edtech", "EdTech Numérique"),
        }

    def onboard(self, node: RunningNode, slug: str, legal_name: str) -> str:
        application = {"legal_name": legal_name, "registration_number": "123 456 789", "country": "FR", "roles": ["data_provider", "data_consumer"]}
        with signed_client(node.signer(slug), self.operator.did("operator"), base_url=self.operator.url, timeout=10) as client:
            applied = client.post("/registry/applications", json=application)
        assert applied.status_code == 201, applied.text
        with self.operator.client(headers=OPERATOR_ADMIN) as admin:
            assert admin.post(f"/registry/members/{applied.json()['id']}/approve").status_code == 200
        return str(applied.json()["id"])

    # --- the catalog ---

    def publish(self, node: RunningNode, slug: str, token: str, **overrides: Any) -> dict[str, Any]:
        with node.client(headers={"Authorization": f"Bearer {token}"}) as admin:
            response = admin.post(f"/participants/{slug}/offerings", json=offering(**overrides))
        assert response.status_code == 201, response.text
        return dict(response.json())

    def publish_school_catalog(self) -> dict[str, dict[str, Any]]:
        """Three offerings of different kinds and categories."""
        return {
            "traces": self.publish(self.school, "school", SCHOOL_TOKEN),
            "dropout": self.publish(
                self.school, "school", SCHOOL_TOKEN, kind="data_service", title="Dropout early warning",
                description="Scores the risk that a pupil drops out, from the last four weeks of activity.",
                data_categories=["learning_traces", "assessment_results"], service_categories=["dropout_detection"],
                policy=FOR_RESEARCH, endpoint_url="https://school.example/api/dropout", keywords=["risk"],
            ),
            "course": self.publish(
                self.school, "school", SCHOOL_TOKEN, kind="training", title="Python for data analysis",
                description="A ten-week evening course.", data_categories=["training_offers"], skills=[SKILL], keywords=["python"],
            ),
        }

    # --- a contract and a transfer between the school and the EdTech ---

    def contract_and_transfer(self) -> dict[str, Any]:
        """The school publishes a file, the EdTech negotiates it to a signed agreement and pulls
        it once: the school's ledger then records the transfer."""
        source = self.tmp_path / "cohort.jsonl"
        source.write_text("".join(json.dumps({"learner": f"l{i}", "score": i % 20}) + "\n" for i in range(50)))
        published = self.publish(self.school, "school", SCHOOL_TOKEN, title="Cohort 2025 scores")
        school_admin = {"Authorization": f"Bearer {SCHOOL_TOKEN}"}
        with self.school.client(headers=school_admin) as admin:
            attached = admin.put(f"/participants/school/offerings/{published['id']}/source", json={"kind": "file", "path": str(source)})
        assert attached.status_code == 200, attached.text
        connector = f"{self.school.url}/participants/school/dsp"
        with self.edtech.client(headers={"Authorization": f"Bearer {EDTECH_TOKEN}"}) as admin:
            started = admin.post("/participants/edtech/negotiations", json={"provider_url": connector, "offer_id": published["offer_id"]})
            assert started.status_code == 201, started.text
            url = f"/participants/edtech/negotiations/{started.json()['id']}"
            finalized = wait_for(lambda: admin.get(url).json(), lambda view: view["state"] in ("FINALIZED", "TERMINATED"))
            assert finalized["state"] == "FINALIZED", finalized
            transfer = admin.post("/participants/edtech/transfers", json={"agreement_id": finalized["agreement"]["@id"]})
            assert transfer.status_code == 201, transfer.text
            transfer_url = f"/participants/edtech/transfers/{transfer.json()['id']}"
            done = wait_for(lambda: admin.get(transfer_url).json(), lambda view: view["state"] in ("COMPLETED", "TERMINATED"))
            assert done["state"] == "COMPLETED", done
        with self.school.client(headers=school_admin) as admin:
            wait_for(
                lambda: {"states": [t["state"] for t in admin.get("/participants/school/transfers").json()]},
                lambda view: view["states"] == ["COMPLETED"],
            )
        return {"offering": published, "agreement": finalized["agreement"], "transfer": done}

    # --- governance on the operator's node ---

    def governance_history(self) -> dict[str, str]:
        """A rule adopted twice (versions 1 and 2), a rejected proposal, and one open now."""
        authority = governance.Authority("operator", self.operator.node.sealer)
        now = utcnow()
        ids: dict[str, str] = {}

        def proposal(name: str, opens_in: timedelta, closes_in: timedelta, votes: dict[str, str], **fields: Any) -> None:
            draft = RuleProposalIn.model_validate({
                "kind": "rule", "title": fields.pop("title"), "text": "Keep learning traces no longer than needed.",
                "rule_key": "data-retention", "rule_text": fields.pop("rule_text", "Learning traces are kept at most 3 years."),
                "opens_at": now + opens_in, "closes_at": now + closes_in, "quorum": Decimal("0.5"), "majority": Majority.SIMPLE, **fields,
            })
            created_at = now + opens_in - timedelta(hours=1)
            with self.operator.node.db.transaction() as session:
                ids[name] = governance.create_proposal(session, draft, created_at).id
                for who, choice in votes.items():
                    governance.vote_for_member(session, authority, ids[name], self.member_ids[who], Choice(choice), now + opens_in + timedelta(minutes=1))

        day = timedelta(days=1)
        proposal("v1", -10 * day, -9 * day, {"school": "yes", "edtech": "yes"}, title="Data retention, first text")
        proposal("v2", -5 * day, -4 * day, {"school": "yes", "edtech": "abstain"}, title="Data retention, shorter", rule_text="Learning traces are kept at most 2 years.")
        proposal("rejected", -3 * day, -2 * day, {"school": "no", "edtech": "no"}, title="Data retention, longer", rule_text="Learning traces are kept 10 years.")
        proposal("open", -day, day, {"school": "yes"}, title="Data retention, for alumni")
        with self.operator.node.db.transaction() as session:
            governance.close_due(session, authority, now)
        return ids
