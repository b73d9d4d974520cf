"""Keyed pseudonyms: HMAC-SHA256 per study domain, with key versions chained for rotation.

Encoding (unambiguous by construction):

    version 1:   d1 = HMAC(k1, 0x01 || len(domain) || domain || utf8(identifier))[:16]
    version v>1: dv = HMAC(kv, 0x02 || len(domain) || domain || d(v-1))[:16]
    pseudonym  = "ps" + v + "_" + hex(dv)

The leading byte tells an identifier from a chained pseudonym; the domain is length-prefixed
(one byte: domain names are at most 63 ASCII characters), so the identifier is exactly the
rest and no (domain, identifier) pair can encode like another. 128 bits of output keep the
chance of any collision among a billion learners below 10^-20.

Why chained versions: rotation must let those who hold pseudonymised data (a pooled dataset at
a consumer, which never had identifiers) move it to the new key, and the service keeps no
identifiers to recompute from. With chaining, the service re-keys a stored pseudonym from the
pseudonym alone (one HMAC per version step), and a pseudonym under version v can only be
computed by someone holding all keys 1..v: a key that leaks alone is worth nothing, and after
rotation a leaked set of old keys no longer yields current pseudonyms. The price is v HMACs per
identifier under version v; rotations are rare (yearly, or on suspicion of a leak).

Speed: the HMAC's inner and outer SHA-256 states, with the constant prefix already absorbed, are
computed once per batch; each identifier then costs two state copies, two updates and two
digests, all in C (`hashlib`). That is 5-7x faster than `hmac.digest` per call, which re-derives
the key pads every time.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence

DIGEST_BYTES = 16
_BLOCK = 64
_IDENTIFIER, _CHAINED = b"\x01", b"\x02"
PSEUDONYM_PATTERN = re.compile(r"^ps([1-9][0-9]{0,5})_([0-9a-f]{32})$")
KEY_BYTES = 32


def _pads(key: bytes) -> tuple[bytes, bytes]:
    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    key = key.ljust(_BLOCK, b"\x00")
    return bytes(b ^ 0x36 for b in key), bytes(b ^ 0x5C for b in key)


class KeyedHash:
    """HMAC-SHA256 under one key, over messages that all start with the same prefix."""

    def __init__(self, key: bytes, prefix: bytes) -> None:
        if len(key) < KEY_BYTES:
            raise ValueError(f"a pseudonym key has at least {KEY_BYTES} bytes")
        inner_pad, outer_pad = _pads(key)
        self._inner = hashlib.sha256(inner_pad + prefix)
        self._outer = hashlib.sha256(outer_pad)

    def __repr__(self) -> str:
        return "KeyedHash(<key>)"

    def digests(self, messages: Iterable[bytes]) -> list[bytes]:
        inner_copy, outer_copy = self._inner.copy, self._outer.copy
        out = []
        append = out.append
        for message in messages:
            inner = inner_copy()
            inner.update(message)
            outer = outer_copy()
            outer.update(inner.digest())
            append(outer.digest()[:DIGEST_BYTES])
        return out


def _domain_prefix(tag: bytes, domain: str) -> bytes:
    encoded = domain.encode("ascii")
    if not 0 < len(encoded) < 256:
        raise ValueError("a domain name has 1 to 255 ASCII characters")
    return tag + bytes([len(encoded)]) + encoded


def format_pseudonym(version: int, digest: bytes) -> str:
    return f"ps{version}_{digest.hex()}"


def parse_pseudonym(pseudonym: str) -> tuple[int, bytes] | None:
    """(version, digest), or None when the text is not a pseudonym."""
    match = PSEUDONYM_PATTERN.match(pseudonym)
    if match is None:
        return None
    return int(match.group(1)), bytes.fromhex(match.group(2))


class Pseudonymiser:
    """Pseudonyms of one domain under its current key version; `keys[i]` is version i + 1's key."""

    def __init__(self, domain: str, keys: Sequence[bytes]) -> None:
        if not keys:
            raise ValueError("a domain has at least one key")
        self.domain = domain
        self.version = len(keys)
        self._first = KeyedHash(keys[0], _domain_prefix(_IDENTIFIER, domain))
        self._steps = [KeyedHash(key, _domain_prefix(_CHAINED, domain)) for key in keys[1:]]

    def __repr__(self) -> str:
        return f"Pseudonymiser(domain={self.domain!r}, version={self.version})"

    def pseudonymise(self, identifiers: Sequence[str]) -> list[str]:
        """Same order as given; the same identifier always gives the same pseudonym here."""
        digests = self._first.digests([identifier.encode("utf-8") for identifier in identifiers])
        for step in self._steps:
            digests = step.digests(digests)
        prefix = f"ps{self.version}_"
        return [prefix + digest.hex() for digest in digests]

    def rekey(self, pseudonyms: Sequence[tuple[int, bytes]]) -> list[str]:
        """Carry (version, digest) pairs forward to the current version, in the given order:
        the pairs of each old version go through the remaining steps as one batch."""
        by_version: dict[int, list[int]] = {}
        for index, (version, _digest) in enumerate(pseudonyms):
            if not 1 <= version <= self.version:
                raise ValueError(f"version {version} is not a key version of {self.domain}")
            by_version.setdefault(version, []).append(index)
        out = [""] * len(pseudonyms)
        for version, indices in by_version.items():
            digests = [pseudonyms[index][1] for index in indices]
            for step in self._steps[version - 1 :]:
                digests = step.digests(digests)
            for index, digest in zip(indices, digests, strict=True):
                out[index] = format_pseudonym(self.version, digest)
        return out
