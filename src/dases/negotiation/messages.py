"""Dataspace Protocol 2025-1 negotiation messages: building them, and checking them.

Every message is checked structurally here (types, required members, pids). When the node is
given the DSP JSON Schemas (`DASES_DSP_SCHEMA_DIR`), each message sent and received is also
validated against them, offline, with `jsonschema` and a `referencing` registry.
"""

from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path
from typing import Any

from jsonschema import Draft201909Validator
from referencing import Registry, Resource

DSP_CONTEXT = "https://w3id.org/dspace/2025/1/context.jsonld"
DSP_SCHEMA_BASE = "https://w3id.org/dspace/2025/1/"
#: The extension member carrying the sender's detached JWS over the RFC 8785 form of the agreement.
AGREEMENT_SIGNATURE = "urn:dases:vocab:agreementSignature"

SCHEMA_FILES = {
    "ContractRequestMessage": "negotiation/contract-request-message-schema.json",
    "ContractOfferMessage": "negotiation/contract-offer-message-schema.json",
    "ContractAgreementMessage": "negotiation/contract-agreement-message-schema.json",
    "ContractAgreementVerificationMessage": "negotiation/contract-agreement-verification-message-schema.json",
    "ContractNegotiationEventMessage": "negotiation/contract-negotiation-event-message-schema.json",
    "ContractNegotiationTerminationMessage": "negotiation/contract-negotiation-termination-message-schema.json",
    "ContractNegotiation": "negotiation/contract-negotiation-schema.json",
    "ContractNegotiationError": "negotiation/contract-negotiation-error-schema.json",
    "CatalogRequestMessage": "catalog/catalog-request-message-schema.json",
    "Catalog": "catalog/catalog-schema.json",
    "Dataset": "catalog/dataset-schema.json",
    "CatalogError": "catalog/catalog-error-schema.json",
}


class MessageError(ValueError):
    """The message breaks the protocol; the text names the member and the rule."""


class DspSchemas:
    """The DSP JSON Schemas from a directory, resolved offline by their `$id`."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    @cached_property
    def _registry(self) -> Registry:
        resources = []
        for path in sorted(self.directory.rglob("*-schema.json")):
            contents = json.loads(path.read_text())
            resources.append((contents["$id"], Resource.from_contents(contents)))
        return Registry().with_resources(resources)

    def errors(self, message: dict[str, Any]) -> list[str]:
        kind = message.get("@type")
        relative = SCHEMA_FILES.get(kind) if isinstance(kind, str) else None
        if relative is None:
            return [f"@type {kind!r} is not a DSP message this node knows"]
        schema = self._registry.contents(DSP_SCHEMA_BASE + relative)
        validator = Draft201909Validator(schema, registry=self._registry)
        return [
            f"{'/'.join(str(part) for part in error.absolute_path) or '(message)'}: {error.message}"
            for error in sorted(validator.iter_errors(message), key=lambda e: list(e.absolute_path))
        ]


def _string(message: dict[str, Any], name: str, *, required: bool = True) -> str | None:
    value = message.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > 2048 or "\x00" in value:
        raise MessageError(f"{name} must be a non-empty string")
    return value


def check_message(message: Any, kind: str, schemas: DspSchemas | None) -> dict[str, Any]:
    """The message, if it is a well-formed `kind`; MessageError naming the problem otherwise."""
    if not isinstance(message, dict):
        raise MessageError("the message must be a JSON object")
    if message.get("@type") != kind:
        raise MessageError(f"@type must be {kind}")
    context = message.get("@context")
    if not isinstance(context, list) or DSP_CONTEXT not in context:
        raise MessageError(f"@context must be an array containing {DSP_CONTEXT}")
    if schemas is not None:
        problems = schemas.errors(message)
        if problems:
            raise MessageError("; ".join(problems[:5]))
    for name in ("consumerPid", "providerPid", "callbackAddress"):
        if name in message:
            _string(message, name)
    offer = message.get("offer")
    if kind in ("ContractRequestMessage", "ContractOfferMessage") and not isinstance(offer, dict):
        raise MessageError("offer must be an ODRL Offer object")
    if kind == "ContractAgreementMessage" and not isinstance(message.get("agreement"), dict):
        raise MessageError("agreement must be an ODRL Agreement object")
    if kind == "ContractNegotiationEventMessage" and message.get("eventType") not in ("ACCEPTED", "FINALIZED"):
        raise MessageError("eventType must be ACCEPTED or FINALIZED")
    return message


def envelope(kind: str, **members: Any) -> dict[str, Any]:
    """A DSP message of `kind` with the given members (None members left out)."""
    body: dict[str, Any] = {"@context": [DSP_CONTEXT], "@type": kind}
    body.update({name: value for name, value in members.items() if value is not None})
    return body


def negotiation_body(provider_pid: str, consumer_pid: str, state: str) -> dict[str, Any]:
    return envelope("ContractNegotiation", providerPid=provider_pid, consumerPid=consumer_pid, state=state)


def error_body(provider_pid: str | None, consumer_pid: str | None, code: str, reason: str) -> dict[str, Any]:
    return envelope(
        "ContractNegotiationError",
        providerPid=provider_pid or "unknown",
        consumerPid=consumer_pid or "unknown",
        code=code,
        reason=[reason],
    )
