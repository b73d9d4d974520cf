"""Privacy notices: what a learner reads before saying yes or no, generated from the offering.

A notice is never hand-written. It is rendered from `NoticeTerms` (who holds the data, who gets
it, for which DPV purpose, which data, on what legal basis, for how long), and those terms are
read from the offering's ODRL policy, the same document the policy engine enforces. So what the
learner is told and what the connectors allow cannot drift apart.

Every notice carries a `version`: a hash of the template version and the terms, the same in
French and English. A consent record stores it, so anyone can later tell exactly which text the
learner agreed to; changing the terms or the wording gives a new version (and so a new consent).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import rfc8785

from dases.consent.plain_language import (
    CONSENT_BASES,
    DATA_CATEGORIES,
    LEGAL_BASES,
    check_language,
    in_language,
    plain_purpose,
)
from dases.consent.purposes import Purpose, PurposeVocabulary, expand
from dases.errors import FieldError, InvalidInput
from dases.policy import policy_from_json
from dases.policy import vocab as odrl
from dases.policy.model import (
    AnyConstraint,
    Constraint,
    LogicalConstraint,
    Policy,
    PolicyError,
    Value,
)
from dases.policy.values import EvaluationError, parse_datetime, parse_duration

#: Bump whenever the wording below or in `plain_language` changes: it is part of every version.
NOTICE_TEMPLATE_VERSION: Final = "1"

DAYS_PER_MONTH: Final = 30
DAYS_PER_YEAR: Final = 365

_NBSP: Final = "\u00a0"

#: The sentences of a notice, per language. Placeholders are filled by `render_notice`.
TEMPLATES: Final[dict[str, dict[str, str]]] = {
    "en": {
        "title": "Sharing your data with {consumer}",
        "holder": "{provider} holds data about you.",
        "recipient": "{provider} will share some of it with {consumer}.",
        "recipient_offering": (
            "{provider} will share some of it with {consumer}, through the offer “{offering}”."
        ),
        "purpose": "Your data will be used {purpose}.",
        "data": "What is shared: {categories}.",
        "duration_days": "{consumer} can use your data for {days} at most, "
        "counted from the start of the sharing.",
        "valid_until": "The sharing stops on {date} at the latest.",
        "no_end_consent": "The sharing has no end date: it goes on until you withdraw "
        "your consent.",
        "no_end": "The sharing has no end date.",
        "withdraw": "You can withdraw your consent at any moment, in one click, from your "
        "dashboard. Withdrawing stops every later transfer, but it does not undo the transfers "
        "already made.",
        "receipt": "You can download a signed receipt of your choice from your dashboard.",
        "dpo": "For any question about your data, contact the data protection officer "
        "of {provider}.",
        "complaint": "If you think your rights are not respected, you can complain to the CNIL, "
        "the French data protection authority (www.cnil.fr).",
        "and": " and ",
        "day": "{n} day",
        "days": "{n} days",
    },
    "fr": {
        "title": "Partage de vos données avec {consumer}",
        "holder": "{provider} détient des données vous concernant.",
        "recipient": "{provider} va en partager une partie avec {consumer}.",
        "recipient_offering": "{provider} va en partager une partie avec {consumer}, "
        f"dans le cadre de l'offre «{_NBSP}{{offering}}{_NBSP}».",
        "purpose": "Vos données seront utilisées {purpose}.",
        "data": f"Ce qui est partagé{_NBSP}: {{categories}}.",
        "duration_days": "{consumer} peut utiliser vos données pendant {days} au maximum, "
        "à partir du début du partage.",
        "valid_until": "Le partage s'arrête au plus tard le {date}.",
        "no_end_consent": f"Le partage n'a pas de date de fin{_NBSP}: il continue jusqu'à ce "
        "que vous retiriez votre consentement.",
        "no_end": "Le partage n'a pas de date de fin.",
        "withdraw": "Vous pouvez retirer votre consentement à tout moment, en un clic, depuis "
        "votre tableau de bord. Le retrait arrête tous les transferts suivants, mais il "
        "n'annule pas ceux déjà faits.",
        "receipt": "Vous pouvez télécharger depuis votre tableau de bord un reçu signé "
        "de votre choix.",
        "dpo": "Pour toute question sur vos données, contactez le délégué à la protection des "
        "données de {provider}.",
        "complaint": "Si vous pensez que vos droits ne sont pas respectés, vous pouvez faire "
        "une réclamation auprès de la CNIL, l'autorité française de protection des données "
        "(www.cnil.fr).",
        "and": " et ",
        "day": "{n} jour",
        "days": "{n} jours",
    },
}

MONTHS: Final[dict[str, tuple[str, ...]]] = {
    "en": (
        "January", "February", "March", "April", "May", "June",
        "July", "August", "September", "October", "November", "December",
    ),
    "fr": (
        "janvier", "février", "mars", "avril", "mai", "juin",
        "juillet", "août", "septembre", "octobre", "novembre", "décembre",
    ),
}  # fmt: skip


@dataclass(frozen=True)
class NoticeTerms:
    """What a notice says, independent of its language.

    Checked and put in canonical form on construction (prefixed purpose expanded, categories in
    the order of `DATA_CATEGORIES` without repeats, `valid_until` in UTC, a naive one read as
    UTC), so that equal terms always give the same notice and the same version.
    """

    provider: str
    consumer: str
    purpose: str
    data_categories: tuple[str, ...]
    legal_basis: str = "consent"
    duration_days: int | None = None
    valid_until: datetime | None = None
    offering: str | None = None

    def __post_init__(self) -> None:
        errors: list[FieldError] = []
        for name in ("provider", "consumer", "purpose"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                errors.append(FieldError(name, "required", "must be a non-empty string"))
        categories = self.data_categories
        if isinstance(categories, str) or not isinstance(categories, Sequence) or not categories:
            errors.append(
                FieldError("data_categories", "required", "name at least one data category")
            )
            categories = ()
        unknown = [item for item in categories if item not in DATA_CATEGORIES]
        if unknown:
            errors.append(
                FieldError(
                    "data_categories",
                    "enum",
                    f"unknown data categories {unknown!r}; known: {', '.join(DATA_CATEGORIES)}",
                )
            )
        if self.legal_basis not in LEGAL_BASES:
            errors.append(
                FieldError(
                    "legal_basis",
                    "enum",
                    f"unknown legal basis {self.legal_basis!r}; known: {', '.join(LEGAL_BASES)}",
                )
            )
        days = self.duration_days
        if days is not None and (isinstance(days, bool) or not isinstance(days, int) or days < 1):
            errors.append(FieldError("duration_days", "minimum", "must be a whole number >= 1"))
        if self.valid_until is not None and not isinstance(self.valid_until, datetime):
            errors.append(FieldError("valid_until", "type", "must be a datetime"))
        if self.offering is not None and not isinstance(self.offering, str):
            errors.append(FieldError("offering", "type", "must be a string"))
        if errors:
            summary = "; ".join(f"{error.field}: {error.message}" for error in errors)
            raise InvalidInput(f"the notice terms are not valid: {summary}", errors=errors)
        _set = object.__setattr__
        _set(self, "provider", self.provider.strip())
        _set(self, "consumer", self.consumer.strip())
        _set(self, "purpose", expand(self.purpose))
        _set(self, "data_categories", tuple(key for key in DATA_CATEGORIES if key in categories))
        if self.valid_until is not None:
            moment = self.valid_until
            moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
            _set(self, "valid_until", moment.astimezone(UTC))
        _set(self, "offering", (self.offering or "").strip() or None)


@dataclass(frozen=True)
class Notice:
    """A rendered notice: show `title` and `paragraphs`; store `version` with the consent."""

    lang: str
    title: str
    paragraphs: tuple[str, ...]
    version: str

    @property
    def text(self) -> str:
        """The whole notice as plain text (e-mails, receipts, logs)."""
        return "\n\n".join((self.title, *self.paragraphs))


def notice_version(terms: NoticeTerms) -> str:
    """`v1-` and 16 hex digits of SHA-256 over the canonical JSON (RFC 8785) of the template
    version and the terms. No language goes in, so the French and English notices of the same
    terms share a version: the learner agreed to the same thing whichever one they read."""
    document = {
        "template": NOTICE_TEMPLATE_VERSION,
        "terms": {
            "provider": terms.provider,
            "consumer": terms.consumer,
            "purpose": terms.purpose,
            "data_categories": list(terms.data_categories),
            "legal_basis": terms.legal_basis,
            "duration_days": terms.duration_days,
            "valid_until": None if terms.valid_until is None else _iso(terms.valid_until),
            "offering": terms.offering,
        },
    }
    return "v1-" + hashlib.sha256(rfc8785.dumps(document)).hexdigest()[:16]


def render_notice(terms: NoticeTerms, vocabulary: PurposeVocabulary, lang: str) -> Notice:
    """The notice for `terms` in `lang` ("en" or "fr"), one paragraph per thing to know."""
    text = TEMPLATES[check_language(lang)]
    purpose = vocabulary.resolve(terms.purpose)
    fill = {"provider": terms.provider, "consumer": terms.consumer, "offering": terms.offering}
    asks_consent = terms.legal_basis in CONSENT_BASES
    recipient = "recipient_offering" if terms.offering else "recipient"
    categories = [in_language(DATA_CATEGORIES[key], lang) for key in terms.data_categories]
    paragraphs = [
        text["holder"].format(**fill),
        text[recipient].format(**fill),
        text["purpose"].format(purpose=plain_purpose(vocabulary, purpose.iri, lang)),
        text["data"].format(categories=_join(categories, text["and"])),
        in_language(LEGAL_BASES[terms.legal_basis], lang),
        _duration(terms, lang, asks_consent),
    ]
    if asks_consent:
        paragraphs += [text["withdraw"], text["receipt"]]
    paragraphs += [text["dpo"].format(**fill), text["complaint"]]
    return Notice(
        lang=lang,
        title=text["title"].format(**fill),
        paragraphs=tuple(paragraphs),
        version=notice_version(terms),
    )


def format_date(moment: datetime, lang: str) -> str:
    """A date as a learner writes it: 31 December 2026, 31 décembre 2026, 1er janvier 2027.

    Month names are ours, not the locale module's: the node's locale must not decide what a
    learner reads, and times are shown in UTC, the zone the policy states them in."""
    month = MONTHS[check_language(lang)][moment.month - 1]
    day = "1er" if lang == "fr" and moment.day == 1 else str(moment.day)
    return f"{day} {month} {moment.year}"


def terms_from_policy(
    policy: dict[str, Any],
    *,
    provider: str,
    consumer: str,
    data_categories: Sequence[str],
    vocabulary: PurposeVocabulary,
    offering: str | None = None,
    legal_basis: str = "consent",
) -> NoticeTerms:
    """The notice terms of an offering, read from its ODRL policy (compact DSP JSON).

    How the policy is read:
    - Permissions are read in order; the first one with a purpose constraint (`purpose` with
      `eq`, `isA`, `isAnyOf` or `isAllOf`) gives the purpose and the limits. Prohibitions and
      `neq`/`isNoneOf` say what the data may *not* be used for, so they never name it.
    - When the right operand lists several purposes (`isAnyOf`, `isAllOf`), the first one is
      taken: a consent is asked per purpose, so an offering with several asks several times.
    - Limits: `dateTime` `lteq`/`lt` gives `valid_until`; `elapsedTime` `lteq`/`lt`/`eq` with an
      xsd:duration gives `duration_days`, with a month counted as 30 days and a year (12 months)
      as 365, and hours rounded up to a whole day, so the notice never promises a shorter use
      than the policy allows. The strictest limit wins. Only limits that always apply are read:
      those at the top of the rule or inside `and` / `andSequence`, not inside `or` / `xone`.
    - A policy the ODRL engine cannot read, that names no purpose, or whose purpose is not a
      DPV purpose is InvalidInput naming `policy`: no consent can be asked for it.
    """
    parsed = _read_policy(policy)
    for index, rule in enumerate(parsed.permissions):
        facts = list(_walk(rule.constraints, f"permission[{index}].constraint", True))
        purpose = _purpose(facts, vocabulary)
        if purpose is not None:
            return NoticeTerms(
                provider=provider,
                consumer=consumer,
                purpose=purpose.iri,
                data_categories=tuple(data_categories),
                legal_basis=legal_basis,
                duration_days=_duration_days(facts),
                valid_until=_valid_until(facts),
                offering=offering,
            )
    raise _policy_error("the offering names no purpose, so no consent can be asked for it")


# --- reading the policy -------------------------------------------------------------------------

_PURPOSE_OPERATORS: Final = frozenset(
    odrl.ODRL + name for name in ("eq", "isA", "isAnyOf", "isAllOf")
)
_UPPER_BOUNDS: Final = frozenset({odrl.ODRL + "lteq", odrl.ODRL + "lt"})
_CONJUNCTIONS: Final = frozenset({odrl.ODRL + "and", odrl.ODRL + "andSequence"})

_Fact = tuple[str, Constraint, bool]  # (path, constraint, always applies)


def _policy_error(message: str) -> InvalidInput:
    return InvalidInput(message, errors=[FieldError("policy", "notice", message)])


def _read_policy(policy: Any) -> Policy:
    if not isinstance(policy, dict):
        raise _policy_error("the offering's policy must be a JSON object")
    try:
        return policy_from_json(policy)
    except PolicyError as error:
        raise _policy_error(f"the offering's policy cannot be read: {error}") from error


def _walk(constraints: tuple[AnyConstraint, ...], path: str, always: bool) -> Iterator[_Fact]:
    """Every atomic constraint with its path, depth first, in document order."""
    for index, item in enumerate(constraints):
        where = f"{path}[{index}]"
        if isinstance(item, LogicalConstraint):
            nested = f"{where}.{odrl.compact(item.operator)}"
            yield from _walk(item.members, nested, always and item.operator in _CONJUNCTIONS)
        else:
            yield where, item, always


def _values(constraint: Constraint) -> tuple[Value, ...]:
    right = constraint.right_operand
    return right if isinstance(right, tuple) else (right,)


def _purpose(facts: list[_Fact], vocabulary: PurposeVocabulary) -> Purpose | None:
    for path, constraint, _always in facts:
        if constraint.left_operand != odrl.PURPOSE or constraint.operator not in _PURPOSE_OPERATORS:
            continue
        term = _values(constraint)[0].lexical
        purpose = vocabulary.get(term) if isinstance(term, str) else None
        if purpose is None:
            raise _policy_error(
                f"{path}.rightOperand: unknown purpose {term!r}; the offering must name a DPV "
                "purpose (e.g. sector-education:StudentPerformanceMonitoring) so that the "
                "learner can be told what it means"
            )
        return purpose
    return None


def _limits(facts: list[_Fact], left_operand: str) -> Iterator[tuple[str, Value]]:
    bounds = _UPPER_BOUNDS | ({odrl.ODRL + "eq"} if left_operand == odrl.ELAPSED_TIME else set())
    for path, constraint, always in facts:
        if always and constraint.left_operand == left_operand and constraint.operator in bounds:
            yield path, _values(constraint)[0]


def _valid_until(facts: list[_Fact]) -> datetime | None:
    moments = []
    for path, value in _limits(facts, odrl.DATE_TIME):
        try:
            moments.append(parse_datetime(value.lexical))
        except EvaluationError as error:
            raise _policy_error(f"{path}.rightOperand: {error}") from error
    return min(moments, default=None)


def _duration_days(facts: list[_Fact]) -> int | None:
    days = []
    for path, value in _limits(facts, odrl.ELAPSED_TIME):
        try:
            duration = parse_duration(value.lexical)
        except EvaluationError as error:
            raise _policy_error(f"{path}.rightOperand: {error}") from error
        years, months = divmod(duration.months, 12)
        total = years * DAYS_PER_YEAR + months * DAYS_PER_MONTH
        total += math.ceil(duration.seconds / 86400)
        if duration.months < 0 or duration.seconds < 0 or total < 1:
            raise _policy_error(
                f"{path}.rightOperand: {value.lexical!r} leaves no time to use the data"
            )
        days.append(total)
    return min(days, default=None)


# --- rendering ----------------------------------------------------------------------------------


def _duration(terms: NoticeTerms, lang: str, asks_consent: bool) -> str:
    text = TEMPLATES[lang]
    sentences = []
    if terms.duration_days is not None:
        count = text["day" if terms.duration_days == 1 else "days"].format(n=terms.duration_days)
        sentences.append(text["duration_days"].format(consumer=terms.consumer, days=count))
    if terms.valid_until is not None:
        sentences.append(text["valid_until"].format(date=format_date(terms.valid_until, lang)))
    if not sentences:
        sentences.append(text["no_end_consent" if asks_consent else "no_end"])
    return " ".join(sentences)


def _join(items: list[str], last: str) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + last + items[-1]


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
