"""Participants' private keys are stored sealed under the node secret: the database never holds
them in the clear, only the same secret opens them, a sealed key cannot be moved to another key
row, and neither reprs nor logs show key material or the node secret."""

from __future__ import annotations

import base64
import logging
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import select, update

from dases.db import Database
from dases.errors import ConfigurationError
from dases.identity import service
from dases.identity.client import signed_client
from dases.identity.keys import KeySealer, Signer, generate_key, key_id, public_jwk
from dases.identity.models import ParticipantKey
from dases.identity.tokens import sign_call_token
from dases.settings import Settings

from .conftest import RunningNode

NODE_SECRET = b"node-secret-for-tests-0123456789"
BASE_URL = "http://127.0.0.1:8000"


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    database.migrate()
    yield database
    database.dispose()


@pytest.fixture
def sealer() -> KeySealer:
    return KeySealer(NODE_SECRET)


def create(db: Database, sealer: KeySealer, slug: str) -> ParticipantKey:
    with db.transaction() as session:
        service.create_participant(session, sealer, BASE_URL, slug, slug.title())
    with db.transaction() as session:
        return session.scalars(select(ParticipantKey).where(ParticipantKey.participant_slug == slug)).one()


def private_d(key: object) -> str:
    return key.as_dict(private=True)["d"]  # type: ignore[attr-defined]


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def test_stored_key_row_holds_no_private_key_in_the_clear(db: Database, sealer: KeySealer) -> None:
    row = create(db, sealer, "acme")
    opened = sealer.open(row.sealed_private_key, row.kid)
    d = private_d(opened)

    sealed = bytes(row.sealed_private_key)
    assert d.encode() not in sealed
    assert b64url_decode(d) not in sealed
    assert len(b64url_decode(d)) == 32
    assert "d" not in row.public_jwk
    # What the database returns for the row, in any column, does not carry the private key either.
    with db.engine.connect() as connection:
        raw = connection.execute(select(ParticipantKey.__table__)).one()
    assert all(d not in str(value) for value in raw)


def test_same_secret_opens_the_same_key(db: Database, sealer: KeySealer) -> None:
    row = create(db, sealer, "acme")
    opened = KeySealer(NODE_SECRET).open(row.sealed_private_key, row.kid)
    assert key_id(opened) == row.kid
    assert public_jwk(opened) == row.public_jwk
    with db.transaction() as session:
        signer = service.signer_for(session, KeySealer(NODE_SECRET), "acme")
    assert private_d(signer.key) == private_d(opened)
    assert signer.kid.endswith(f"#{row.kid}")


def test_another_node_secret_cannot_open_the_key(db: Database, sealer: KeySealer) -> None:
    row = create(db, sealer, "acme")
    with pytest.raises(ConfigurationError, match=row.kid) as error:
        KeySealer(b"another-node-secret-0123456789").open(row.sealed_private_key, row.kid)
    assert "node secret" in error.value.detail
    with db.transaction() as session, pytest.raises(ConfigurationError, match=row.kid):
        service.signer_for(session, KeySealer(b"another-node-secret-0123456789"), "acme")


def test_sealed_key_cannot_be_swapped_onto_another_key_row(db: Database, sealer: KeySealer) -> None:
    acme, globex = create(db, sealer, "acme"), create(db, sealer, "globex")
    with pytest.raises(ConfigurationError, match=globex.kid):
        sealer.open(acme.sealed_private_key, globex.kid)

    # Someone with write access to the database copies acme's sealed key onto globex's row.
    with db.transaction() as session:
        session.execute(
            update(ParticipantKey).where(ParticipantKey.kid == globex.kid).values(sealed_private_key=acme.sealed_private_key)
        )
    with db.transaction() as session, pytest.raises(ConfigurationError, match=globex.kid):
        service.signer_for(session, sealer, "globex")


def test_tampered_sealed_key_is_refused(db: Database, sealer: KeySealer) -> None:
    row = create(db, sealer, "acme")
    tampered = bytearray(row.sealed_private_key)
    tampered[-1] ^= 0x01
    with pytest.raises(ConfigurationError, match=row.kid):
        sealer.open(bytes(tampered), row.kid)


def test_each_seal_is_fresh(sealer: KeySealer) -> None:
    key = generate_key()
    kid = key_id(key)
    first, second = sealer.seal(key, kid), sealer.seal(key, kid)
    assert first != second  # a new nonce each time
    assert private_d(sealer.open(first, kid)) == private_d(sealer.open(second, kid)) == private_d(key)


@pytest.mark.parametrize("secret", [b"", b"short", b"x" * 15])
def test_node_secret_shorter_than_16_bytes_is_refused(secret: bytes) -> None:
    with pytest.raises(ConfigurationError, match="at least 16 bytes"):
        KeySealer(secret)


def test_node_secret_of_16_bytes_is_accepted() -> None:
    key = generate_key()
    sealer = KeySealer(b"x" * 16)
    assert key_id(sealer.open(sealer.seal(key, key_id(key)), key_id(key))) == key_id(key)


def test_reprs_show_no_key_material() -> None:
    key = generate_key()
    d = private_d(key)
    signer = Signer(did="did:web:node.example.org:participants:acme", kid="did:web:node.example.org:participants:acme#k", key=key)
    sealer = KeySealer(NODE_SECRET)
    for text in (repr(signer), str(signer), repr(sealer), str(sealer), repr([signer, sealer])):
        assert d not in text
        assert NODE_SECRET.decode() not in text
    assert "did:web:node.example.org:participants:acme" in repr(signer)


def test_no_private_key_or_node_secret_reaches_the_logs(
    start_node: Callable[..., RunningNode], caplog: pytest.LogCaptureFixture
) -> None:
    # Every logger, including those that set their own level (sqlalchemy, httpx, uvicorn), at DEBUG.
    caplog.set_level(logging.DEBUG)
    for name in list(logging.root.manager.loggerDict):
        caplog.set_level(logging.DEBUG, logger=name)
    for name in ("sqlalchemy", "sqlalchemy.engine", "httpx", "httpcore", "uvicorn", "dases"):
        caplog.set_level(logging.DEBUG, logger=name)

    node = start_node()
    node.add_participant("acme", "Acme")
    signer = node.signer("acme")
    audience = node.did("acme")
    token = sign_call_token(signer, audience)
    with signed_client(signer, audience, base_url=node.url, timeout=10) as client:
        response = client.get("/identity/whoami")
        response_explicit = client.get("/identity/whoami", headers={"Authorization": f"Bearer {token}"}, auth=None)
    assert response.status_code == 200, response.text
    assert response_explicit.status_code == 200, response_explicit.text
    assert response.json()["did"] == signer.did

    secret = node.node.settings.node_secret
    assert secret is not None
    d = private_d(signer.key)
    text = caplog.text + "\n".join(repr(record.args) for record in caplog.records)
    assert "INSERT INTO participant_key" in text  # the SQL was logged: this check saw the key being stored
    assert d not in text
    assert repr(b64url_decode(d))[2:-1] not in text
    assert secret.get_secret_value() not in text


def test_generated_node_secret_is_private_and_reused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DASES_NODE_SECRET", raising=False)
    monkeypatch.delenv("DASES_CONFIG", raising=False)
    data_dir = tmp_path / "data"
    settings = Settings(data_dir=data_dir)
    assert settings.node_secret is None

    secret = settings.resolved_node_secret()
    path = data_dir / "node.secret"
    assert path.is_file()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(secret) >= 16
    KeySealer(secret)  # long enough to seal keys with

    assert settings.resolved_node_secret() == secret
    assert Settings(data_dir=data_dir).resolved_node_secret() == secret  # the next start reuses it
    assert Settings(data_dir=tmp_path / "other").resolved_node_secret() != secret


def test_configured_node_secret_writes_no_file(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", node_secret="configured-secret-0123456789")
    assert settings.resolved_node_secret() == b"configured-secret-0123456789"
    assert not (tmp_path / "data" / "node.secret").exists()
