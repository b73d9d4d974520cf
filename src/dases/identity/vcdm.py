"""Data-model checks for W3C Verifiable Credentials 2.0 (https://www.w3.org/TR/vc-data-model-2.0/).

This module answers one question: is this JSON document shaped the way the VC 2.0
data model requires?  It checks no signature, fetches nothing and runs no JSON-LD
processor.  The JSON-LD rules that matter for safety (the protected base context,
terms that must map to URLs) are approximated from the context documents themselves,
so a credential that a real JSON-LD processor would reject is reported here too.

Every public function returns a list of :class:`Violation`; an empty list means the
document conforms.  No input, however malformed, makes them raise.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

CREDENTIALS_V2_CONTEXT = "https://www.w3.org/ns/credentials/v2"

_CRED = "https://www.w3.org/2018/credentials#"
_STATUS = "https://www.w3.org/ns/credentials/status#"
_SEC = "https://w3id.org/security#"
_JWT = "https://www.iana.org/assignments/jwt#"
_JOSE = "https://www.iana.org/assignments/jose#"

#: Every term the (``@protected``) v2 base context defines, with the IRI it maps to: its
#: top-level terms plus those of the contexts scoped to VerifiableCredential and
#: VerifiablePresentation.  Inline contexts may not redefine any of them.
V2_CONTEXT_TERMS: dict[str, str] = {
    "id": "@id",
    "type": "@type",
    "name": "https://schema.org/name",
    "description": "https://schema.org/description",
    "mediaType": "https://schema.org/encodingFormat",
    "digestSRI": _CRED + "digestSRI",
    "digestMultibase": _SEC + "digestMultibase",
    "DataIntegrityProof": _SEC + "DataIntegrityProof",
    "proof": _SEC + "proof",
    **{t: _CRED + t for t in (
        "VerifiableCredential", "EnvelopedVerifiableCredential", "VerifiablePresentation",
        "EnvelopedVerifiablePresentation", "JsonSchemaCredential", "JsonSchema",
        "confidenceMethod", "credentialSchema", "credentialStatus", "credentialSubject",
        "evidence", "issuer", "refreshService", "relatedResource", "renderMethod",
        "termsOfUse", "validFrom", "validUntil", "holder", "verifiableCredential",
    )},
    **{t: _STATUS + t for t in (
        "BitstringStatusListCredential", "BitstringStatusList", "BitstringStatusListEntry",
    )},
    **{t: _JWT + t for t in ("...", "_sd", "_sd_alg", "aud", "cnf", "exp", "iat", "nbf")},
    **{t: _JOSE + t for t in ("iss", "jku", "kid", "sub", "x5u")},
}

#: v2 terms defined as a bare IRI (no type coercion, container or scoped context):
#: restating exactly that IRI is not a redefinition in JSON-LD, so it is allowed.
_V2_PLAIN_TERMS = frozenset({
    "id", "type", "name", "description", "mediaType", "EnvelopedVerifiableCredential",
    "EnvelopedVerifiablePresentation", "JsonSchemaCredential",
    "BitstringStatusListCredential", "...", "_sd_alg",
})

#: The published (REC) v2 context has no ``@vocab``: undefined terms are errors unless a
#: later context supplies a vocabulary, as these two well-known ones do.
_KNOWN_VOCABULARIES: dict[str, str] = {
    "https://www.w3.org/ns/credentials/undefined-terms/v2":
        "https://www.w3.org/ns/credentials/undefined-term#",
    "https://www.w3.org/ns/credentials/examples/v2":
        "https://www.w3.org/ns/credentials/examples#",
}

#: Members holding one or more objects, and what each object must carry.
_RESOURCE_REQUIRED: dict[str, tuple[str, ...]] = {
    "credentialStatus": ("type",), "credentialSchema": ("type", "id"), "evidence": ("type",),
    "refreshService": ("type",), "termsOfUse": ("type",), "proof": ("type",),
    "relatedResource": ("id",),
}

_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*")
_BAD_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_HOST_PORT = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[^:\[\]]+)(:[0-9]*)?")
_FORBIDDEN_URL_CHARS = frozenset('<>"{}|\\^`')
_HOST_SCHEMES = frozenset({"http", "https", "ws", "wss", "ftp"})

# XML Schema 1.1 dateTimeStamp, as reproduced in VC 2.0 section 4.9.
_DATETIME_STAMP = re.compile(
    r"(?P<year>-?(?:[1-9][0-9]{3,}|0[0-9]{3}))-(?P<month>0[1-9]|1[0-2])"
    r"-(?P<day>0[1-9]|[12][0-9]|3[01])"
    r"T(?:(?P<hour>[01][0-9]|2[0-3]):(?P<minute>[0-5][0-9]):(?P<second>[0-5][0-9])"
    r"(?P<fraction>\.[0-9]+)?|(?P<midnight>24:00:00(?:\.0+)?))"
    r"(?P<tz>Z|[+-](?:(?:0[0-9]|1[0-3]):[0-5][0-9]|14:00))"
)


@dataclass(frozen=True)
class Violation:
    """One broken rule: where (JSON path), which rule (stable slug) and a readable sentence."""

    path: str
    rule: str
    message: str


@dataclass
class _ActiveContext:
    """What the ``@context`` list tells us about term mappings, without a JSON-LD processor."""

    base: bool = False  # the v2 base context is in effect
    opaque: bool = False  # an unknown remote context may define any term
    vocab: str | None = None
    terms: dict[str, str | None] = field(default_factory=dict)  # inline terms -> IRI
    protected: dict[str, object] = field(default_factory=dict)  # inline @protected terms


# -- small helpers -------------------------------------------------------------------------


def _kind(value: object) -> str:
    """Name a JSON value's type the way a JSON author would."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _show(value: object) -> str:
    """Quote short strings in messages; name the type of anything else."""
    if isinstance(value, str):
        return repr(value if len(value) <= 60 else value[:57] + "...")
    return _kind(value)


def _join(path: str, key: str) -> str:
    """Dotted JSON paths; the document root has the empty path."""
    return f"{path}.{key}" if path else key


def _as_list(value: object) -> list[object]:
    """JSON-LD lets any one-or-many member be a bare value or an array."""
    return value if isinstance(value, list) else [value]


def _items(value: object, path: str) -> list[tuple[str, object]]:
    """Pair each member of a one-or-many value with its path (arrays get ``[i]``)."""
    if isinstance(value, list):
        return [(f"{path}[{i}]", item) for i, item in enumerate(value)]
    return [(path, value)]


def _is_url(value: object) -> bool:
    """Absolute URL per RFC 3986/3987 syntax: a scheme, then no spaces or forbidden bytes."""
    if not isinstance(value, str):
        return False
    scheme, colon, rest = value.partition(":")
    if not colon or not rest or not _SCHEME.fullmatch(scheme):
        return False
    if any(ch.isspace() or not ch.isprintable() or ch in _FORBIDDEN_URL_CHARS for ch in rest):
        return False
    if _BAD_PERCENT.search(rest):
        return False
    if scheme.lower() in _HOST_SCHEMES:  # these need an authority with a host
        if not rest.startswith("//"):
            return False
        authority = re.split(r"[/?#]", rest[2:], maxsplit=1)[0]
        return _HOST_PORT.fullmatch(authority.rpartition("@")[2]) is not None
    return True


def _url_violations(value: object, path: str) -> list[Violation]:
    """Identifiers (``id``, ``issuer``, ``holder``...) must be one URL string."""
    if _is_url(value):
        return []
    expected = "a single URL" if not isinstance(value, str) else "a URL"
    return [Violation(path, "url.invalid", f"{path} must be {expected} (got {_show(value)})")]


# -- @context and type mapping ------------------------------------------------------------


def _term_iri(name: str, ctx: _ActiveContext, local: dict[str, object]) -> str | None:
    """IRI of an already defined term (in the context being read, then earlier ones)."""
    definition = local.get(name)
    if isinstance(definition, dict):
        definition = definition.get("@id")
    if isinstance(definition, str) and (":" in definition or definition.startswith("@")):
        return definition
    if name in ctx.terms:
        return ctx.terms[name]
    return V2_CONTEXT_TERMS.get(name) if ctx.base else None


def _expand(value: str, ctx: _ActiveContext, local: dict[str, object]) -> str | None:
    """JSON-LD vocabulary-relative IRI expansion, reduced to what the checks need."""
    if value.startswith("@"):
        return value
    if ":" in value:
        prefix, _, suffix = value.partition(":")
        base = None if suffix.startswith("//") else _term_iri(prefix, ctx, local)
        return base + suffix if base is not None and _is_url(base) else value
    iri = _term_iri(value, ctx, local)
    if iri is not None or value in ctx.terms:  # a term mapped to null stays unmapped
        return iri
    return ctx.vocab + value if ctx.vocab is not None else None


def _same_definition(old: object, new: object) -> bool:
    """JSON-LD compares term definitions ignoring ``@protected``; a string means ``@id``."""
    def normal(d: object) -> object:
        if isinstance(d, str):
            return {"@id": d}
        return {k: v for k, v in d.items() if k != "@protected"} if isinstance(d, dict) else d
    return normal(old) == normal(new)


def _apply_inline_context(
    local: dict[str, object], path: str, ctx: _ActiveContext, out: list[Violation]
) -> None:
    """Fold one inline context into ``ctx``, reporting redefinitions and non-URL mappings."""
    if "@vocab" in local:
        vocab = local["@vocab"]
        expanded = _expand(vocab, ctx, local) if isinstance(vocab, str) else None
        if vocab is not None and not _is_url(expanded):
            out.append(Violation(_join(path, "@vocab"), "context.iri_invalid",
                                 f"{_join(path, '@vocab')} must be a URL or null"
                                 f" (got {_show(vocab)})"))
        ctx.vocab = expanded if _is_url(expanded) else None
    protect_all = local.get("@protected") is True
    defined: dict[str, str | None] = {}
    for term, definition in local.items():
        if term.startswith("@"):
            continue
        tpath = _join(path, term)
        if ctx.base and term in V2_CONTEXT_TERMS and not (
            term in _V2_PLAIN_TERMS and _same_definition(V2_CONTEXT_TERMS[term], definition)
        ):
            out.append(Violation(tpath, "context.protected_term",
                                 f"{tpath} redefines {term!r}, a protected term of the v2 context"))
        elif term in ctx.protected and not _same_definition(ctx.protected[term], definition):
            out.append(Violation(tpath, "context.protected_term",
                                 f"{tpath} redefines {term!r}, protected by an earlier context"))
        defined[term] = _definition_iri(term, definition, tpath, ctx, local, out)
        if isinstance(definition, dict) and definition.get("@protected", protect_all) is True or not isinstance(definition, dict) and protect_all:
            ctx.protected[term] = definition
    ctx.terms.update(defined)


def _definition_iri(
    term: str, definition: object, path: str,
    ctx: _ActiveContext, local: dict[str, object], out: list[Violation],
) -> str | None:
    """The IRI a term definition maps to; a mapping that is not a URL is reported."""
    if definition is None:
        return None  # explicitly unmapped
    if isinstance(definition, dict):
        raw = definition.get("@reverse", definition.get("@id", term))
        if raw is None:
            return None
    else:
        raw = definition
    others = {k: v for k, v in local.items() if k != term}
    iri = _expand(raw, ctx, others) if isinstance(raw, str) else None
    if iri is not None and (iri.startswith("@") or _is_url(iri)):
        return iri
    out.append(Violation(path, "context.iri_invalid",
                         f"{path} must map {term!r} to an absolute URL (got {_show(raw)})"))
    return None


def _check_context(
    doc: dict[str, object], path: str, out: list[Violation], *, base_first: bool = True
) -> _ActiveContext:
    """``@context``: the v2 URL first, then URLs or inline context objects."""
    cpath = _join(path, "@context")
    if "@context" not in doc:
        out.append(Violation(cpath, "context.required", f"{cpath} is required"))
        return _ActiveContext(opaque=True)
    value = doc["@context"]
    if isinstance(value, list) and not value:
        out.append(Violation(cpath, "context.invalid", f"{cpath} must not be empty"))
        return _ActiveContext(opaque=True)
    ctx = _ActiveContext()
    for i, (ipath, item) in enumerate(_items(value, cpath)):
        if i == 0 and base_first and item != CREDENTIALS_V2_CONTEXT:
            out.append(Violation(ipath, "context.base_first",
                                 f"{ipath} must be {CREDENTIALS_V2_CONTEXT!r} (got {_show(item)})"))
        if item == CREDENTIALS_V2_CONTEXT:
            ctx.base = True
        elif isinstance(item, str):
            if not _is_url(item):
                out.extend(_url_violations(item, ipath))
            elif item in _KNOWN_VOCABULARIES:
                ctx.vocab = _KNOWN_VOCABULARIES[item]
            else:
                ctx.opaque = True  # cannot know what a remote context defines
        elif isinstance(item, dict):
            _apply_inline_context(item, ipath, ctx, out)
        else:
            out.append(Violation(ipath, "context.item_invalid",
                                 f"{ipath} must be a URL or an object (got {_kind(item)})"))
    return ctx


def _maps_to_url(value: str, ctx: _ActiveContext) -> bool:
    """Does a ``type`` value expand to a URL (a defined term, a URL, or via ``@vocab``)?"""
    if ":" not in value and value not in ctx.terms and ctx.vocab is None and ctx.opaque:
        return True  # an unknown remote context may define it: give it the benefit of doubt
    return _is_url(_expand(value, ctx, {}))


def _check_types(
    value: object, path: str, ctx: _ActiveContext, out: list[Violation],
    required: str | None = None,
) -> None:
    """``type``: one or more terms or absolute URLs, each mapping to a URL."""
    if value == []:
        out.append(Violation(path, "type.invalid", f"{path} must contain at least one type"))
    for ipath, item in _items(value, path):
        if not isinstance(item, str):
            out.append(Violation(ipath, "type.invalid",
                                 f"{ipath} must be a term or URL string (got {_kind(item)})"))
        elif not _maps_to_url(item, ctx):
            out.append(Violation(ipath, "type.unmapped",
                                 f"{ipath} {item!r} is not mapped to a URL by any @context"))
    if required is not None and required not in _as_list(value):
        out.append(Violation(path, "type.base_missing", f"{path} must include {required!r}"))


def _check_type_property(
    doc: dict[str, object], path: str, ctx: _ActiveContext, required: str,
    out: list[Violation],
) -> None:
    """Credentials and presentations must say what they are in a ``type`` member."""
    tpath = _join(path, "type")
    if "type" not in doc:
        out.append(Violation(tpath, "type.required", f"{tpath} is required"))
    else:
        _check_types(doc["type"], tpath, ctx, out, required)


# -- credential members --------------------------------------------------------------------


def _check_id(obj: dict[str, object], path: str, out: list[Violation]) -> None:
    if "id" in obj:
        out.extend(_url_violations(obj["id"], _join(path, "id")))


def _check_language_values(obj: dict[str, object], path: str, out: list[Violation]) -> None:
    """``name``/``description``: strings or language value objects (section 11.1)."""
    for key in ("name", "description"):
        if key not in obj:
            continue
        for ipath, item in _items(obj[key], _join(path, key)):
            if isinstance(item, str):
                continue
            if not isinstance(item, dict):
                out.append(Violation(ipath, "language.invalid", f"{ipath} must be a string"
                                     f" or a language value object (got {_kind(item)})"))
                continue
            for extra in sorted(set(item) - {"@value", "@language", "@direction"}):
                out.append(Violation(f"{ipath}.{extra}", "language.extra_key",
                                     f"{ipath} is a language value object and may only hold"
                                     f" @value, @language and @direction (got {extra!r})"))
            if not isinstance(item.get("@value"), str):
                out.append(Violation(f"{ipath}.@value", "language.invalid",
                                     f"{ipath}.@value is required and must be a string"))
            if "@language" in item and not isinstance(item["@language"], str):
                out.append(Violation(f"{ipath}.@language", "language.invalid",
                                     f"{ipath}.@language must be a string language tag"))
            if item.get("@direction", "ltr") not in ("ltr", "rtl"):
                out.append(Violation(f"{ipath}.@direction", "language.direction",
                                     f"{ipath}.@direction must be 'ltr' or 'rtl'"))


def _check_issuer(
    doc: dict[str, object], path: str, ctx: _ActiveContext, issuer_input: bool,
    out: list[Violation],
) -> None:
    """``issuer``: a URL or an object whose ``id`` is a URL (issuers may fill it in)."""
    ipath = _join(path, "issuer")
    if "issuer" not in doc:
        if not issuer_input:
            out.append(Violation(ipath, "issuer.required", f"{ipath} is required"))
        return
    issuer = doc["issuer"]
    if isinstance(issuer, str):
        out.extend(_url_violations(issuer, ipath))
    elif not isinstance(issuer, dict):
        out.append(Violation(ipath, "issuer.invalid", f"{ipath} must be a URL or an object"
                             f" with a URL id (got {_kind(issuer)})"))
    else:
        if "id" in issuer:
            out.extend(_url_violations(issuer["id"], f"{ipath}.id"))
        elif not issuer_input:
            out.append(Violation(f"{ipath}.id", "issuer.id_required", f"{ipath}.id is required"))
        if "type" in issuer:
            _check_types(issuer["type"], f"{ipath}.type", ctx, out)
        _check_language_values(issuer, ipath, out)


def _check_subjects(
    doc: dict[str, object], path: str, ctx: _ActiveContext, out: list[Violation]
) -> None:
    """``credentialSubject``: one or more objects, each carrying at least one claim."""
    spath = _join(path, "credentialSubject")
    if "credentialSubject" not in doc:
        out.append(Violation(spath, "subject.required", f"{spath} is required"))
        return
    value = doc["credentialSubject"]
    if value == []:
        out.append(Violation(spath, "subject.invalid", f"{spath} must hold at least one subject"))
    for ipath, subject in _items(value, spath):
        if not isinstance(subject, dict):
            out.append(Violation(ipath, "subject.invalid",
                                 f"{ipath} must be an object (got {_kind(subject)})"))
        elif not subject:
            out.append(Violation(ipath, "subject.no_claims",
                                 f"{ipath} must contain at least one claim"))
        else:
            _check_id(subject, ipath, out)
            if "type" in subject:
                _check_types(subject["type"], f"{ipath}.type", ctx, out)


def _check_validity(doc: dict[str, object], path: str, out: list[Violation]) -> None:
    """``validFrom``/``validUntil``: dateTimeStamps, in order.  Expiry is a verifier check."""
    moments: dict[str, datetime] = {}
    for key in ("validFrom", "validUntil"):
        if key in doc:
            kpath, value = _join(path, key), doc[key]
            moment = parse_datetime(value) if isinstance(value, str) else None
            if moment is None:
                out.append(Violation(kpath, "datetime.invalid", f"{kpath} must be an XML Schema"
                                     f" dateTimeStamp with a time zone (got {_show(value)})"))
            else:
                moments[key] = moment
    if len(moments) == 2 and moments["validFrom"] > moments["validUntil"]:
        vpath = _join(path, "validUntil")
        out.append(Violation(vpath, "validity.order",
                             f"{vpath} must not be earlier than {_join(path, 'validFrom')}"))


def _check_resources(
    doc: dict[str, object], key: str, path: str, ctx: _ActiveContext, out: list[Violation]
) -> None:
    """Status, schema, evidence, refresh, terms of use, proof, related resources: objects."""
    if key not in doc:
        return
    kpath = _join(path, key)
    if doc[key] == []:
        out.append(Violation(kpath, "resource.invalid", f"{kpath} must hold at least one object"))
    seen_ids: list[object] = []
    for ipath, item in _items(doc[key], kpath):
        if not isinstance(item, dict):
            out.append(Violation(ipath, "resource.invalid",
                                 f"{ipath} must be an object (got {_kind(item)})"))
            continue
        for member in _RESOURCE_REQUIRED[key]:
            if member not in item:
                out.append(Violation(f"{ipath}.{member}", f"resource.{member}_required",
                                     f"{ipath}.{member} is required in {key}"))
        if "type" in item:
            _check_types(item["type"], f"{ipath}.type", ctx, out)
        _check_id(item, ipath, out)
        if key == "relatedResource":  # section 5.3: a unique id and a digest of the resource
            if "id" in item and item["id"] in seen_ids:
                out.append(Violation(f"{ipath}.id", "resource.duplicate_id",
                                     f"{ipath}.id repeats an earlier related resource"))
            seen_ids.append(item.get("id"))
            if "digestSRI" not in item and "digestMultibase" not in item:
                out.append(Violation(ipath, "resource.digest_required",
                                     f"{ipath} needs a digestSRI or digestMultibase"))


# -- public API ----------------------------------------------------------------------------


def parse_datetime(value: str) -> datetime | None:
    """Parse an XML Schema ``dateTimeStamp`` (time zone required); ``None`` when invalid.

    Years outside 1..9999 are lexically valid but not representable, so they give ``None``.
    """
    match = _DATETIME_STAMP.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        return None
    tz_text = match["tz"]
    offset = timedelta(0)
    if tz_text != "Z":
        sign = -1 if tz_text[0] == "-" else 1
        offset = sign * timedelta(hours=int(tz_text[1:3]), minutes=int(tz_text[4:6]))
    try:
        tz = timezone(offset)
        year, month, day = int(match["year"]), int(match["month"]), int(match["day"])
        if match["midnight"]:
            return datetime(year, month, day, tzinfo=tz) + timedelta(days=1)
        micros = int((match["fraction"] or ".")[1:7].ljust(6, "0"))
        return datetime(year, month, day, int(match["hour"]), int(match["minute"]),
                        int(match["second"]), micros, tzinfo=tz)
    except (ValueError, OverflowError):
        return None


def validate_credential(
    doc: object, *, issuer_input: bool = False, path: str = ""
) -> list[Violation]:
    """Check a credential against the VC 2.0 data model.

    ``issuer_input=True`` is for the unsigned credential handed to an issuing service,
    which sets ``issuer`` itself: a missing issuer (or issuer ``id``) is then accepted,
    but one that is present must still be valid.  ``path`` prefixes every reported path.
    """
    if not isinstance(doc, dict):
        return [Violation(path or "$", "document.not_object",
                          f"{path or 'the document'} must be a JSON object (got {_kind(doc)})")]
    out: list[Violation] = []
    ctx = _check_context(doc, path, out)
    _check_id(doc, path, out)
    _check_type_property(doc, path, ctx, "VerifiableCredential", out)
    _check_language_values(doc, path, out)
    _check_issuer(doc, path, ctx, issuer_input, out)
    _check_subjects(doc, path, ctx, out)
    _check_validity(doc, path, out)
    for key in _RESOURCE_REQUIRED:
        _check_resources(doc, key, path, ctx, out)
    return out


def _check_enveloped(doc: dict[str, object], path: str, out: list[Violation]) -> None:
    """An EnvelopedVerifiableCredential: a context, that exact type, a ``data:`` URL id."""
    ctx = _check_context(doc, path, out, base_first=False)
    if not (ctx.base or ctx.opaque):
        out.append(Violation(_join(path, "@context"), "envelope.context",
                             f"{_join(path, '@context')} must include {CREDENTIALS_V2_CONTEXT!r}"))
    tpath = _join(path, "type")
    _check_types(doc["type"], tpath, ctx, out)
    if doc["type"] not in ("EnvelopedVerifiableCredential", ["EnvelopedVerifiableCredential"]):
        out.append(Violation(tpath, "envelope.type",
                             f"{tpath} must be exactly 'EnvelopedVerifiableCredential'"))
    ipath = _join(path, "id")
    value = doc.get("id")
    if not (isinstance(value, str) and _is_url(value)
            and value[:5].lower() == "data:" and "," in value):
        out.append(Violation(ipath, "envelope.id", f"{ipath} must be a data: URL holding the"
                             f" secured credential (got {_show(value)})"))


def validate_presentation(doc: object) -> list[Violation]:
    """Check a verifiable presentation; embedded credentials are checked as issued ones."""
    if not isinstance(doc, dict):
        return [Violation("$", "document.not_object",
                          f"the document must be a JSON object (got {_kind(doc)})")]
    out: list[Violation] = []
    ctx = _check_context(doc, "", out)
    _check_id(doc, "", out)
    _check_type_property(doc, "", ctx, "VerifiablePresentation", out)
    if "holder" in doc:
        holder = doc["holder"]
        if isinstance(holder, dict):
            if "id" in holder:
                out.extend(_url_violations(holder["id"], "holder.id"))
            else:
                out.append(Violation("holder.id", "holder.id_required", "holder.id is required"))
            if "type" in holder:
                _check_types(holder["type"], "holder.type", ctx, out)
        else:
            out.extend(_url_violations(holder, "holder"))
    if "verifiableCredential" in doc:
        if doc["verifiableCredential"] == []:
            out.append(Violation("verifiableCredential", "vc.invalid",
                                 "verifiableCredential must hold at least one credential"))
        for ipath, vc in _items(doc["verifiableCredential"], "verifiableCredential"):
            if not isinstance(vc, dict):
                out.append(Violation(ipath, "vc.invalid", f"{ipath} must be a credential object"
                                     f" or an EnvelopedVerifiableCredential (got {_kind(vc)})"))
            elif "EnvelopedVerifiableCredential" in _as_list(vc.get("type")):
                _check_enveloped(vc, ipath, out)
            else:
                out.extend(validate_credential(vc, issuer_input=False, path=ipath))
    for key in ("termsOfUse", "proof"):
        _check_resources(doc, key, "", ctx, out)
    return out


def validate_document(doc: object) -> list[Violation]:
    """Validate a presentation if its ``type`` says so, otherwise a received credential."""
    types = _as_list(doc.get("type")) if isinstance(doc, dict) else []
    if "VerifiablePresentation" in types:
        return validate_presentation(doc)
    return validate_credential(doc, issuer_input=False)
