"""Consent receipts: one signed statement per event of a record, the learner's proof.

The receipt's fields follow the consent record of ISO/IEC TS 27560 (who, what for, which data,
on what basis, which notice, when, until when, which status in DPV terms). It is signed by the
consent service's DID key (an `assertionMethod` key of its did:web document) as a compact JWS, so
anyone can check it later without asking the service, and old receipts still verify after a key
rotation.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dases.consent.models import ConsentEvent, ConsentRecord, ConsentStatus
from dases.consent.plain_language import DATA_CATEGORIES, LEGAL_BASES
from dases.consent.purposes import PurposeVocabulary
from dases.identity import jws
from dases.identity.keys import Signer
from dases.identity.resolver import DidResolver, ResolutionError

RECEIPT_TYPE = "dases-consent-receipt+jwt"
RECEIPT_SCHEMA = "https://w3id.org/dases/consent-receipt/v1"


@dataclass(frozen=True)
class Receipt:
    content: dict[str, Any]
    jws: str

    def as_json(self) -> dict[str, Any]:
        return {"receipt": self.content, "jws": self.jws, "media_type": "application/jose", "typ": RECEIPT_TYPE}


def receipt_content(record: ConsentRecord, event: ConsentEvent, vocabulary: PurposeVocabulary | None, issuer: str) -> dict[str, Any]:
    terms = record.notice_terms
    purpose = vocabulary.get(record.purpose) if vocabulary is not None else None
    status = ConsentStatus(event.status)
    return {
        "schema": RECEIPT_SCHEMA,
        "receipt_id": f"{record.id}/{event.seq}",
        "record_id": record.id,
        "event": event.seq,
        "status": status.value,
        "dpv_status": status.dpv,
        "event_time": event.at.isoformat(),
        "valid_until": event.valid_until.isoformat() if event.valid_until else None,
        "actor": event.actor,
        "data_subject": record.subject_id,
        "controller": {"id": record.provider_did, "name": terms.get("provider")},
        "recipient": {"id": record.consumer_did, "name": terms.get("consumer")},
        "purpose": {"id": record.purpose, "label": purpose.label if purpose else None},
        "personal_data_categories": [
            {"id": category, "iri": DATA_CATEGORIES.get(category, {}).get("iri")} for category in record.data_categories
        ],
        "legal_basis": {"id": record.legal_basis, "iri": LEGAL_BASES.get(record.legal_basis, {}).get("iri")},
        "notice_version": event.notice_version,
        "offering": terms.get("offering"),
        "issuer": issuer,
    }


def sign_receipt(record: ConsentRecord, event: ConsentEvent, vocabulary: PurposeVocabulary | None, signer: Signer, now: datetime) -> Receipt:
    content = receipt_content(record, event, vocabulary, signer.did)
    token = jws.sign({"typ": RECEIPT_TYPE}, {"iss": signer.did, "sub": record.subject_id, "iat": int(now.timestamp()), "receipt": content}, signer)
    return Receipt(content, token)


class ReceiptInvalid(ValueError):
    """The receipt does not verify; the message says why."""


def verify_receipt(token: str, resolver: DidResolver) -> dict[str, Any]:
    """The receipt's content if its signature verifies with an assertion key of its issuer."""
    try:
        parsed = jws.parse(token)
    except jws.MalformedJws as error:
        raise ReceiptInvalid(str(error)) from error
    issuer, kid = parsed.payload.get("iss"), parsed.header.get("kid")
    if parsed.header.get("typ") != RECEIPT_TYPE or not isinstance(issuer, str) or not isinstance(kid, str):
        raise ReceiptInvalid(f"not a consent receipt (typ {RECEIPT_TYPE}, iss and kid required)")
    try:
        jwk = resolver.verification_key(issuer, kid, "assertionMethod")
    except ResolutionError as error:
        raise ReceiptInvalid(f"the issuer {issuer} cannot be resolved: {error}") from error
    if jwk is None or not jws.signature_is_valid(parsed, jwk):
        raise ReceiptInvalid(f"the signature does not verify with {kid}")
    content = parsed.payload.get("receipt")
    if not isinstance(content, dict) or content.get("issuer") != issuer:
        raise ReceiptInvalid("the receipt content is missing or names another issuer")
    return content
