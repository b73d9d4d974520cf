"""Concept hierarchies (DPV purposes, consent statuses) for the `isA` operator.

A policy that permits `purpose isA dpv:AcademicResearch` must also permit a request declaring
`sector-education:ResearchDataManagement`, because DPV says the latter is narrower. The hierarchy
is data, not code: it is read from the DPV Turtle files the caller points at (the education sector
purposes, the consent statuses), following `skos:broader` and `rdfs:subClassOf` transitively.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

import rdflib
from rdflib.namespace import RDFS, SKOS

_EDGES = (SKOS.broader, SKOS.broaderTransitive, RDFS.subClassOf)


@dataclass(frozen=True)
class Taxonomy:
    """Broader concepts by concept IRI; `is_a` walks them transitively (cycles are harmless)."""

    broader: Mapping[str, frozenset[str]] = field(default_factory=lambda: MappingProxyType({}))

    @classmethod
    def from_graph(cls, graph: rdflib.Graph) -> Taxonomy:
        edges: dict[str, set[str]] = {}
        for predicate in _EDGES:
            for narrower, broader in graph.subject_objects(predicate):
                if isinstance(narrower, rdflib.URIRef) and isinstance(broader, rdflib.URIRef):
                    edges.setdefault(str(narrower), set()).add(str(broader))
        return cls(MappingProxyType({key: frozenset(value) for key, value in edges.items()}))

    @classmethod
    def from_turtle(cls, *paths: str | Path) -> Taxonomy:
        """Read Turtle files, e.g. dpv-purposes.ttl and sector-education-purposes.ttl."""
        graph = rdflib.Graph()
        for path in paths:
            graph.parse(str(path), format="turtle")
        return cls.from_graph(graph)

    def merge(self, *others: Taxonomy) -> Taxonomy:
        edges: dict[str, set[str]] = {key: set(value) for key, value in self.broader.items()}
        for other in others:
            for key, value in other.broader.items():
                edges.setdefault(key, set()).update(value)
        return Taxonomy(MappingProxyType({key: frozenset(value) for key, value in edges.items()}))

    def ancestors(self, concept: str) -> frozenset[str]:
        """Every concept broader than `concept`, however far up."""
        seen: set[str] = set()
        pending = list(self.broader.get(concept, ()))
        while pending:
            current = pending.pop()
            if current not in seen:
                seen.add(current)
                pending.extend(self.broader.get(current, ()))
        return frozenset(seen)

    def is_a(self, concept: str, ancestor: str) -> bool:
        return concept == ancestor or ancestor in self.ancestors(concept)
