"""The ODRL 2.2 terms the evaluator understands, and how compact JSON terms map onto IRIs.

Policies reach us in two spellings: the compact JSON of Dataspace Protocol messages (`"eq"`,
`"use"`, sometimes `"odrl:eq"`) and RDF with full IRIs (the ODRL test suite). Everything inside
the package works on full IRIs, so both spellings meet in one place: `expand` on the way in,
`compact` on the way out. The closed sets below are deliberate: an operator or a logical operator
we do not know is refused when the policy is loaded, never guessed at.
"""

from __future__ import annotations

from typing import Final

ODRL: Final = "http://www.w3.org/ns/odrl/2/"
XSD: Final = "http://www.w3.org/2001/XMLSchema#"
DPV: Final = "https://w3id.org/dpv#"
DPV_EDUCATION: Final = "https://w3id.org/dpv/sector/education#"
# DASES left operands that ODRL 2.2 does not define (a party's role, a learner's consent).
DASES: Final = "https://w3id.org/dases/policy#"

PREFIXES: Final[dict[str, str]] = {
    "odrl": ODRL,
    "xsd": XSD,
    "dpv": DPV,
    "sector-education": DPV_EDUCATION,
    "dases": DASES,
}

POLICY_TYPES: Final = frozenset({ODRL + "Set", ODRL + "Offer", ODRL + "Agreement", ODRL + "Policy"})

OPERATORS: Final = frozenset(
    ODRL + name
    for name in (
        "eq",
        "neq",
        "lt",
        "lteq",
        "gt",
        "gteq",
        "isA",
        "hasPart",
        "isPartOf",
        "isAllOf",
        "isAnyOf",
        "isNoneOf",
    )
)
LOGICAL_OPERATORS: Final = (ODRL + "and", ODRL + "or", ODRL + "xone", ODRL + "andSequence")

# Left operands with a resolver in `resolvers.py`; other ODRL left operands load fine and are
# refused at evaluation time, where the scope decides what can be known.
DATE_TIME: Final = ODRL + "dateTime"
ELAPSED_TIME: Final = ODRL + "elapsedTime"
COUNT: Final = ODRL + "count"
PURPOSE: Final = ODRL + "purpose"
RECIPIENT: Final = ODRL + "recipient"
SPATIAL: Final = ODRL + "spatial"
ROLE: Final = DASES + "role"
CONSENT: Final = DASES + "consent"

USE: Final = ODRL + "use"

# Terms that are bare words in compact JSON: ODRL's own, plus the two DASES extensions.
_DASES_TERMS: Final = frozenset({"role", "consent"})

# odrl:includedIn from the ODRL 2.2 vocabulary: asking for the child is covered by a rule on the
# parent (a permission to `use` covers `read`), never the other way round.
_INCLUDED_IN: Final[dict[str, str]] = {
    **{
        name: "use"
        for name in (
            "acceptTracking",
            "aggregate",
            "annotate",
            "anonymize",
            "archive",
            "attribute",
            "compensate",
            "concurrentUse",
            "delete",
            "derive",
            "digitize",
            "distribute",
            "ensureExclusivity",
            "execute",
            "grantUse",
            "include",
            "index",
            "inform",
            "install",
            "modify",
            "move",
            "nextPolicy",
            "obtainConsent",
            "play",
            "present",
            "print",
            "read",
            "reproduce",
            "reviewPolicy",
            "stream",
            "synchronize",
            "textToSpeech",
            "transform",
            "translate",
            "uninstall",
            "watermark",
        )
    },
    "display": "play",
    "extract": "reproduce",
    "give": "transfer",
    "sell": "transfer",
}
# Deprecated ODRL 2.2 actions and their skos:exactMatch replacement.
_ALIASES: Final[dict[str, str]] = {
    "write": "modify",
    "writeTo": "modify",
    "append": "modify",
    "appendTo": "modify",
    "copy": "reproduce",
    "export": "transform",
    "license": "grantUse",
    "pay": "compensate",
}


def expand(term: str) -> str:
    """The full IRI of a compact term: `eq`, `odrl:eq` and the IRI itself all give the IRI.

    A bare word is read in the ODRL namespace, as the DSP context does, even when ODRL 2.2
    does not define it (profiles bring their own left operands, e.g. DSP's `partner`): loading
    keeps it, and the evaluator refuses it by name when no resolver knows it.
    """
    if ":" in term:
        prefix, _, local = term.partition(":")
        if prefix in PREFIXES and not local.startswith("//"):
            return PREFIXES[prefix] + local
        return term
    if term in _DASES_TERMS:
        return DASES + term
    if term[:1].isalpha():
        return ODRL + term
    return term


def compact(iri: str) -> str:
    """The compact JSON spelling of an IRI: ODRL and DASES terms as bare words."""
    for namespace in (ODRL, DASES):
        if iri.startswith(namespace) and iri[len(namespace) :].replace("_", "").isalnum():
            return iri[len(namespace) :]
    return iri


def expand_value(value: str) -> str:
    """Expand a known prefix in a right-operand value (`dpv:Purpose`), leave any other string."""
    prefix, sep, local = value.partition(":")
    if sep and prefix in PREFIXES and not local.startswith("//"):
        return PREFIXES[prefix] + local
    return value


def action_covers(rule_action: str, requested: str) -> bool:
    """Whether a rule on `rule_action` speaks about a request for `requested` (odrl:includedIn)."""
    wanted = _local_action(rule_action)
    current: str | None = _local_action(requested)
    seen: set[str] = set()
    while current is not None and current not in seen:
        if current == wanted:
            return True
        seen.add(current)
        current = _INCLUDED_IN.get(current)
    return False


def _local_action(iri: str) -> str:
    local = iri.removeprefix(ODRL)
    return _ALIASES.get(local, local) if iri.startswith(ODRL) else iri
