"""Ed25519 participant keys, and their encryption at rest under the node secret.

Private keys are sealed with AES-256-GCM under a key derived (HKDF-SHA256) from the node secret;
the key id is bound as associated data, so a sealed key cannot be swapped onto another key row.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import cached_property

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from joserfc.jwk import OKPKey

from dases.errors import ConfigurationError

#: JWS algorithm names accepted for Ed25519 signatures: RFC 9864's fully specified name, and the
#: older polymorphic name most peers still send.
SIGNING_ALGORITHM = "Ed25519"
ACCEPTED_ALGORITHMS = ("Ed25519", "EdDSA")

_NONCE_BYTES = 12


def generate_key() -> OKPKey:
    return OKPKey.generate_key("Ed25519")


def key_id(key: OKPKey) -> str:
    """A stable key id: the RFC 7638 thumbprint of the public key."""
    return key.thumbprint()


def public_jwk(key: OKPKey) -> dict[str, str]:
    return {name: str(value) for name, value in key.as_dict(private=False).items() if name in {"kty", "crv", "x"}}


def import_public_jwk(jwk: dict[str, object]) -> OKPKey:
    if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519" or "d" in jwk:
        raise ValueError("only public Ed25519 keys (kty OKP, crv Ed25519) are accepted")
    return OKPKey.import_key({"kty": "OKP", "crv": "Ed25519", "x": jwk["x"]})


class KeySealer:
    """Seals and opens private JWKs with a key derived from the node secret."""

    def __init__(self, node_secret: bytes) -> None:
        if len(node_secret) < 16:
            raise ConfigurationError("the node secret must be at least 16 bytes long")
        derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"dases/keys/v1", info=b"private-key-seal").derive(node_secret)
        self._aead = AESGCM(derived)

    def __repr__(self) -> str:
        return "KeySealer(<secret>)"

    def seal(self, key: OKPKey, kid: str) -> bytes:
        nonce = os.urandom(_NONCE_BYTES)
        plaintext = json.dumps(key.as_dict(private=True), sort_keys=True).encode()
        return nonce + self._aead.encrypt(nonce, plaintext, kid.encode())

    def open(self, sealed: bytes, kid: str) -> OKPKey:
        nonce, ciphertext = sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:]
        try:
            plaintext = self._aead.decrypt(nonce, ciphertext, kid.encode())
        except InvalidTag as error:
            raise ConfigurationError(
                f"the private key {kid} cannot be decrypted: the node secret differs from the one it was sealed with"
            ) from error
        return OKPKey.import_key(json.loads(plaintext))


@dataclass(frozen=True)
class Signer:
    """What a participant needs to sign: its DID, the full key id URL and the private key."""

    did: str
    kid: str
    key: OKPKey

    @cached_property
    def private_key(self) -> Ed25519PrivateKey:
        return self.key.get_op_key("sign")  # type: ignore[return-value]

    def __repr__(self) -> str:
        return f"Signer(did={self.did!r}, kid={self.kid!r})"
