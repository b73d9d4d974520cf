"""Dataspace Protocol 2025-1 transfer messages: building them, checking them, data addresses.

Every message is checked structurally here; with `DASES_DSP_SCHEMA_DIR` set, every message
sent and received is also validated against the DSP JSON Schemas (the same offline registry as
the negotiation's, extended with the transfer process types).
"""

from __future__ import annotations

import json
from functools import cached_property
from typing import Any

from jsonschema import Draft201909Validator
from referencing import Registry, Resource

from dases.negotiation.messages import (
    DSP_CONTEXT,
    DSP_SCHEMA_BASE,
    DspSchemas,
    MessageError,
    envelope,
)

SCHEMA_FILES = {
    "TransferRequestMessage": "transfer/transfer-request-message-schema.json",
    "TransferStartMessage": "transfer/transfer-start-message-schema.json",
    "TransferSuspensionMessage": "transfer/transfer-suspension-message-schema.json",
    "TransferCompletionMessage": "transfer/transfer-completion-message-schema.json",
    "TransferTerminationMessage": "transfer/transfer-termination-message-schema.json",
    "TransferProcess": "transfer/transfer-process-schema.json",
    "TransferError": "transfer/transfer-error-schema.json",
    "DataAddress": "transfer/data-address-schema.json",
}

#: The DataAddress endpoint type of plain HTTP(S), as the DSP examples name it.
HTTP_ENDPOINT = "https://w3id.org/idsa/v4.1/HTTP"
PULL = "HttpData-PULL"
PUSH = "HttpData-PUSH"
FORMATS = (PULL, PUSH)

__all__ = ["DSP_CONTEXT", "MessageError", "TransferSchemas", "check_message", "envelope"]


def _fix_anchors(node: Any) -> Any:
    """`#definitions/X` -> `#/definitions/X`: three DSP 2025-1 transfer schemas write their
    `$ref` fragment without the slash a JSON Pointer needs, which validators reject."""
    if isinstance(node, dict):
        return {key: (value.replace("#definitions/", "#/definitions/") if key == "$ref" and isinstance(value, str) else _fix_anchors(value)) for key, value in node.items()}
    if isinstance(node, list):
        return [_fix_anchors(item) for item in node]
    return node


class TransferSchemas(DspSchemas):
    """The DSP JSON Schemas, for the transfer process messages too."""

    @cached_property
    def _registry(self) -> Registry:
        resources = []
        for path in sorted(self.directory.rglob("*-schema.json")):
            contents = _fix_anchors(json.loads(path.read_text()))
            resources.append((contents["$id"], Resource.from_contents(contents)))
        return Registry().with_resources(resources)

    def errors(self, message: dict[str, Any]) -> list[str]:
        kind = message.get("@type")
        relative = SCHEMA_FILES.get(kind) if isinstance(kind, str) else None
        if relative is None:
            return super().errors(message)
        registry = self._registry
        validator = Draft201909Validator(registry.contents(DSP_SCHEMA_BASE + relative), registry=registry)
        return [
            f"{'/'.join(str(part) for part in error.absolute_path) or '(message)'}: {error.message}"
            for error in sorted(validator.iter_errors(message), key=lambda e: list(e.absolute_path))
        ]


#: Longest value of each member the node stores (its column size).
MAX_LENGTHS = {"consumerPid": 200, "providerPid": 200, "agreementId": 200, "format": 64, "callbackAddress": 2048}


def _string(message: dict[str, Any], name: str) -> None:
    value = message.get(name)
    limit = MAX_LENGTHS.get(name, 2048)
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise MessageError(f"{name} must be a non-empty string of at most {limit} characters")


def _has_nul(node: Any) -> bool:
    """Whether a NUL character hides anywhere in the message (PostgreSQL cannot store one)."""
    if isinstance(node, str):
        return "\x00" in node
    if isinstance(node, dict):
        return any(_has_nul(key) or _has_nul(value) for key, value in node.items())
    if isinstance(node, list):
        return any(_has_nul(item) for item in node)
    return False


def check_message(message: Any, kind: str, schemas: TransferSchemas | None) -> dict[str, Any]:
    """The message, if it is a well-formed `kind`; MessageError naming the problem otherwise."""
    if not isinstance(message, dict):
        raise MessageError("the message must be a JSON object")
    if _has_nul(message):
        raise MessageError("the message must not contain NUL (U+0000) characters")
    if message.get("@type") != kind:
        raise MessageError(f"@type must be {kind}")
    context = message.get("@context")
    if not isinstance(context, list) or DSP_CONTEXT not in context:
        raise MessageError(f"@context must be an array containing {DSP_CONTEXT}")
    if schemas is not None:
        problems = schemas.errors(message)
        if problems:
            raise MessageError("; ".join(problems[:5]))
    required = ("consumerPid", "agreementId", "format", "callbackAddress") if kind == "TransferRequestMessage" else ("providerPid", "consumerPid")
    for name in required:
        _string(message, name)
    if "dataAddress" in message:
        read_data_address(message["dataAddress"])
    reason = message.get("reason")
    if reason is not None and (not isinstance(reason, list) or not reason):
        raise MessageError("reason must be a non-empty array")
    if "code" in message and (not isinstance(message["code"], str) or len(message["code"]) > 64):
        raise MessageError("code must be a string of at most 64 characters")
    return message


def process_body(provider_pid: str, consumer_pid: str, state: str) -> dict[str, Any]:
    return envelope("TransferProcess", providerPid=provider_pid, consumerPid=consumer_pid, state=state)


def error_body(provider_pid: str | None, consumer_pid: str | None, code: str, reason: str) -> dict[str, Any]:
    return envelope("TransferError", providerPid=provider_pid or "unknown", consumerPid=consumer_pid or "unknown", code=code, reason=[reason])


def data_address(endpoint: str, properties: dict[str, str]) -> dict[str, Any]:
    """An HTTP DataAddress: the endpoint, and its properties (token, digest, size...) as strings."""
    address: dict[str, Any] = {"@type": "DataAddress", "endpointType": HTTP_ENDPOINT, "endpoint": endpoint}
    if properties:
        address["endpointProperties"] = [{"@type": "EndpointProperty", "name": name, "value": value} for name, value in properties.items()]
    return address


def read_data_address(address: Any) -> tuple[str, dict[str, str]]:
    """The endpoint and properties of an HTTP DataAddress, or MessageError."""
    if not isinstance(address, dict) or address.get("@type") != "DataAddress":
        raise MessageError("dataAddress must be a DataAddress object")
    if address.get("endpointType") != HTTP_ENDPOINT:
        raise MessageError(f"dataAddress.endpointType must be {HTTP_ENDPOINT}")
    endpoint = address.get("endpoint")
    if not isinstance(endpoint, str) or not endpoint.startswith(("http://", "https://")) or len(endpoint) > 2048:
        raise MessageError("dataAddress.endpoint must be an http(s) URL")
    properties: dict[str, str] = {}
    for item in address.get("endpointProperties", []) or []:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not isinstance(item.get("value"), str):
            raise MessageError("dataAddress.endpointProperties must be EndpointProperty objects with string name and value")
        properties[item["name"]] = item["value"]
    return endpoint, properties
