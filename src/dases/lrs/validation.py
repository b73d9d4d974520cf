"""Statement validation for xAPI 1.0.3 and xAPI 2.0 (IEEE 9274.1.1), written by hand for speed.

Every statement of a batch passes through here before it is stored, so the checks are plain
functions over dicts with precompiled regexes and set lookups: no schema engine, no model classes.
The first broken rule raises `BadRequest` with one `FieldError` naming the dotted path of the field
(`statement.context.contextActivities.parent[0].id`) and a short kebab-case rule, so a client
learns exactly what to fix and the LRS answers 400 as the specification requires.

The rules follow the specification's data model: only the properties it defines (anything else is
refused, so a misspelt `Timestamp` is not silently dropped), each property of its JSON type, IRIs
with a scheme, UUIDs, RFC 5646 language tags, ISO 8601 timestamps and durations, exactly one
inverse functional identifier per Agent, and the cross-field rules (score range, voiding,
`revision`/`platform` only for Activities, no nested SubStatement, OAuth authority groups). The
2.0-only `contextAgents` and `contextGroups` are refused under 1.0.3.
"""

from __future__ import annotations

import calendar
import math
import re
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn

from dases.errors import BadRequest, FieldError

# -- error reporting -----------------------------------------------------------------------------


def _fail(field: str, rule: str, message: str) -> NoReturn:
    """Raise the one 400 a broken rule produces; validation stops at the first problem."""
    raise BadRequest(f"{field} is invalid ({rule}): {message}.", errors=[FieldError(field, rule, message)])


def _json_type(value: object) -> str:
    """The JSON name of a Python value's type, for messages a client can act on."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _type_error(field: str, expected: str, value: object) -> NoReturn:
    _fail(field, "type", f"must be {expected}, not {_json_type(value)}")


def _unknown_property(obj: dict[str, Any], allowed: frozenset[str], path: str, what: str) -> NoReturn:
    """Name the first property of `obj` that `allowed` lacks (called once the fast check failed)."""
    for key in obj:
        if key not in allowed:
            _fail(f"{path}.{key}", "unknown-property", f"{what} has no property {key!r}")
    raise AssertionError("no unknown property")  # pragma: no cover


# -- primitive formats ---------------------------------------------------------------------------

_UUID_RE = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
#: RFC 3987 absolute IRI, loosely: a scheme, a colon, then no whitespace, controls or `<>"{}|\^``.
_IRI_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:[^\s\x00-\x1f\x7f<>\"{}|\\^`]+")
_BAD_PERCENT_RE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_MAILTO_RE = re.compile(r"mailto:[^\s@<>\"(),;:\\\[\]]+@[^\s@<>\"(),;:\\\[\]/?#]+")
_SHA1_RE = re.compile(r"[0-9a-fA-F]{40}")
_HEX_RE = re.compile(r"[0-9a-fA-F]+")
_SHA2_LENGTHS = frozenset({56, 64, 96, 128})
_MEDIA_TYPE_RE = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+/[!#$%&'*+.^_`|~0-9A-Za-z-]+(?:\s*;.*)?", re.DOTALL)

#: ISO 8601 date-time, extended or basic; seconds and fraction optional; offset Z, ±hh:mm, ±hhmm, ±hh.
_OFFSET = r"(?:(?P<z>[Zz])|(?P<sign>[+-])(?P<oh>[01]\d|2[0-3])(?::?(?P<om>[0-5]\d))?)?"
_TS_EXTENDED_RE = re.compile(
    r"(?P<y>\d{4})-(?P<mo>0[1-9]|1[0-2])-(?P<d>0[1-9]|[12]\d|3[01])[Tt]"
    r"(?P<h>[01]\d|2[0-3]):(?P<mi>[0-5]\d)(?::(?P<s>[0-5]\d)(?:[.,](?P<f>\d+))?)?" + _OFFSET
)
_TS_BASIC_RE = re.compile(
    r"(?P<y>\d{4})(?P<mo>0[1-9]|1[0-2])(?P<d>0[1-9]|[12]\d|3[01])[Tt]"
    r"(?P<h>[01]\d|2[0-3])(?P<mi>[0-5]\d)(?:(?P<s>[0-5]\d)(?:[.,](?P<f>\d+))?)?" + _OFFSET
)

#: ISO 8601:2004 4.4.3.2 duration: PnYnMnDTnHnMnS or PnW (the alternative format is refused).
_NUM = r"\d+(?:[.,]\d+)?"
_DURATION_RE = re.compile(
    rf"P(?:{_NUM}W|(?=\d|T\d)(?:{_NUM}Y)?(?:{_NUM}M)?(?:{_NUM}D)?"
    rf"(?:T(?=\d)(?:{_NUM}H)?(?:{_NUM}M)?(?:{_NUM}S)?)?)"
)
_DURATION_FRACTION_LAST_RE = re.compile(r"[^.,]*[.,]\d+[WYMDHS]")

#: RFC 5646 language tag (case-insensitive); uniqueness of variants and singletons checked apart.
_LANGUAGE_TAG_RE = re.compile(
    r"""
    (?:
      (?:[a-z]{2,3}(?:-[a-z]{3}){0,3}|[a-z]{4,8})   # language, extended language subtags
      (?:-[a-z]{4})?                               # script
      (?:-(?:[a-z]{2}|\d{3}))?                     # region
      (?P<variants>(?:-(?:[a-z\d]{5,8}|\d[a-z\d]{3}))*)
      (?P<extensions>(?:-[\da-wy-z](?:-[a-z\d]{2,8})+)*)
      (?:-x(?:-[a-z\d]{1,8})+)?                    # private use
    | x(?:-[a-z\d]{1,8})+                          # private use only
    )
    """,
    re.IGNORECASE | re.VERBOSE,
)
#: RFC 5646 irregular grandfathered tags (the regular ones match the grammar), lower-cased.
_IRREGULAR_TAGS = frozenset(
    {
        "en-gb-oed", "i-ami", "i-bnn", "i-default", "i-enochian", "i-hak", "i-klingon", "i-lux",
        "i-mingo", "i-navajo", "i-pwn", "i-tao", "i-tay", "i-tsu", "sgn-be-fr", "sgn-be-nl", "sgn-ch-de",
    }
)
#: Tags seen so far: a statement stream repeats the same few, and the regex costs more than a lookup.
_LANGUAGE_TAG_CACHE: dict[str, bool] = {}
_CACHE_LIMIT = 4096
_KNOWN_IRIS: set[str] = set()
_IRI_CACHE_LIMIT = 65536


def is_uuid(value: str) -> bool:
    """A UUID in its hyphenated string form, any variant or version, either case (RFC 4122)."""
    return isinstance(value, str) and len(value) == 36 and _UUID_RE.fullmatch(value) is not None


def is_iri(value: str) -> bool:
    """An absolute IRI: a scheme (letter, then letters, digits, `+-.`), a colon and no whitespace.

    `example.com/verb` (no scheme) and `ab=c://x` (invalid scheme) are refused, as the conformance
    suite requires; percent signs must start a valid `%XX` escape."""
    return isinstance(value, str) and (value in _KNOWN_IRIS or _iri_well_formed(value))


def _iri_well_formed(value: str) -> bool:
    """The regex check behind `is_iri`, remembering IRIs that pass: verbs, activity types and
    extension keys repeat across a stream, and a set lookup is ten times cheaper than the regex."""
    if _IRI_RE.fullmatch(value) is None or ("%" in value and _BAD_PERCENT_RE.search(value) is not None):
        return False
    if len(_KNOWN_IRIS) >= _IRI_CACHE_LIMIT:
        _KNOWN_IRIS.clear()
    _KNOWN_IRIS.add(value)
    return True


def is_language_tag(value: str) -> bool:
    """A well-formed RFC 5646 language tag (`en`, `zh-Hant-TW`, `sr-Latn-RS`, `x-private`)."""
    if not isinstance(value, str):
        return False
    known = _LANGUAGE_TAG_CACHE.get(value)
    if known is None:
        known = _language_tag_well_formed(value)
        if len(_LANGUAGE_TAG_CACHE) >= _CACHE_LIMIT:
            _LANGUAGE_TAG_CACHE.clear()
        _LANGUAGE_TAG_CACHE[value] = known
    return known


def _language_tag_well_formed(value: str) -> bool:
    """RFC 5646 section 2.2.9: the grammar, plus no repeated variant and no repeated singleton."""
    if value.lower() in _IRREGULAR_TAGS:
        return True
    match = _LANGUAGE_TAG_RE.fullmatch(value)
    if match is None:
        return False
    variants = (match.group("variants") or "").lower().split("-")[1:]
    if len(set(variants)) != len(variants):
        return False
    singletons = [part for part in (match.group("extensions") or "").lower().split("-") if len(part) == 1]
    return len(set(singletons)) == len(singletons)


def _timestamp_match(value: str) -> re.Match[str] | None:
    """The ISO 8601 match of a timestamp, refusing impossible dates and the `-00` offsets.

    ISO 8601 forbids a negative zero offset (RFC 3339 gives it the meaning 'unknown local
    offset'), and the conformance suite requires `-00`, `-0000` and `-00:00` to be refused."""
    match = _TS_EXTENDED_RE.fullmatch(value) or _TS_BASIC_RE.fullmatch(value)
    if match is None:
        return None
    if match.group("sign") == "-" and match.group("oh") == "00" and match.group("om") in (None, "00"):
        return None
    if match.group("y") == "0000":  # year 0 has no datetime; no learning happened then either
        return None
    day = match.group("d")
    if day > "28" and int(day) > calendar.monthrange(int(match.group("y")), int(match.group("mo")))[1]:
        return None
    return match


def parse_timestamp(value: str) -> datetime:
    """An ISO 8601 timestamp as an aware UTC datetime; one without an offset is taken as UTC
    (xAPI only says a timestamp SHOULD carry its time zone, in 1.0.3 and 2.0 alike).

    Digits beyond microseconds are dropped (the specification asks for millisecond precision)."""
    match = _timestamp_match(value) if isinstance(value, str) else None
    if match is None:
        _fail("timestamp", "iso8601-timestamp", f"{value!r} is not an ISO 8601 timestamp")
    fraction = match.group("f") or ""
    moment = datetime(
        int(match.group("y")),
        int(match.group("mo")),
        int(match.group("d")),
        int(match.group("h")),
        int(match.group("mi")),
        int(match.group("s") or 0),
        int((fraction + "000000")[:6]),
        tzinfo=UTC,
    )
    if match.group("sign"):
        offset = timedelta(hours=int(match.group("oh")), minutes=int(match.group("om") or 0))
        try:
            moment = moment - offset if match.group("sign") == "+" else moment + offset
        except OverflowError:
            _fail("timestamp", "iso8601-timestamp", f"{value!r} falls outside years 1 to 9999 in UTC")
    return moment


def _is_duration(value: str) -> bool:
    """ISO 8601 duration; only the last component may carry a decimal fraction."""
    if _DURATION_RE.fullmatch(value) is None:
        return False
    if "." in value or "," in value:
        return value.count(".") + value.count(",") == 1 and _DURATION_FRACTION_LAST_RE.fullmatch(value) is not None
    return True


def _is_number(value: object) -> bool:
    """A finite JSON number (booleans are ints in Python, and json accepts NaN; neither counts)."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    return isinstance(value, float) and math.isfinite(value)


# -- leaf checks used throughout -----------------------------------------------------------------


def _string(value: object, field: str) -> None:
    if not isinstance(value, str):
        _type_error(field, "a string", value)


def _iri(value: object, field: str) -> None:
    if not isinstance(value, str):
        _type_error(field, "an IRI string", value)
    if value not in _KNOWN_IRIS and not _iri_well_formed(value):
        _fail(field, "iri", f"{value!r} is not an absolute IRI (a scheme such as http: is required)")


def _uuid(value: object, field: str) -> None:
    if not isinstance(value, str):
        _type_error(field, "a UUID string", value)
    if not is_uuid(value):
        _fail(field, "uuid", f"{value!r} is not a UUID in hyphenated form")


def _timestamp(value: object, field: str) -> None:
    if not isinstance(value, str):
        _type_error(field, "an ISO 8601 timestamp string", value)
    if _timestamp_match(value) is None:
        _fail(field, "iso8601-timestamp", f"{value!r} is not an ISO 8601 timestamp")


def _language_map(value: object, field: str) -> None:
    """Keys are RFC 5646 tags, values strings."""
    if not isinstance(value, dict):
        _type_error(field, "a language map object", value)
    for tag, text in value.items():
        if not is_language_tag(tag):
            _fail(f"{field}.{tag}", "language-tag", f"{tag!r} is not an RFC 5646 language tag")
        if not isinstance(text, str):
            _type_error(f"{field}.{tag}", "a string", text)


def _extensions(value: object, field: str) -> None:
    """Keys are IRIs; values are any JSON, null included."""
    if not isinstance(value, dict):
        _type_error(field, "an extensions object", value)
    for key in value:
        if key not in _KNOWN_IRIS and not _iri_well_formed(key):
            _fail(f"{field}.{key}", "iri", f"extension key {key!r} is not an absolute IRI")


def _object_of(value: object, field: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        _type_error(field, "an object", value)
    return value


# -- agents and groups ---------------------------------------------------------------------------

_AGENT_KEYS = frozenset({"objectType", "name", "mbox", "mbox_sha1sum", "openid", "account"})
_GROUP_KEYS = _AGENT_KEYS | {"member"}
_ACCOUNT_KEYS = frozenset({"homePage", "name"})


def _ifi_count(actor: dict[str, Any]) -> int:
    return ("mbox" in actor) + ("mbox_sha1sum" in actor) + ("openid" in actor) + ("account" in actor)


def _ifi(actor: dict[str, Any], path: str) -> None:
    """Validate whichever inverse functional identifier `actor` carries (the caller counted them)."""
    if "mbox" in actor:
        value = actor["mbox"]
        if not isinstance(value, str):
            _type_error(f"{path}.mbox", "a mailto: IRI string", value)
        if _MAILTO_RE.fullmatch(value) is None:
            _fail(f"{path}.mbox", "mailto-iri", f"{value!r} is not mailto: followed by an email address")
    elif "mbox_sha1sum" in actor:
        value = actor["mbox_sha1sum"]
        if not isinstance(value, str):
            _type_error(f"{path}.mbox_sha1sum", "a string", value)
        if _SHA1_RE.fullmatch(value) is None:
            _fail(f"{path}.mbox_sha1sum", "sha1-hex", "must be the 40 hex digits of a SHA-1 hash")
    elif "openid" in actor:
        value = actor["openid"]
        if not isinstance(value, str):
            _type_error(f"{path}.openid", "a URI string", value)
        if not is_iri(value):
            _fail(f"{path}.openid", "uri", f"{value!r} is not an absolute URI")
    else:
        _account(actor["account"], f"{path}.account")


def _account(account: object, path: str) -> None:
    account = _object_of(account, path)
    if not _ACCOUNT_KEYS.issuperset(account):
        _unknown_property(account, _ACCOUNT_KEYS, path, "an account")
    if "homePage" not in account:
        _fail(f"{path}.homePage", "required", "an account needs homePage")
    if "name" not in account:
        _fail(f"{path}.name", "required", "an account needs name")
    home_page = account["homePage"]
    if not isinstance(home_page, str):
        _type_error(f"{path}.homePage", "an IRL string", home_page)
    if not is_iri(home_page):
        _fail(f"{path}.homePage", "irl", f"{home_page!r} is not an absolute IRL")
    _string(account["name"], f"{path}.name")


def _agent(agent: dict[str, Any], path: str) -> None:
    """An Agent: optional objectType 'Agent', optional name, exactly one IFI."""
    if not _AGENT_KEYS.issuperset(agent):
        _unknown_property(agent, _AGENT_KEYS, path, "an Agent")
    if "name" in agent and not isinstance(agent["name"], str):
        _type_error(f"{path}.name", "a string", agent["name"])
    if _ifi_count(agent) != 1:
        _fail(path, "exactly-one-ifi", "an Agent needs exactly one of mbox, mbox_sha1sum, openid, account")
    _ifi(agent, path)


def _group(group: dict[str, Any], path: str) -> tuple[bool, int]:
    """A Group (objectType already 'Group'): at most one IFI, members Agents; an anonymous one
    needs members. Returns (identified, member count) for the authority and query rules."""
    if not _GROUP_KEYS.issuperset(group):
        _unknown_property(group, _GROUP_KEYS, path, "a Group")
    if "name" in group and not isinstance(group["name"], str):
        _type_error(f"{path}.name", "a string", group["name"])
    ifis = _ifi_count(group)
    if ifis > 1:
        _fail(path, "exactly-one-ifi", "a Group has at most one of mbox, mbox_sha1sum, openid, account")
    if ifis:
        _ifi(group, path)
    members = group.get("member")
    if "member" in group:
        if not isinstance(members, list):
            _type_error(f"{path}.member", "an array of Agents", members)
        for index, member in enumerate(members):
            _member(member, f"{path}.member[{index}]")
    if not ifis and not members:
        _fail(f"{path}.member", "required", "an anonymous Group needs at least one member")
    return bool(ifis), len(members) if members else 0


def _member(member: object, path: str) -> None:
    member = _object_of(member, path)
    object_type = member.get("objectType", "Agent")
    if object_type != "Agent":
        if object_type == "Group":
            _fail(f"{path}.objectType", "group-member", "a Group's members must be Agents, not Groups")
        _fail(f"{path}.objectType", "object-type", f"{object_type!r} is not 'Agent'")
    _agent(member, path)


def _actor(actor: object, path: str) -> None:
    """An Agent or a Group, told apart by objectType (absent means Agent)."""
    actor = _object_of(actor, path)
    object_type = actor.get("objectType", "Agent")
    if object_type == "Agent":
        if "member" in actor:
            _fail(f"{path}.member", "unknown-property", "an Agent has no member; set objectType 'Group'")
        _agent(actor, path)
    elif object_type == "Group":
        _group(actor, path)
    else:
        _fail(f"{path}.objectType", "object-type", f"{object_type!r} is not 'Agent' or 'Group'")


def _authority(authority: object, path: str) -> None:
    """An Agent, or the anonymous two-Agent Group of an OAuth consumer and its user."""
    authority = _object_of(authority, path)
    if authority.get("objectType") == "Group":
        identified, members = _group(authority, path)
        if identified or members != 2:
            _fail(path, "oauth-authority", "a Group authority must be anonymous with exactly two Agents")
    else:
        _actor(authority, path)


def validate_agent(value: object, field: str, version: str) -> None:
    """An `agent` query parameter or document API agent: an Agent, or a Group with one IFI.

    An anonymous Group has no identity to file documents or filter statements under, so it is
    refused here although a statement may carry one. The rules are the same in 1.0.3 and 2.0;
    `version` is checked only to catch a caller passing something else."""
    _is_v2(version)
    agent = _object_of(value, field)
    if agent.get("objectType") == "Group":
        identified, _ = _group(agent, field)
        if not identified:
            _fail(field, "exactly-one-ifi", "an identified Group (one of mbox, mbox_sha1sum, openid, account) is required")
    else:
        _actor(agent, field)


# -- verb and objects ----------------------------------------------------------------------------

_VERB_KEYS = frozenset({"id", "display"})
_ACTIVITY_KEYS = frozenset({"objectType", "id", "definition"})
_DEFINITION_KEYS = frozenset(
    {
        "name",
        "description",
        "type",
        "moreInfo",
        "extensions",
        "interactionType",
        "correctResponsesPattern",
        "choices",
        "scale",
        "source",
        "target",
        "steps",
    }
)
_INTERACTION_TYPES = frozenset(
    {"true-false", "choice", "fill-in", "long-fill-in", "matching", "performance", "sequencing", "likert", "numeric", "other"}
)
_INTERACTION_PROPERTIES = frozenset({"correctResponsesPattern", "choices", "scale", "source", "target", "steps"})
_COMPONENT_LISTS = ("choices", "scale", "source", "target", "steps")
_COMPONENT_KEYS = frozenset({"id", "description"})
_STATEMENT_REF_KEYS = frozenset({"objectType", "id"})
#: Properties that show an object without objectType is not the Activity it defaults to.
_NOT_ACTIVITY_HINTS = frozenset({"mbox", "mbox_sha1sum", "openid", "account", "member", "actor", "verb", "object"})
VOIDED_VERB = "http://adlnet.gov/expapi/verbs/voided"


def _verb(verb: object, path: str) -> str:
    verb = _object_of(verb, path)
    if not _VERB_KEYS.issuperset(verb):
        _unknown_property(verb, _VERB_KEYS, path, "a Verb")
    if "id" not in verb:
        _fail(f"{path}.id", "required", "a Verb needs id")
    verb_id = verb["id"]
    _iri(verb_id, f"{path}.id")
    if "display" in verb:
        _language_map(verb["display"], f"{path}.display")
    return verb_id


def _activity(activity: dict[str, Any], path: str) -> None:
    if not _ACTIVITY_KEYS.issuperset(activity):
        _unknown_property(activity, _ACTIVITY_KEYS, path, "an Activity")
    if "id" not in activity:
        _fail(f"{path}.id", "required", "an Activity needs id")
    _iri(activity["id"], f"{path}.id")
    if "definition" in activity:
        _definition(activity["definition"], f"{path}.definition")


def _definition(definition: object, path: str) -> None:
    definition = _object_of(definition, path)
    if not _DEFINITION_KEYS.issuperset(definition):
        _unknown_property(definition, _DEFINITION_KEYS, path, "an Activity definition")
    if "name" in definition:
        _language_map(definition["name"], f"{path}.name")
    if "description" in definition:
        _language_map(definition["description"], f"{path}.description")
    if "type" in definition:
        _iri(definition["type"], f"{path}.type")
    if "moreInfo" in definition:
        more_info = definition["moreInfo"]
        if not isinstance(more_info, str):
            _type_error(f"{path}.moreInfo", "an IRL string", more_info)
        if not is_iri(more_info):
            _fail(f"{path}.moreInfo", "irl", f"{more_info!r} is not an absolute IRL")
    if "extensions" in definition:
        _extensions(definition["extensions"], f"{path}.extensions")
    if "interactionType" in definition or not _INTERACTION_PROPERTIES.isdisjoint(definition):
        _interaction(definition, path)


def _interaction(definition: dict[str, Any], path: str) -> None:
    """interactionType from the fixed vocabulary; the interaction properties need it."""
    if "interactionType" in definition:
        interaction_type = definition["interactionType"]
        if not isinstance(interaction_type, str) or interaction_type not in _INTERACTION_TYPES:
            _fail(
                f"{path}.interactionType",
                "interaction-type",
                f"{interaction_type!r} is not one of {', '.join(sorted(_INTERACTION_TYPES))}",
            )
    else:
        name = next(name for name in definition if name in _INTERACTION_PROPERTIES)
        _fail(f"{path}.interactionType", "required", f"{name} is only allowed with an interactionType")
    if "correctResponsesPattern" in definition:
        patterns = definition["correctResponsesPattern"]
        if not isinstance(patterns, list):
            _type_error(f"{path}.correctResponsesPattern", "an array of strings", patterns)
        for index, pattern in enumerate(patterns):
            _string(pattern, f"{path}.correctResponsesPattern[{index}]")
    for name in _COMPONENT_LISTS:
        if name in definition:
            _components(definition[name], f"{path}.{name}")


def _components(components: object, path: str) -> None:
    """Interaction components: {id, description}, ids distinct within the list."""
    if not isinstance(components, list):
        _type_error(path, "an array of interaction components", components)
    seen: set[str] = set()
    for index, component in enumerate(components):
        where = f"{path}[{index}]"
        component = _object_of(component, where)
        if not _COMPONENT_KEYS.issuperset(component):
            _unknown_property(component, _COMPONENT_KEYS, where, "an interaction component")
        if "id" not in component:
            _fail(f"{where}.id", "required", "an interaction component needs id")
        component_id = component["id"]
        _string(component_id, f"{where}.id")
        if component_id in seen:
            _fail(f"{where}.id", "duplicate-id", f"id {component_id!r} is used twice in this list")
        seen.add(component_id)
        if "description" in component:
            _language_map(component["description"], f"{where}.description")


def _statement_ref(ref: object, path: str) -> None:
    """{objectType: 'StatementRef', id: UUID}."""
    ref = _object_of(ref, path)
    if not _STATEMENT_REF_KEYS.issuperset(ref):
        _unknown_property(ref, _STATEMENT_REF_KEYS, path, "a StatementRef")
    if ref.get("objectType") != "StatementRef":
        _fail(f"{path}.objectType", "object-type", "a statement reference needs objectType 'StatementRef'")
    if "id" not in ref:
        _fail(f"{path}.id", "required", "a StatementRef needs id")
    _uuid(ref["id"], f"{path}.id")


def _object(obj: object, path: str, v2: bool, in_substatement: bool) -> str:
    """The statement's object, dispatched on objectType (absent means Activity); returns the type."""
    obj = _object_of(obj, path)
    object_type = obj.get("objectType", "Activity")
    if object_type == "Activity":
        if "objectType" not in obj and not _NOT_ACTIVITY_HINTS.isdisjoint(obj):
            _fail(f"{path}.objectType", "required", "an Agent, Group or SubStatement object needs objectType")
        _activity(obj, path)
    elif object_type == "Agent":
        _agent(obj, path)
    elif object_type == "Group":
        _group(obj, path)
    elif object_type == "StatementRef":
        _statement_ref(obj, path)
    elif object_type == "SubStatement":
        if in_substatement:
            _fail(f"{path}.objectType", "nested-substatement", "a SubStatement cannot contain a SubStatement")
        _substatement(obj, path, v2)
    else:
        _fail(
            f"{path}.objectType",
            "object-type",
            f"{object_type!r} is not one of Activity, Agent, Group, StatementRef, SubStatement",
        )
    return object_type


# -- result, context, attachments ----------------------------------------------------------------

_RESULT_KEYS = frozenset({"score", "success", "completion", "response", "duration", "extensions"})
_SCORE_KEYS = frozenset({"scaled", "raw", "min", "max"})
_CONTEXT_KEYS = frozenset(
    {"registration", "instructor", "team", "contextActivities", "revision", "platform", "language", "statement", "extensions"}
)
_V2_CONTEXT_KEYS = frozenset({"contextAgents", "contextGroups"})
_CONTEXT_KEYS_V2 = _CONTEXT_KEYS | _V2_CONTEXT_KEYS
_CONTEXT_ACTIVITY_KEYS = frozenset({"parent", "grouping", "category", "other"})
_CONTEXT_AGENT_KEYS = frozenset({"objectType", "agent", "relevantTypes"})
_CONTEXT_GROUP_KEYS = frozenset({"objectType", "group", "relevantTypes"})
_ATTACHMENT_KEYS = frozenset({"usageType", "display", "description", "contentType", "length", "sha2", "fileUrl"})
_ATTACHMENT_REQUIRED = ("usageType", "display", "contentType", "length", "sha2")


def _result(result: object, path: str) -> None:
    result = _object_of(result, path)
    if not _RESULT_KEYS.issuperset(result):
        _unknown_property(result, _RESULT_KEYS, path, "a Result")
    if "score" in result:
        _score(result["score"], f"{path}.score")
    for name in ("success", "completion"):
        if name in result and not isinstance(result[name], bool):
            _type_error(f"{path}.{name}", "a boolean", result[name])
    if "response" in result:
        _string(result["response"], f"{path}.response")
    if "duration" in result:
        duration = result["duration"]
        if not isinstance(duration, str):
            _type_error(f"{path}.duration", "an ISO 8601 duration string", duration)
        if not _is_duration(duration):
            _fail(f"{path}.duration", "iso8601-duration", f"{duration!r} is not an ISO 8601 duration")
    if "extensions" in result:
        _extensions(result["extensions"], f"{path}.extensions")


def _score(score: object, path: str) -> None:
    """Numbers; -1 <= scaled <= 1; min < max; min <= raw <= max."""
    score = _object_of(score, path)
    if not _SCORE_KEYS.issuperset(score):
        _unknown_property(score, _SCORE_KEYS, path, "a Score")
    for name, value in score.items():
        if not _is_number(value):
            _type_error(f"{path}.{name}", "a number", value)
    scaled = score.get("scaled")
    if scaled is not None and not -1 <= scaled <= 1:
        _fail(f"{path}.scaled", "score-range", f"scaled {scaled} is outside -1..1")
    low, high, raw = score.get("min"), score.get("max"), score.get("raw")
    if low is not None and high is not None and not low < high:
        _fail(f"{path}.min", "score-range", f"min {low} must be less than max {high}")
    if raw is not None:
        if low is not None and raw < low:
            _fail(f"{path}.raw", "score-range", f"raw {raw} is below min {low}")
        if high is not None and raw > high:
            _fail(f"{path}.raw", "score-range", f"raw {raw} is above max {high}")


def _context(context: object, path: str, v2: bool, object_is_activity: bool) -> None:
    context = _object_of(context, path)
    allowed = _CONTEXT_KEYS_V2 if v2 else _CONTEXT_KEYS
    if not allowed.issuperset(context):
        for name in _V2_CONTEXT_KEYS:
            if name in context and not v2:
                _fail(f"{path}.{name}", "unknown-property", f"{name} exists only in xAPI 2.0, not 1.0.3")
        _unknown_property(context, allowed, path, "a Context")
    if "registration" in context:
        _uuid(context["registration"], f"{path}.registration")
    if "instructor" in context:
        _actor(context["instructor"], f"{path}.instructor")
    if "team" in context:
        team = _object_of(context["team"], f"{path}.team")
        if team.get("objectType") != "Group":
            _fail(f"{path}.team.objectType", "object-type", "team must be a Group (objectType 'Group')")
        _group(team, f"{path}.team")
    if "contextActivities" in context:
        _context_activities(context["contextActivities"], f"{path}.contextActivities")
    for name in ("revision", "platform"):
        if name in context:
            _string(context[name], f"{path}.{name}")
            if not object_is_activity:
                _fail(f"{path}.{name}", "activity-only", f"{name} is only allowed when the object is an Activity")
    if "language" in context:
        language = context["language"]
        if not isinstance(language, str):
            _type_error(f"{path}.language", "a language tag string", language)
        if not is_language_tag(language):
            _fail(f"{path}.language", "language-tag", f"{language!r} is not an RFC 5646 language tag")
    if "statement" in context:
        _statement_ref(context["statement"], f"{path}.statement")
    if "extensions" in context:
        _extensions(context["extensions"], f"{path}.extensions")
    if "contextAgents" in context:
        _context_agents(context["contextAgents"], f"{path}.contextAgents")
    if "contextGroups" in context:
        _context_groups(context["contextGroups"], f"{path}.contextGroups")


def _context_activities(value: object, path: str) -> None:
    """parent/grouping/category/other, each an Activity or an array of Activities."""
    value = _object_of(value, path)
    if not _CONTEXT_ACTIVITY_KEYS.issuperset(value):
        _unknown_property(value, _CONTEXT_ACTIVITY_KEYS, path, "contextActivities")
    for key, activities in value.items():
        if isinstance(activities, dict):
            _context_activity(activities, f"{path}.{key}")
        elif isinstance(activities, list):
            for index, activity in enumerate(activities):
                _context_activity(activity, f"{path}.{key}[{index}]")
        else:
            _type_error(f"{path}.{key}", "an Activity or an array of Activities", activities)


def _context_activity(activity: object, path: str) -> None:
    activity = _object_of(activity, path)
    object_type = activity.get("objectType", "Activity")
    if object_type != "Activity":
        _fail(f"{path}.objectType", "object-type", "context activities must be Activities")
    _activity(activity, path)


def _relevant_types(entry: dict[str, Any], path: str) -> None:
    if "relevantTypes" in entry:
        types = entry["relevantTypes"]
        if not isinstance(types, list):
            _type_error(f"{path}.relevantTypes", "an array of IRIs", types)
        if not types:
            _fail(f"{path}.relevantTypes", "non-empty", "relevantTypes, when present, needs at least one IRI")
        for index, iri in enumerate(types):
            _iri(iri, f"{path}.relevantTypes[{index}]")


def _context_agents(value: object, path: str) -> None:
    """2.0: [{objectType 'contextAgent', agent (an Agent), relevantTypes}]."""
    if not isinstance(value, list):
        _type_error(path, "an array of contextAgent objects", value)
    for index, entry in enumerate(value):
        where = f"{path}[{index}]"
        entry = _object_of(entry, where)
        if not _CONTEXT_AGENT_KEYS.issuperset(entry):
            _unknown_property(entry, _CONTEXT_AGENT_KEYS, where, "a contextAgent")
        if entry.get("objectType") != "contextAgent":
            _fail(f"{where}.objectType", "object-type", "a contextAgents entry needs objectType 'contextAgent'")
        if "agent" not in entry:
            _fail(f"{where}.agent", "required", "a contextAgent needs agent")
        agent = _object_of(entry["agent"], f"{where}.agent")
        if agent.get("objectType", "Agent") != "Agent":
            _fail(f"{where}.agent.objectType", "object-type", "a contextAgent's agent must be an Agent")
        _agent(agent, f"{where}.agent")
        _relevant_types(entry, where)


def _context_groups(value: object, path: str) -> None:
    """2.0: [{objectType 'contextGroup', group (a Group), relevantTypes}]."""
    if not isinstance(value, list):
        _type_error(path, "an array of contextGroup objects", value)
    for index, entry in enumerate(value):
        where = f"{path}[{index}]"
        entry = _object_of(entry, where)
        if not _CONTEXT_GROUP_KEYS.issuperset(entry):
            _unknown_property(entry, _CONTEXT_GROUP_KEYS, where, "a contextGroup")
        if entry.get("objectType") != "contextGroup":
            _fail(f"{where}.objectType", "object-type", "a contextGroups entry needs objectType 'contextGroup'")
        if "group" not in entry:
            _fail(f"{where}.group", "required", "a contextGroup needs group")
        group = _object_of(entry["group"], f"{where}.group")
        if group.get("objectType") != "Group":
            _fail(f"{where}.group.objectType", "object-type", "a contextGroup's group must be a Group")
        _group(group, f"{where}.group")
        _relevant_types(entry, where)


def _attachments(value: object, path: str) -> None:
    if not isinstance(value, list):
        _type_error(path, "an array of Attachments", value)
    for index, attachment in enumerate(value):
        _attachment(attachment, f"{path}[{index}]")


def _attachment(attachment: object, path: str) -> None:
    attachment = _object_of(attachment, path)
    if not _ATTACHMENT_KEYS.issuperset(attachment):
        _unknown_property(attachment, _ATTACHMENT_KEYS, path, "an Attachment")
    for name in _ATTACHMENT_REQUIRED:
        if name not in attachment:
            _fail(f"{path}.{name}", "required", f"an Attachment needs {name}")
    _iri(attachment["usageType"], f"{path}.usageType")
    _language_map(attachment["display"], f"{path}.display")
    if "description" in attachment:
        _language_map(attachment["description"], f"{path}.description")
    content_type = attachment["contentType"]
    if not isinstance(content_type, str):
        _type_error(f"{path}.contentType", "a media type string", content_type)
    if _MEDIA_TYPE_RE.fullmatch(content_type) is None:
        _fail(f"{path}.contentType", "media-type", f"{content_type!r} is not an Internet media type")
    length = attachment["length"]
    if not isinstance(length, int) or isinstance(length, bool):
        _type_error(f"{path}.length", "an integer", length)
    if length < 0:
        _fail(f"{path}.length", "non-negative", "length cannot be negative")
    sha2 = attachment["sha2"]
    if not isinstance(sha2, str):
        _type_error(f"{path}.sha2", "a hex string", sha2)
    if len(sha2) not in _SHA2_LENGTHS or _HEX_RE.fullmatch(sha2) is None:
        _fail(f"{path}.sha2", "sha2-hex", "must be the hex digits of a SHA-224/256/384/512 hash")
    if "fileUrl" in attachment:
        file_url = attachment["fileUrl"]
        if not isinstance(file_url, str):
            _type_error(f"{path}.fileUrl", "an IRL string", file_url)
        if not is_iri(file_url):
            _fail(f"{path}.fileUrl", "irl", f"{file_url!r} is not an absolute IRL")


# -- statements ----------------------------------------------------------------------------------

_STATEMENT_KEYS = frozenset(
    {"id", "actor", "verb", "object", "result", "context", "timestamp", "stored", "authority", "version", "attachments"}
)
_SUBSTATEMENT_KEYS = frozenset({"objectType", "actor", "verb", "object", "result", "context", "timestamp", "attachments"})
_SUBSTATEMENT_FORBIDDEN = ("id", "stored", "version", "authority")
_VERSION_RE_V1 = re.compile(r"1\.0(?:\.\d+)?")
_VERSION_RE_V2 = re.compile(r"(?:1\.0|2\.0)(?:\.\d+)?")


def _is_v2(version: str) -> bool:
    """True for 2.0.x, False for 1.0.x; anything else is a programming error of the caller."""
    if version.startswith("2.0"):
        return True
    if version.startswith("1.0"):
        return False
    raise ValueError(f"unsupported xAPI version {version!r}")


def _core(statement: dict[str, Any], path: str, v2: bool, in_substatement: bool) -> str:
    """What statements and sub-statements share: actor, verb, object, result, context,
    timestamp, attachments. Returns the verb id."""
    for name in ("actor", "verb", "object"):
        if name not in statement:
            what = "a SubStatement" if in_substatement else "a Statement"
            _fail(f"{path}.{name}", "required", f"{what} needs {name}")
    _actor(statement["actor"], f"{path}.actor")
    verb_id = _verb(statement["verb"], f"{path}.verb")
    object_type = _object(statement["object"], f"{path}.object", v2, in_substatement)
    if "result" in statement:
        _result(statement["result"], f"{path}.result")
    if "context" in statement:
        _context(statement["context"], f"{path}.context", v2, object_type == "Activity")
    if "timestamp" in statement:
        _timestamp(statement["timestamp"], f"{path}.timestamp")
    if "attachments" in statement:
        _attachments(statement["attachments"], f"{path}.attachments")
    return verb_id


def _substatement(sub: dict[str, Any], path: str, v2: bool) -> None:
    """A statement as an object: no id, stored, version or authority, no nested SubStatement."""
    if not _SUBSTATEMENT_KEYS.issuperset(sub):
        for name in _SUBSTATEMENT_FORBIDDEN:
            if name in sub:
                _fail(f"{path}.{name}", "substatement-property", f"a SubStatement cannot have {name}")
        _unknown_property(sub, _SUBSTATEMENT_KEYS, path, "a SubStatement")
    _core(sub, path, v2, in_substatement=True)


def _statement(statement: object, path: str, v2: bool) -> dict[str, Any]:
    statement = _object_of(statement, path)
    if not _STATEMENT_KEYS.issuperset(statement):
        _unknown_property(statement, _STATEMENT_KEYS, path, "a Statement")
    if "id" in statement:
        _uuid(statement["id"], f"{path}.id")
    verb_id = _core(statement, path, v2, in_substatement=False)
    if verb_id == VOIDED_VERB and statement["object"].get("objectType") != "StatementRef":
        _fail(f"{path}.object.objectType", "voiding-object", "a voiding statement's object must be a StatementRef")
    if "stored" in statement:
        _timestamp(statement["stored"], f"{path}.stored")
    if "authority" in statement:
        _authority(statement["authority"], f"{path}.authority")
    if "version" in statement:
        version = statement["version"]
        if not isinstance(version, str):
            _type_error(f"{path}.version", "a version string", version)
        if (_VERSION_RE_V2 if v2 else _VERSION_RE_V1).fullmatch(version) is None:
            accepted = "1.0, 1.0.x, 2.0 or 2.0.x" if v2 else "1.0 or 1.0.x"
            _fail(f"{path}.version", "version", f"{version!r} is not {accepted}")
    return statement


def validate_statement(statement: object, version: str) -> None:
    """Raise BadRequest naming the first broken rule of one statement ("statement.…" paths).

    `version` is the negotiated xAPI version, "1.0.3" or "2.0.0"."""
    _statement(statement, "statement", _is_v2(version))


def validate_statements(payload: object, version: str) -> list[dict[str, Any]]:
    """A POSTed body, one statement or a batch (paths `statements[3].verb.id`), as a list.

    Ids repeated within one batch are refused: the batch must be stored whole or not at all,
    and two different statements cannot share an id."""
    v2 = _is_v2(version)
    if isinstance(payload, dict):
        return [_statement(payload, "statement", v2)]
    if not isinstance(payload, list):
        _type_error("statements", "a Statement object or an array of Statements", payload)
    seen: set[str] = set()
    for index, statement in enumerate(payload):
        path = f"statements[{index}]"
        _statement(statement, path, v2)
        statement_id = statement.get("id")
        if statement_id is not None:
            key = statement_id.lower()
            if key in seen:
                _fail(f"{path}.id", "duplicate-id", f"id {statement_id} appears twice in this batch")
            seen.add(key)
    return payload


def _normalise_context(context: object) -> None:
    activities = context.get("contextActivities") if isinstance(context, dict) else None
    if isinstance(activities, dict):
        for key, value in activities.items():
            if isinstance(value, dict):
                activities[key] = [value]


def normalise_statement(statement: dict[str, Any]) -> dict[str, Any]:
    """The canonical stored form of a valid statement (mutated in place and returned).

    The specification has an LRS return every contextActivities value as an array, so a single
    Activity is wrapped in a one-element list, in the statement and in a SubStatement object."""
    _normalise_context(statement.get("context"))
    obj = statement.get("object")
    if isinstance(obj, dict) and obj.get("objectType") == "SubStatement":
        _normalise_context(obj.get("context"))
    return statement
