"""How negotiation reaches the catalog (published offers) and the policy engine."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from dases.catalog import service as catalog
from dases.db import utcnow
from dases.negotiation.messages import DspSchemas
from dases.negotiation.service import Negotiator
from dases.node import Node
from dases.policy import service as policy_service
from dases.policy.context import Context, Request, World


class CatalogOffers:
    """Published offers, from the provider's catalog."""

    def find(self, session: Session, provider_slug: str, offer_id: str) -> dict[str, Any] | None:
        return catalog.find_offer(session, provider_slug, offer_id)


class OdrlJudge:
    """The ODRL engine, in the negotiation scope; it fails closed."""

    def decide(self, policy: dict[str, Any], context: dict[str, Any]) -> tuple[bool, list[str]]:
        recipient = context.get("recipient")
        request = Request(assignee=recipient, recipient=recipient, target=policy.get("target"), purpose=context.get("purpose"))
        decision = policy_service.decide(policy, "negotiation", Context(request, World(now=utcnow())))
        return decision.allowed, list(decision.reasons)


def build_negotiator(node: Node) -> Negotiator:
    settings = node.settings
    schemas = DspSchemas(settings.dsp_schema_dir) if settings.dsp_schema_dir else None
    return Negotiator(
        node, CatalogOffers(), OdrlJudge(), schemas=schemas,
        timeout_seconds=settings.negotiation_timeout_seconds, auto_finalize=settings.negotiation_auto_finalize,
    )
