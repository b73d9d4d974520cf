"""The pseudonym function itself: the fast path equals HMAC-SHA256 over the documented encoding
for any identifier, the encoding keeps (domain, identifier) pairs apart, and chained versions
re-key from the pseudonym alone."""

from __future__ import annotations

import hashlib
import hmac

from hypothesis import given, settings
from hypothesis import strategies as st

from dases.privacy.pseudonyms import Pseudonymiser, parse_pseudonym

K1, K2, K3 = b"\x01" * 32, b"\x02" * 32, bytes(range(100, 164))  # the last one longer than a block


def reference(keys: list[bytes], domain: str, identifier: str) -> str:
    """Written from the docstring's formula with the standard library's `hmac`."""
    prefix = bytes([len(domain)]) + domain.encode()
    digest = hmac.new(keys[0], b"\x01" + prefix + identifier.encode("utf-8"), hashlib.sha256).digest()[:16]
    for key in keys[1:]:
        digest = hmac.new(key, b"\x02" + prefix + digest, hashlib.sha256).digest()[:16]
    return f"ps{len(keys)}_{digest.hex()}"


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(min_size=1, max_size=40), min_size=1, max_size=20), st.sampled_from([[K1], [K1, K2], [K3, K1, K2]]))
def test_fast_path_equals_hmac_for_any_identifier(identifiers: list[str], keys: list[bytes]) -> None:
    assert Pseudonymiser("study-a", keys).pseudonymise(identifiers) == [reference(keys, "study-a", i) for i in identifiers]


def test_the_encoding_keeps_domain_and_identifier_apart() -> None:
    # Same key, concatenations that would collide without the length prefix.
    assert Pseudonymiser("ab", [K1]).pseudonymise(["c"]) != Pseudonymiser("a", [K1]).pseudonymise(["bc"])
    # And the same identifier in two domains differs even under one key.
    assert Pseudonymiser("study-a", [K1]).pseudonymise(["x"]) != Pseudonymiser("study-b", [K1]).pseudonymise(["x"])


def test_rekeying_carries_any_older_version_to_the_current_one() -> None:
    ids = [f"learner-{n}" for n in range(10)]
    v1 = Pseudonymiser("s", [K1]).pseudonymise(ids)
    v2 = Pseudonymiser("s", [K1, K2]).pseudonymise(ids)
    current = Pseudonymiser("s", [K1, K2, K3])
    v3 = current.pseudonymise(ids)
    mixed = [v1[0], v2[1], v3[2], v1[3]]
    assert current.rekey([parse_pseudonym(p) for p in mixed]) == v3[:4]  # type: ignore[misc]
    assert parse_pseudonym("ps1_" + "0" * 31) is None and parse_pseudonym("eleve-1") is None
    assert parse_pseudonym("ps0_" + "0" * 32) is None
