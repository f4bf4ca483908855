"""The text side of tagging and naming: prompts per label (templates and/or descriptions), encoded
once and kept in the library's text vectors, averaged into one unit vector per label."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import numpy as np

from .embed import Embedder
from .errors import QueryError
from .label_sets import DEFAULT_STRATEGY, STRATEGIES, LabelSet
from .library import Library
from .progress import Progress, ProgressFn

TEXT_BATCH = 64  # prompts encoded (and kept) per step
EmbedderSource = Embedder | Callable[[], Embedder]  # a model, or a function that loads it when needed


# -- text side ---------------------------------------------------------------------------------------


def fill(template: str, label: str) -> str:
    """Put a label into a template, fixing 'a apple' -> 'an apple'."""
    return re.sub(r"\b([Aa]) (?=[aeiouAEIOU])", r"\1n ", template.replace("{}", label))


def label_prompts(label_set: LabelSet, strategy: str = DEFAULT_STRATEGY) -> list[list[list[str]]]:
    """Per label, the prompt groups whose means are averaged: [templates] and/or [descriptions]."""
    if strategy not in STRATEGIES:
        raise QueryError(f"unknown prompt strategy '{strategy}': use one of {', '.join(STRATEGIES)}")
    out = []
    for lab in label_set.labels:
        from_templates = [fill(t, lab) for t in label_set.templates]
        desc = list(label_set.descriptions.get(lab, ()))
        if strategy == "templates" or not desc:
            groups = [from_templates]  # a label without descriptions falls back to the templates
        elif strategy == "descriptions":
            groups = [desc]
        else:
            groups = [from_templates, desc]
        out.append(groups)
    return out


def label_embeddings(label_set: LabelSet, embedder: Embedder, strategy: str = DEFAULT_STRATEGY,
                     library: Library | None = None, progress: ProgressFn | None = None) -> np.ndarray:
    """[labels, dim] unit vectors: each the normalised mean of its prompt-group means.

    With a library, encoded prompts are kept in it and reused.
    """
    groups = label_prompts(label_set, strategy)
    flat = [p for lab in groups for g in lab for p in g]
    vecs = encode_texts_cached(library, embedder.spec, flat, embedder, progress)
    out = np.zeros((len(groups), embedder.dim), np.float32)
    pos = 0
    for i, lab in enumerate(groups):
        for g in lab:
            out[i] += _unit(vecs[pos:pos + len(g)].mean(0))
            pos += len(g)
        out[i] = _unit(out[i])
    return out


def resolve_embedder(source: EmbedderSource | None) -> Embedder | None:
    """An Embedder, or what a loader function returns (called once, when a model is really needed)."""
    # callable() and not the reverse: a QueryEmbedder (core.textfast) is a model without being an Embedder
    return source() if callable(source) and not isinstance(source, Embedder) else source


def encode_texts_cached(library: Library | None, model_spec: str, texts: Sequence[str],
                        embedder: EmbedderSource | None, progress: ProgressFn | None = None) -> np.ndarray:
    """[n, dim] unit vectors of texts. With a library, texts encoded before are read back from it,
    so `embedder` (an Embedder or a function loading one) is only used for new texts."""
    known: dict[str, np.ndarray] = {}
    mid = library.model_id(model_spec) if library is not None else None
    unique = list(dict.fromkeys(texts))
    if library is not None and mid is not None:
        known.update(library.tags.text_vectors(mid, unique))
    todo = [t for t in unique if t not in known]
    model = resolve_embedder(embedder) if todo else None
    if todo and model is None:
        raise QueryError("a model is needed to encode the label texts, and none was given")
    for i in range(0, len(todo), TEXT_BATCH):
        assert model is not None  # loaded above whenever there is something to encode
        batch = todo[i:i + TEXT_BATCH]
        vecs = model.encode_texts(batch)
        known.update(zip(batch, vecs))
        if library is not None:
            with library.transaction():
                mid = library.model_id(model_spec, model.dim)
                assert mid is not None  # registered: a dim was given
                library.tags.save_text_vectors(mid, batch, vecs)
        if progress is not None:
            progress(Progress("encoding labels", min(i + TEXT_BATCH, len(todo)), len(todo)))
    if not texts:
        return np.zeros((0, model.dim if model else 0), np.float32)
    return np.stack([known[t] for t in texts]).astype(np.float32)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / max(float(np.linalg.norm(v)), 1e-12)


