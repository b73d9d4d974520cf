"""A small data space on loopback for tests: the operator's node (registry, consent service,
dashboard), a school that provides data and an EdTech that consumes it, both active members."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from dases.identity.client import signed_client

from .conftest import ADMIN_TOKEN, RunningNode

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
PURPOSE = "sector-education:StudentPerformanceMonitoring"
PURPOSE_IRI = "https://w3id.org/dpv/sector/education#StudentPerformanceMonitoring"


class DataSpace:
    def __init__(self, start_node: Callable[..., RunningNode]) -> None:
        self.operator = start_node(governance_authority="operator", consent_sweep_seconds=3600)
        self.operator.add_participant("operator", "Data space operator")
        consent_service = self.operator.did("operator")
        self.school = start_node(consent_service=consent_service)
        self.school.add_participant("school", "Lycée Victor Hugo")
        self.edtech = start_node(consent_service=consent_service)
        self.edtech.add_participant("edtech", "EdTech Numérique")
        self.onboard(self.school, "school", "Lycée Victor Hugo")
        self.onboard(self.edtech, "edtech", "EdTech Numérique")

    def onboard(self, node: RunningNode, slug: str, legal_name: str) -> None:
        """Apply with a signed call, approved by the operator's admin."""
        application = {"legal_name": legal_name, "registration_number": "123 456 789", "country": "FR", "roles": ["data_provider", "data_consumer"]}
        with self.call(node, slug) as client:
            applied = client.post("/registry/applications", json=application)
        assert applied.status_code == 201, applied.text
        with self.operator.client(headers=ADMIN) as admin:
            assert admin.post(f"/registry/members/{applied.json()['id']}/approve").status_code == 200

    def call(self, node: RunningNode, slug: str) -> httpx.Client:
        """A client signing its calls as `slug`, addressed to the consent service."""
        return signed_client(node.signer(slug), self.operator.did("operator"), base_url=self.operator.url, timeout=10)

    def link_code(self, account: str, role: str = "learner") -> str:
        with self.call(self.school, "school") as client:
            response = client.post("/consent/link-codes", json={"account": account, "role": role})
        assert response.status_code == 201, response.text
        return str(response.json()["code"])

    def ask(self, **fields: Any) -> httpx.Response:
        """The school asks for consent; fields set to None are left out of the request."""
        body = {
            "account": "eleve-1",
            "consumer": self.edtech.did("edtech"),
            "purpose": PURPOSE,
            "data_categories": ["learning_traces", "assessment_results"],
            "duration_days": 90,
            **fields,
        }
        with self.call(self.school, "school") as client:
            return client.post("/consent/requests", json={key: value for key, value in body.items() if value is not None})
