"""An offer is published only if the ODRL engine can evaluate it later."""

from __future__ import annotations

import pytest

from dases.catalog.offer_policy import validate_offer_policy
from dases.errors import InvalidInput


def test_a_readable_offer_gets_an_id_and_type() -> None:
    published = validate_offer_policy({"permission": [{"action": "use", "constraint": [{"leftOperand": "purpose", "operator": "eq", "rightOperand": "research"}]}]})
    assert published["@id"].startswith("urn:uuid:") and published["@type"] == "Offer"


def test_an_offer_the_engine_cannot_read_is_refused_naming_the_rule() -> None:
    offer = {"permission": [{"action": "use"}], "prohibition": [{"action": "distribute", "remedy": [{"action": "delete"}]}]}
    with pytest.raises(InvalidInput) as refused:
        validate_offer_policy(offer)
    assert refused.value.errors[0].field == "policy" and refused.value.errors[0].rule == "odrl"
    assert "remedy" in refused.value.detail
