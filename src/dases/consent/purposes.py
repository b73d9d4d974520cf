"""The purposes a learner can consent to: the W3C DPV purpose taxonomy, read from its Turtle files.

A consent is given *for a purpose*, and the purpose has to mean the same thing to the provider,
the consumer, the policy engine and the learner. So purposes are never free text here: they are
DPV concepts (`https://w3id.org/dpv#AcademicResearch`, `https://w3id.org/dpv/sector/education#
StudentPerformanceMonitoring`), loaded from the published vocabulary files rather than copied into
code, so that a new DPV release is a file update, not a code change.

Terms are accepted as full IRIs or in the prefixed forms people actually type (`dpv:X`,
`sector-education:X`, and `edu:X` for short); everything inside works on full IRIs.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Final

import rdflib
from rdflib.namespace import RDF, RDFS, SKOS

from dases.errors import ConfigurationError, FieldError, InvalidInput
from dases.policy.vocab import DPV, DPV_EDUCATION

PURPOSE_FILES: Final = ("dpv-purposes.ttl", "sector-education-purposes.ttl")
ROOT: Final = DPV + "Purpose"

#: Prefixes a caller may use instead of a full IRI; `edu` is our short alias for the sector.
PREFIXES: Final[MappingProxyType[str, str]] = MappingProxyType(
    {"dpv": DPV, "sector-education": DPV_EDUCATION, "edu": DPV_EDUCATION}
)


@dataclass(frozen=True)
class Purpose:
    """One DPV purpose concept, with the English wording DPV gives it."""

    iri: str
    label: str
    definition: str
    broader: tuple[str, ...]


def expand(term: str) -> str:
    """The full IRI for `dpv:X`, `sector-education:X` or `edu:X`; any other string unchanged.

    Purely syntactic, so it can run where no vocabulary is at hand (e.g. to put a notice's terms
    in canonical form before hashing them); `PurposeVocabulary.resolve` is the checking variant.
    """
    text = term.strip()
    prefix, sep, local = text.partition(":")
    if sep and prefix in PREFIXES and local and not local.startswith("//"):
        return PREFIXES[prefix] + local
    return text


class PurposeVocabulary:
    """The purposes DASES knows, by IRI, with their `skos:broader` hierarchy."""

    def __init__(self, purposes: dict[str, Purpose]) -> None:
        self._purposes: MappingProxyType[str, Purpose] = MappingProxyType(dict(purposes))

    def __len__(self) -> int:
        return len(self._purposes)

    def __contains__(self, term: object) -> bool:
        return isinstance(term, str) and self.get(term) is not None

    def __iter__(self) -> Iterator[Purpose]:
        return iter(self._purposes.values())

    def get(self, term: str) -> Purpose | None:
        """The purpose named by `term` (full IRI or prefixed), or None if DPV has no such purpose."""
        return self._purposes.get(expand(term))

    def resolve(self, term: str) -> Purpose:
        """Like `get`, but an unknown term is bad input (422) that names it: a consent for a
        purpose nobody can look up would be a consent to nothing in particular."""
        purpose = self.get(term) if isinstance(term, str) else None
        if purpose is None:
            message = (
                f"unknown purpose {term!r}: expected a DPV purpose such as dpv:AcademicResearch "
                "or sector-education:StudentPerformanceMonitoring (or its full IRI)"
            )
            raise InvalidInput(message, errors=[FieldError("purpose", "dpv_purpose", message)])
        return purpose

    def normalise(self, term: str) -> str:
        """The full IRI of a known purpose; raises InvalidInput for an unknown one."""
        return self.resolve(term).iri

    def ancestors(self, term: str) -> tuple[str, ...]:
        """Every broader purpose of `term`, nearest first (breadth-first over `skos:broader`).

        The order matters to callers that want the *closest* more general purpose, such as the
        plain-language fallback of a notice. dpv:Purpose always ends the list, even where the
        chain leaves the purpose files (dpv:RightsFulfilment sits under the legal basis
        dpv:LegalObligation): every member of the vocabulary is typed dpv:Purpose.
        """
        start = self.resolve(term).iri
        seen = {start}
        order: list[str] = []
        pending = deque(self._purposes[start].broader)
        while pending:
            current = pending.popleft()
            if current in seen:
                continue
            seen.add(current)
            order.append(current)
            if current in self._purposes:
                pending.extend(self._purposes[current].broader)
        if start != ROOT and ROOT not in seen:
            order.append(ROOT)
        return tuple(order)

    def is_a(self, term: str, ancestor: str) -> bool:
        """Whether `term` is `ancestor` or narrower than it, however far down.

        This is what lets a consent for dpv:AcademicResearch cover
        sector-education:ResearchDataManagement. It is reflexive, like ODRL's `isA`.
        """
        narrow, broad = self.normalise(term), self.normalise(ancestor)
        return narrow == broad or broad in self.ancestors(narrow)


def load_purposes(directory: Path) -> PurposeVocabulary:
    """The purposes defined in `directory` (dpv-purposes.ttl and sector-education-purposes.ttl).

    The parse is cached per directory (about half a second of Turtle), so callers can ask for it
    on every request. A missing or unreadable file is a ConfigurationError naming the directory:
    the node cannot ask for consent without knowing what the purposes are.
    """
    return _load(str(Path(directory).resolve()))


@lru_cache(maxsize=8)
def _load(directory: str) -> PurposeVocabulary:
    paths = [Path(directory) / name for name in PURPOSE_FILES]
    missing = [path.name for path in paths if not path.is_file()]
    if missing:
        raise ConfigurationError(
            f"the DPV purpose vocabulary is missing from {directory}: {', '.join(missing)} "
            "not found"
        )
    graph = rdflib.Graph()
    for path in paths:
        try:
            graph.parse(path, format="turtle")
        except Exception as error:  # rdflib raises many parser exception types
            raise ConfigurationError(
                f"cannot read the DPV purpose vocabulary in {directory}: {path.name}: {error}"
            ) from error
    return PurposeVocabulary(_purposes_in(graph))


def _purposes_in(graph: rdflib.Graph) -> dict[str, Purpose]:
    """Every purpose concept: dpv:Purpose itself, what is typed dpv:Purpose, and any class whose
    `skos:broader` chain reaches dpv:Purpose. The files also define dpv:Sector and the
    properties dpv:hasPurpose / dpv:hasSector as concepts; those are not purposes and stay out."""
    root = rdflib.URIRef(ROOT)
    broader: dict[rdflib.URIRef, list[rdflib.URIRef]] = {}
    for narrow, broad in graph.subject_objects(SKOS.broader):
        if isinstance(narrow, rdflib.URIRef) and isinstance(broad, rdflib.URIRef):
            broader.setdefault(narrow, []).append(broad)
    candidates = {
        node
        for node in (*graph.subjects(RDF.type, RDFS.Class), *graph.subjects(RDF.type, root))
        if isinstance(node, rdflib.URIRef)
    }
    typed = set(graph.subjects(RDF.type, root))
    members = {
        node
        for node in candidates
        if node == root or node in typed or _reaches(node, root, broader)
    }
    return {
        str(node): Purpose(
            iri=str(node),
            label=_english(graph, node, SKOS.prefLabel) or _local_name(str(node)),
            definition=_english(graph, node, SKOS.definition),
            broader=tuple(sorted(str(item) for item in broader.get(node, ()))),
        )
        for node in sorted(members)
    }


def _reaches(
    node: rdflib.URIRef, target: rdflib.URIRef, broader: dict[rdflib.URIRef, list[rdflib.URIRef]]
) -> bool:
    seen: set[rdflib.URIRef] = set()
    pending = list(broader.get(node, ()))
    while pending:
        current = pending.pop()
        if current == target:
            return True
        if current not in seen:
            seen.add(current)
            pending.extend(broader.get(current, ()))
    return False


def _english(graph: rdflib.Graph, node: rdflib.URIRef, predicate: rdflib.URIRef) -> str:
    """The @en literal (else an untagged one): DPV labels and definitions are in English."""
    fallback = ""
    for value in graph.objects(node, predicate):
        if isinstance(value, rdflib.Literal):
            if value.language == "en":
                return str(value)
            if value.language is None and not fallback:
                fallback = str(value)
    return fallback


def _local_name(iri: str) -> str:
    return iri.rsplit("#", 1)[-1].rsplit("/", 1)[-1]
