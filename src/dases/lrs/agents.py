"""Agents and groups: the one canonical key an inverse functional identifier (IFI) is stored and
looked up under, whatever the JSON around it (name, objectType, member order)."""

from __future__ import annotations

from typing import Any

IFI_PROPERTIES = ("mbox", "mbox_sha1sum", "openid", "account")


def agent_key(agent: dict[str, Any]) -> str | None:
    """`mbox:mailto:a@b`, `mbox_sha1sum:<hex>`, `openid:<iri>` or `account:<homePage> <name>`;
    None for an anonymous group. An IRI holds no space, so the account form splits unambiguously.
    Expects an agent that has passed validation (exactly one IFI)."""
    for prop in IFI_PROPERTIES:
        value = agent.get(prop)
        if value is None:
            continue
        if prop == "account":
            return f"account:{value['homePage']} {value['name']}"
        return f"{prop}:{value}"
    return None


def agent_from_key(key: str) -> dict[str, Any]:
    """The minimal agent JSON for a canonical key: the inverse of `agent_key`."""
    prop, _, value = key.partition(":")
    if prop == "account":
        home_page, _, name = value.partition(" ")
        return {"objectType": "Agent", "account": {"homePage": home_page, "name": name}}
    return {"objectType": "Agent", prop: value}


def group_member_keys(actor: dict[str, Any]) -> list[str]:
    """Keys of a group's identified members (an agent has none)."""
    if actor.get("objectType") != "Group":
        return []
    keys = (agent_key(member) for member in actor.get("member") or [])
    return [key for key in keys if key is not None]
