"""The three shapes a statement is returned in (`format=exact|ids|canonical`).

`exact` is the stored text untouched. `ids` keeps only what identifies agents, groups, verbs and
activities. `canonical` swaps each activity definition for the store's canonical one and keeps,
in every language map, the one entry the caller's `Accept-Language` prefers.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy.orm import Session

from dases.lrs import service
from dases.lrs.agents import IFI_PROPERTIES

_LANGUAGE_MAPS = ("name", "description", "display")


def apply_format(session: Session, store: str, documents: list[str], fmt: str, accept_language: str | None) -> list[str]:
    if fmt == "exact" or not documents:
        return documents
    statements = [json.loads(document) for document in documents]
    if fmt == "ids":
        shaped = [_ids_statement(statement) for statement in statements]
    else:
        definitions = service.canonical_definitions(session, store, _activity_ids(statements))
        preferences = _preferences(accept_language)
        shaped = [_canonical_statement(statement, definitions, preferences) for statement in statements]
    return [service.dump_json(statement) for statement in shaped]


# -- ids ----------------------------------------------------------------------------------------


def _ids_agent(agent: dict[str, Any]) -> dict[str, Any]:
    shaped: dict[str, Any] = {"objectType": agent.get("objectType", "Agent")}
    for prop in IFI_PROPERTIES:
        if prop in agent:
            shaped[prop] = agent[prop]
    if shaped["objectType"] == "Group" and "member" in agent and not any(prop in agent for prop in IFI_PROPERTIES):
        shaped["member"] = [_ids_agent(member) for member in agent["member"]]
    return shaped


def _ids_object(target: dict[str, Any]) -> dict[str, Any]:
    kind = target.get("objectType", "Activity")
    if kind == "Activity":
        return {"id": target["id"]}
    if kind in ("Agent", "Group"):
        return _ids_agent(target)
    if kind == "SubStatement":
        return _ids_statement(target)
    return target


def _ids_context(context: dict[str, Any]) -> dict[str, Any]:
    shaped = dict(context)
    for prop in ("instructor", "team"):
        if prop in shaped:
            shaped[prop] = _ids_agent(shaped[prop])
    if "contextActivities" in shaped:
        shaped["contextActivities"] = {
            key: [{"id": activity["id"]} for activity in entries]
            for key, entries in shaped["contextActivities"].items()
        }
    if "contextAgents" in shaped:
        shaped["contextAgents"] = [{**entry, "agent": _ids_agent(entry["agent"])} for entry in shaped["contextAgents"]]
    if "contextGroups" in shaped:
        shaped["contextGroups"] = [{**entry, "group": _ids_agent(entry["group"])} for entry in shaped["contextGroups"]]
    return shaped


def _ids_statement(statement: dict[str, Any]) -> dict[str, Any]:
    shaped = dict(statement)
    shaped["actor"] = _ids_agent(statement["actor"])
    shaped["verb"] = {"id": statement["verb"]["id"]}
    shaped["object"] = _ids_object(statement["object"])
    if "context" in shaped:
        shaped["context"] = _ids_context(shaped["context"])
    if "authority" in shaped:
        shaped["authority"] = _ids_agent(shaped["authority"])
    return shaped


# -- canonical ----------------------------------------------------------------------------------


def _activity_ids(statements: list[dict[str, Any]]) -> set[str]:
    found: set[str] = set()

    def visit(statement: dict[str, Any]) -> None:
        target = statement["object"]
        kind = target.get("objectType", "Activity")
        if kind == "Activity":
            found.add(target["id"])
        elif kind == "SubStatement":
            visit(target)
        for entries in ((statement.get("context") or {}).get("contextActivities") or {}).values():
            found.update(activity["id"] for activity in entries)

    for statement in statements:
        visit(statement)
    return found


def _preferences(accept_language: str | None) -> list[str]:
    """Language ranges in the caller's order of preference (RFC 9110 q-values)."""
    if not accept_language:
        return []
    ranked = []
    for position, item in enumerate(accept_language.split(",")):
        tag, _, params = item.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        if tag and quality > 0:
            ranked.append((-quality, position, tag.strip().lower()))
    return [tag for _q, _p, tag in sorted(ranked)]


def _pick(language_map: dict[str, str], preferences: list[str]) -> dict[str, str]:
    if not language_map:
        return language_map
    lowered = {key.lower(): key for key in language_map}
    for wanted in preferences:
        if wanted == "*":
            break
        for candidate, original in lowered.items():
            if candidate == wanted or candidate.startswith(wanted + "-"):
                return {original: language_map[original]}
    first = next(iter(language_map))
    return {first: language_map[first]}


def _canonical_activity(activity: dict[str, Any], definitions: dict[str, dict[str, Any]], preferences: list[str]) -> dict[str, Any]:
    definition = definitions.get(activity["id"], activity.get("definition"))
    shaped = {"objectType": "Activity", "id": activity["id"]}
    if definition:
        shaped["definition"] = {key: _pick(value, preferences) if key in _LANGUAGE_MAPS else value for key, value in definition.items()}
    return shaped


def _canonical_statement(statement: dict[str, Any], definitions: dict[str, dict[str, Any]], preferences: list[str]) -> dict[str, Any]:
    shaped = dict(statement)
    verb = dict(statement["verb"])
    if "display" in verb:
        verb["display"] = _pick(verb["display"], preferences)
    shaped["verb"] = verb
    target = statement["object"]
    kind = target.get("objectType", "Activity")
    if kind == "Activity":
        shaped["object"] = _canonical_activity(target, definitions, preferences)
    elif kind == "SubStatement":
        shaped["object"] = _canonical_statement(target, definitions, preferences)
    context = statement.get("context")
    if context and "contextActivities" in context:
        shaped["context"] = {
            **context,
            "contextActivities": {
                key: [_canonical_activity(activity, definitions, preferences) for activity in entries]
                for key, entries in context["contextActivities"].items()
            },
        }
    return shaped
