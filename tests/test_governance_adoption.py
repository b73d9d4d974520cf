"""What adoption does: an adopted rule becomes a new version of its key (the newest is in force,
the history is kept, a rejected proposal adds nothing); an infrastructure service adopted by the
general assembly is published in the catalog, found by search under the infrastructure-service
keyword; a funding decision names its amount and recipient."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from dases.catalog import service as catalog
from dases.catalog.index import SearchQuery
from dases.catalog.models import OfferingKind
from dases.errors import InvalidInput, NotFound
from dases.governance import service as governance
from dases.governance.models import INFRASTRUCTURE_KEYWORD, FundingProposalIn, ServiceProposalIn

from .governance_support import (
    AFTER,
    BEFORE,
    CLOSES,
    DURING,
    OPENS,
    Space,
    propose,
    result,
    space,
    vote,
)

__all__ = ["space"]

USE = {"permission": [{"action": "use"}]}


def adopt_rule(space: Space, key: str, text: str, choices: tuple[str, ...] = ("yes", "yes", "no")) -> governance.Result:
    proposal = propose(space, rule_key=key, rule_text=text)
    for member, choice in enumerate(choices):
        vote(space, proposal, member, choice)
    return result(space, proposal)


def test_adopted_rules_are_versioned_and_the_newest_is_in_force(space: Space) -> None:
    first = adopt_rule(space, "data-retention", "Three years.")
    second = adopt_rule(space, "data-retention", "Two years.")
    rejected = adopt_rule(space, "data-retention", "Forever.", ("no", "no", "yes"))
    other = adopt_rule(space, "pseudonymisation", "Keyed pseudonyms only.")
    assert (first.effect, second.effect, rejected.effect, other.effect) == (
        {"rule_key": "data-retention", "version": 1},
        {"rule_key": "data-retention", "version": 2},
        {},
        {"rule_key": "pseudonymisation", "version": 1},
    )
    with space.db.transaction() as session:
        in_force = [(rule.key, rule.version, rule.text) for rule in governance.current_rules(session)]
        history = [(rule.version, rule.text) for rule in governance.rule_history(session, "data-retention")]
    assert in_force == [("data-retention", 2, "Two years."), ("pseudonymisation", 1, "Keyed pseudonyms only.")]
    assert history == [(1, "Three years."), (2, "Two years.")]
    with pytest.raises(NotFound), space.db.transaction() as session:
        governance.rule_history(session, "never-adopted")


def service_draft(**fields: Any) -> ServiceProposalIn:
    service: dict[str, Any] = {
        "kind": "software_service",
        "title": "Shared pseudonymisation service",
        "description": "Keyed pseudonyms for learner identifiers, run by the operator for every member.",
        "keywords": ["privacy"],
        "contains_pii": True,
        "policy": USE,
        "endpoint_url": "https://operator.example/pseudonyms",
    }
    service.update(fields.pop("service", {}))
    values: dict[str, Any] = {
        "kind": "infrastructure_service", "title": "Adopt the pseudonymisation service", "text": "As discussed in the working group.",
        "opens_at": OPENS, "closes_at": CLOSES, "service": service,
    }
    values.update(fields)
    return ServiceProposalIn.model_validate(values)


def put(space: Space, draft: ServiceProposalIn | FundingProposalIn) -> str:
    with space.db.transaction() as session:
        return governance.create_proposal(session, draft, BEFORE).id


def infrastructure(space: Space) -> list[tuple[str, str, str]]:
    with space.db.transaction() as session:
        page = catalog.search(session, SearchQuery(keyword=INFRASTRUCTURE_KEYWORD))
    return [(offering.id, offering.title, offering.participant_slug) for offering in page.entries]


def test_an_adopted_infrastructure_service_appears_in_the_catalog(space: Space) -> None:
    proposal = put(space, service_draft())
    for member in range(3):
        vote(space, proposal, member, "yes")
    assert infrastructure(space) == []  # nothing is published before the tally
    published = result(space, proposal)
    assert published.adopted
    found = infrastructure(space)
    assert found == [(published.effect["offering_id"], "Shared pseudonymisation service", "operator")]
    with space.db.transaction() as session:
        offering = catalog.get_offering(session, "operator", published.effect["offering_id"])
        by_text = catalog.search(session, SearchQuery(text="pseudonyms", kind=OfferingKind.SOFTWARE_SERVICE))
    assert offering.keywords == ["privacy", INFRASTRUCTURE_KEYWORD]
    assert [entry.id for entry in by_text.entries] == [offering.id]


def test_a_rejected_infrastructure_service_is_not_published(space: Space) -> None:
    proposal = put(space, service_draft())
    vote(space, proposal, 0, "yes")
    vote(space, proposal, 1, "no")
    vote(space, proposal, 2, "no")
    assert not result(space, proposal).adopted
    assert infrastructure(space) == []


def test_only_the_general_assembly_adopts_infrastructure_services(space: Space) -> None:
    with space.db.transaction() as session:
        governance.create_working_group(session, "tech-wg", "Technical", space.members[:2])
    with pytest.raises(InvalidInput) as refused:
        put(space, service_draft(assembly="tech-wg"))
    assert [(e.field, e.rule) for e in refused.value.errors] == [("assembly", "general_assembly_only")]


@pytest.mark.parametrize(
    ("service", "field"),
    [
        ({"kind": "dataset", "endpoint_url": None}, "service.kind"),
        ({"policy": {"permission": [{"target": "x"}]}}, "service.policy"),
    ],
)
def test_an_infrastructure_service_is_checked_when_proposed(space: Space, service: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        put(space, service_draft(service=service))
    assert refused.value.errors[0].field.startswith(field)


def test_an_adopted_funding_decision_names_amount_and_recipient(space: Space) -> None:
    draft = FundingProposalIn.model_validate({
        "kind": "funding", "title": "Fund the xAPI profile work", "text": "Two person-months.",
        "opens_at": OPENS, "closes_at": CLOSES, "amount": "25000.00", "currency": "EUR", "recipient": space.members[1],
        "quorum": Decimal("0.25"),
    })
    proposal = put(space, draft)
    vote(space, proposal, 0, "yes", DURING + timedelta(hours=2))
    published = result(space, proposal, AFTER)
    assert published.adopted
    assert published.effect == {"amount": "25000.00", "currency": "EUR", "recipient": space.members[1]}


def test_funding_goes_to_an_active_member(space: Space) -> None:
    draft = FundingProposalIn.model_validate({
        "kind": "funding", "title": "Fund", "text": "Money.", "opens_at": OPENS, "closes_at": CLOSES,
        "amount": "10", "currency": "EUR", "recipient": "00000000-0000-0000-0000-000000000000",
    })
    with pytest.raises(InvalidInput) as refused:
        put(space, draft)
    assert refused.value.errors[0].field == "recipient"
