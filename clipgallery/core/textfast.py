"""The text tower without torch: exported once to ONNX, verified against torch, run by ONNX Runtime.

A query from a fresh process then costs the imports of numpy and onnxruntime and one read of the
text tower's weights instead of torch, open_clip and the whole model. The export lives in the
model cache (CLIPGALLERY_MODEL_CACHE, else the user cache dir), one folder per model spec:

  text.onnx             the text transformer after the token embedding (dynamic batch and length)
  text.weights          its weights (external data, mapped by ONNX Runtime rather than copied)
  token_embedding.npy   the embedding table, memory-mapped: a query reads only its tokens' rows
  vocab.sqlite          the tokenizer's BPE merges and vocabulary (core.tokenizer, no torch)
  meta.json             what it was built from (weights fingerprint, torch/open_clip/onnxruntime
                        versions, EXPORT_VERSION) and the verification figures; written last

An export is trusted only when meta.json says it passed verification (vectors equal to the torch
path within VERIFY_ATOL, identical top-10 for VERIFY_QUERIES) and everything it was built from is
unchanged; otherwise the caller falls back to torch and builds a fresh one (QueryEmbedder does).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ClipGalleryError
from .models import ModelSpec, bundled_models, parse_spec

EXPORT_VERSION = 2
WEIGHTS_FILE = "text.weights"
CACHE_ENV = "CLIPGALLERY_MODEL_CACHE"
DISABLE_ENV = "CLIPGALLERY_FAST_TEXT"  # "0": always encode text with torch
VERIFY_ATOL = 1e-4
VERIFY_TOP = 10
VERIFY_POOL_MAX = 20_000
VERIFY_QUERIES = (
    "", "a", "a dog", "a cat on a sofa", "kids playing on the beach at sunset", "a red circle",
    "a blue square", "a yellow star", "a birthday cake with candles", "mountains in the snow",
    "a city street at night", "a portrait of an elderly woman", "food on a plate", "a screenshot",
    "ünïcödé — 東京の夜景 🌃", "&amp; html entities &lt;b&gt;", "word " * 120,
)
_RUNTIME_PACKAGES = (("torch", "version.py"), ("open_clip", "version.py"), ("onnxruntime", "__init__.py"))


class FastPathUnavailable(ClipGalleryError):
    """The torch-free text encoder cannot be used (or built) for this model; the reason says why."""


def cache_root() -> Path:
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("clipgallery", appauthor=False)) / "text-encoders"


def export_dir(spec: str) -> Path:
    return cache_root() / hashlib.sha1(spec.encode("utf-8", "surrogateescape")).hexdigest()[:16]


def disabled() -> bool:
    return os.environ.get(DISABLE_ENV, "").strip().lower() in ("0", "false", "no", "off")


def weights_fingerprint(ms: ModelSpec) -> str:
    """What identifies the weights without reading them: file sizes and mtimes, or the spec itself.

    A pretrained tag (ViT-B-32:laion2b_s34b_b79k) or hub name stands for one published checkpoint,
    so its name is its fingerprint; local files are identified by path, size and modification time.
    """
    def stat(path: Path) -> str:
        st = path.stat()
        return f"{path}:{st.st_size}:{st.st_mtime_ns}"

    if ms.kind == "bundled":
        from .resources import resource

        entry = bundled_models()[ms.text]
        shipped = [resource("models", f"{ms.text}.json")]
        if entry.get("weights"):
            shipped.append(resource("models", entry["weights"]))
        # Inside an archive (a zipped install) there is no stable mtime: the bytes identify the files.
        return ";".join(stat(r) if isinstance(r, Path) else f"{r.name}:{hashlib.sha1(r.read_bytes()).hexdigest()}"
                        for r in shipped if r.is_file())
    if ms.kind == "file" and ms.path is not None:
        return stat(ms.path)
    if ms.kind == "local-dir" and ms.path is not None:
        return ";".join(stat(p) for p in sorted(ms.path.iterdir()) if p.is_file())
    return ms.text


def runtime_versions() -> dict[str, str]:
    """Versions of what built and runs an export; a change makes the export stale.

    Read from each package's version.py / __init__.py without importing it (importing torch is
    what the fast path avoids, and importlib.metadata alone costs 0.15 s).
    """
    out = {"export": str(EXPORT_VERSION)}
    for module, file in _RUNTIME_PACKAGES:
        out[module] = _source_version(module, file)
    return out


def _source_version(module: str, file: str) -> str:
    from importlib.util import find_spec

    with contextlib.suppress(ImportError, ValueError, OSError):
        spec = find_spec(module)
        for folder in (spec.submodule_search_locations or []) if spec else []:
            text = (Path(folder) / file).read_text(encoding="utf-8")
            m = re.search(r"""^__version__\s*=\s*['"]([^'"]+)['"]""", text, re.M)
            if m:
                return m.group(1)
    return ""


def _expected(spec: str) -> dict[str, Any]:
    return {"spec": spec, "fingerprint": weights_fingerprint(parse_spec(spec)), "versions": runtime_versions()}


def stale_reason(meta: dict[str, Any], spec: str) -> str | None:
    """Why an export described by `meta` cannot be trusted for `spec` now, or None when it can."""
    want = _expected(spec)
    if meta.get("spec") != spec:
        return "it was built for another model"
    if meta.get("fingerprint") != want["fingerprint"]:
        return "the model's weights changed since it was built"
    if meta.get("versions") != want["versions"]:
        return "torch, open_clip or onnxruntime changed since it was built"
    if not meta.get("verified"):
        return "it did not pass verification"
    return None


# -- running an export (no torch) --------------------------------------------------------------------


class FastTextEncoder:
    """Texts -> unit vectors through an exported text tower; the same vectors as Embedder.encode_texts."""

    def __init__(self, folder: Path, meta: dict[str, Any]):
        import onnxruntime as ort

        from .tokenizer import ClipTokenizer

        self.folder, self.meta = folder, meta
        self.spec: str = meta["spec"]
        self.dim: int = int(meta["dim"])
        self.logit_scale: float = float(meta["logit_scale"])
        self.tokenizer = ClipTokenizer.from_table(folder / "vocab.sqlite", int(meta["context_length"]))
        self.pool: str = meta["pool"]
        self.eos_id: int = int(meta["eos_id"])
        self.embedding = np.load(folder / "token_embedding.npy", mmap_mode="r")
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        # The model was optimised once at build time; a query's process only loads it.
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        opts.intra_op_num_threads = min(4, os.cpu_count() or 1)
        self.session = ort.InferenceSession(str(folder / "text.onnx"), opts, providers=["CPUExecutionProvider"])

    def pool_index(self, tokens: np.ndarray) -> np.ndarray:
        if self.pool == "argmax":
            return tokens.argmax(axis=1)
        return (tokens == self.eos_id).argmax(axis=1)

    def encode_texts(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        tokens = self.tokenizer(list(texts))
        idx = self.pool_index(tokens)
        order = np.argsort(idx, kind="stable")  # shortest first: each batch stops at its longest text
        out = np.zeros((len(texts), self.dim), np.float32)
        for start in range(0, len(order), batch_size):
            rows = order[start:start + batch_size]
            n = int(idx[rows].max()) + 1
            embeds = np.ascontiguousarray(self.embedding[tokens[rows, :n]], dtype=np.float32)
            (feats,) = self.session.run(None, {"embeds": embeds, "idx": idx[rows].astype(np.int64)})
            out[rows] = feats
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-12)


def load(spec: str) -> FastTextEncoder:
    """The verified, up-to-date export of `spec`; FastPathUnavailable (with the reason) otherwise."""
    if disabled():
        raise FastPathUnavailable(f"turned off by {DISABLE_ENV}=0")
    folder = export_dir(spec)
    try:
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FastPathUnavailable("it has not been built yet for this model") from None
    except (OSError, ValueError) as e:
        raise FastPathUnavailable(f"its description in {folder} cannot be read ({e})") from None
    if meta.get("unsupported"):
        if stale_reason({**meta, "verified": True}, spec) is None:
            raise FastPathUnavailable(meta["unsupported"])
        raise FastPathUnavailable("it has not been built yet for this model")
    reason = stale_reason(meta, spec)
    if reason:
        raise FastPathUnavailable(f"the saved one is out of date: {reason}")
    try:
        return FastTextEncoder(folder, meta)
    except ImportError as e:
        raise FastPathUnavailable(f"onnxruntime is not installed ({e})") from None
    except Exception as e:  # a damaged file: rebuilt by the torch path
        raise FastPathUnavailable(f"the saved one cannot be loaded ({type(e).__name__}: {e})") from None


# -- building an export (needs torch) ----------------------------------------------------------------


def build(embedder: Any, reference: np.ndarray | None = None,
          notify: Callable[[str], None] | None = None) -> FastTextEncoder:
    """Export the text tower of a loaded torch Embedder, verify it, and publish it in the cache.

    `reference`: vectors to rank in the top-10 check (e.g. a library's photos); seeded random unit
    vectors otherwise. FastPathUnavailable when the model cannot take this path (it is then
    recorded, so later runs do not try again until the model or the runtime changes).
    """
    notify = notify or (lambda message: None)
    spec = embedder.spec
    try:
        _check_exportable(embedder)
    except FastPathUnavailable as e:
        _record_unsupported(spec, str(e))
        raise
    root = cache_root()
    tmp = root / f".build-{secrets.token_hex(6)}"
    try:
        tmp.mkdir(parents=True)
    except OSError as e:
        raise FastPathUnavailable(f"cannot write the model cache {root}: {e.strerror or e}") from None
    try:
        t0 = time.perf_counter()
        meta = _export(embedder, tmp)
        meta.update(_expected(spec))
        encoder = FastTextEncoder(tmp, meta)
        meta.update(_verify(embedder, encoder, reference))
        meta.update(verified=True, built_at=time.time(), build_seconds=round(time.perf_counter() - t0, 2))
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1), encoding="utf-8")
        del encoder
        final = export_dir(spec)
        _replace_dir(tmp, final)
    except FastPathUnavailable:
        raise
    except ImportError as e:
        raise FastPathUnavailable(f"exporting needs the onnx and onnxruntime packages ({e})") from None
    except OSError as e:
        raise FastPathUnavailable(f"cannot write the model cache {root}: {e.strerror or e}") from None
    except Exception as e:  # an exporter or runtime that cannot handle this model: not retried until they change
        reason = f"exporting {spec} failed ({type(e).__name__}: {str(e)[:200]})"
        _record_unsupported(spec, reason)
        raise FastPathUnavailable(reason) from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    notify(f"Built the fast text encoder for {spec} in {meta['build_seconds']:.1f} s "
           f"(verified: max difference {meta['max_abs_diff']:.1e}); later searches start without torch")
    return FastTextEncoder(final, meta)


def _check_exportable(embedder: Any) -> None:
    from .embed import _truncatable

    model = embedder.model
    tok = embedder._m.tokenizer
    if not _truncatable(model):
        raise FastPathUnavailable(f"{embedder.spec} has a text tower the fast path does not cover "
                                  "(it handles CLIP's causal text transformer)")
    if type(tok).__name__ != "SimpleTokenizer" or getattr(tok, "reduction_fn", None) is not None or \
            getattr(getattr(tok, "clean_fn", None), "__name__", "") != "_clean_lower" or \
            len(getattr(tok, "encoder", ())) != 49408:
        raise FastPathUnavailable(f"{embedder.spec} uses a tokenizer the fast path does not cover")


def _record_unsupported(spec: str, reason: str) -> None:
    folder = export_dir(spec)
    with contextlib.suppress(OSError):
        folder.mkdir(parents=True, exist_ok=True)
        for p in folder.iterdir():
            if p.is_file():
                p.unlink()
        (folder / "meta.json").write_text(json.dumps({**_expected(spec), "unsupported": reason}), encoding="utf-8")


def _export(embedder: Any, folder: Path) -> dict[str, Any]:
    import torch

    from .embed import _lean_blocks
    from .tokenizer import MERGES_FILE, make_table, open_clip_merges

    model = embedder.model
    if next(model.parameters()).dtype != torch.float32 or embedder.device != "cpu":
        raise FastPathUnavailable("the export is made from the model in float32 on the CPU")
    merges = open_clip_merges()
    if merges is None:
        raise FastPathUnavailable(f"open_clip's {MERGES_FILE} was not found")
    make_table(merges, folder / "vocab.sqlite")
    np.save(folder / "token_embedding.npy", model.token_embedding.weight.detach().cpu().numpy().astype(np.float32))
    tower = _Tower(model, _lean_blocks(model.transformer)).eval()
    width = model.token_embedding.weight.shape[1]
    example = (torch.randn(2, 5, width), torch.tensor([4, 2]))
    raw = folder / "raw.onnx"
    import warnings

    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(tower, example, str(raw), dynamo=False, opset_version=17,
                          input_names=["embeds", "idx"], output_names=["features"],
                          dynamic_axes={"embeds": {0: "batch", 1: "length"}, "idx": {0: "batch"}})
    _optimise(raw, folder / "text.onnx")
    raw.unlink()
    tokenizer = embedder._m.tokenizer
    return {"dim": int(embedder.dim), "logit_scale": float(embedder.logit_scale),
            "context_length": int(tokenizer.context_length), "pool": model.text_pool_type,
            "eos_id": int(getattr(model, "text_eos_id", None) or tokenizer.eot_token_id),
            "image_size": int(embedder.image_size)}


def _optimise(src: Path, dest: Path) -> None:
    """Let ONNX Runtime fold and fuse the graph once, so a query's process can skip that step."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    opts.optimized_model_filepath = str(dest)
    # The weights beside the graph, in their own file: ONNX Runtime maps them instead of copying
    # them out of the protobuf, which saves a query's process a third of its start-up CPU time.
    opts.add_session_config_entry("session.optimized_model_external_initializers_file_name", WEIGHTS_FILE)
    opts.add_session_config_entry("session.optimized_model_external_initializers_min_size_in_bytes", "1024")
    ort.InferenceSession(str(src), opts, providers=["CPUExecutionProvider"])


def _tower_class() -> type:
    import torch

    from .embed import _lean_block

    class Tower(torch.nn.Module):
        """CLIP.encode_text after the token embedding, stopping at the pooled position (see embed.py)."""

        def __init__(self, model: Any, lean: bool):
            super().__init__()
            self.model, self.lean = model, lean

        def forward(self, x: Any, idx: Any) -> Any:
            m = self.model
            n = x.shape[1]
            cast = m.transformer.get_cast_dtype()
            x = x.to(cast) + m.positional_embedding[:n].to(cast)
            if self.lean:
                for block in m.transformer.resblocks:
                    x = _lean_block(block, x)
            else:
                x = m.transformer(x, attn_mask=m.attn_mask[:n, :n])
            x = m.ln_final(x)
            x = x[torch.arange(x.shape[0]), idx]
            proj = m.text_projection
            if proj is not None:
                x = proj(x) if isinstance(proj, torch.nn.Module) else x @ proj
            return x

    return Tower


def _Tower(model: Any, lean: bool) -> Any:
    return _tower_class()(model, lean)


def _verify(embedder: Any, encoder: FastTextEncoder, reference: np.ndarray | None) -> dict[str, Any]:
    """Both paths on VERIFY_QUERIES: vectors within VERIFY_ATOL and the same top-10 of `reference`."""
    want = embedder.encode_texts(VERIFY_QUERIES)
    got = encoder.encode_texts(VERIFY_QUERIES)
    diff = float(np.abs(want - got).max())
    if not diff <= VERIFY_ATOL:
        raise FastPathUnavailable(f"the exported text tower disagrees with torch (max difference {diff:.1e})")
    pool = reference if reference is not None and len(reference) >= VERIFY_TOP else _random_pool(embedder.dim)
    if len(pool) > VERIFY_POOL_MAX:  # a large library: a seeded sample ranks just as well, in a fraction
        pool = pool[np.sort(np.random.default_rng(0).choice(len(pool), VERIFY_POOL_MAX, replace=False))]
    pool = np.unique(np.asarray(pool, np.float32), axis=0)  # duplicate photos would tie
    for q, (w, g) in enumerate(zip(want, got)):
        if not same_top(pool @ w, pool @ g, VERIFY_TOP):
            raise FastPathUnavailable(f"the exported text tower ranks '{VERIFY_QUERIES[q][:40]}' differently")
    return {"max_abs_diff": diff, "verified_queries": len(VERIFY_QUERIES), "verified_pool": len(pool)}


def same_top(want: np.ndarray, got: np.ndarray, k: int, tol: float = 1e-5) -> bool:
    """The same top-k rows in the same order; rows whose reference scores tie (within tol) may swap."""
    k = min(k, len(want))
    a = np.argsort(-want, kind="stable")[:k]
    b = np.argsort(-got, kind="stable")[:k]
    return all(x == y or abs(want[x] - want[y]) <= tol for x, y in zip(a, b))


def _random_pool(dim: int, n: int = 4096) -> np.ndarray:
    v = np.random.default_rng(0).standard_normal((n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _replace_dir(src: Path, dest: Path) -> None:
    """Put a finished build in place; a reader sees the old folder, nothing, or the new one."""
    old = dest.with_name(f".old-{dest.name}-{secrets.token_hex(4)}")
    with contextlib.suppress(FileNotFoundError):
        dest.rename(old)
    try:
        src.rename(dest)
    except OSError:
        if dest.exists():  # another process published the same build meanwhile
            return
        raise
    finally:
        shutil.rmtree(old, ignore_errors=True)


# -- the Embedder that answers queries -----------------------------------------------------------------


class QueryEmbedder:
    """An Embedder for answering queries: texts through the fast path, images through torch on demand.

    Has the Embedder interface Searcher and tagging use. Torch is imported only when something needs
    it: an image to encode, or text while the fast path is unavailable; then the export is built
    from the loaded model (when `build` is set), so the next process runs without torch.
    """

    def __init__(self, spec: str, dim: int, device: str = "auto", notify: Callable[[str], None] | None = None,
                 build: bool = True, reference: Callable[[], np.ndarray | None] | None = None,
                 loader: Callable[[str, str], Any] | None = None):
        self._spec, self._dim, self._device = spec, dim, device
        self.notify = notify or (lambda message: print(message, file=sys.stderr))
        self.loader = loader or self._load_torch  # (spec, device) -> Embedder; the CLI's shows a download bar
        self.build = build
        self.reference = reference or (lambda: None)
        self._torch: Any = None
        self._fast: FastTextEncoder | None = None
        self.fast_reason = ""
        self._tried = False  # the fallback is announced, and a build attempted, once per process
        try:
            fast = load(spec)
            if fast.dim != dim:
                raise FastPathUnavailable(f"it gives {fast.dim}-d vectors but the library holds {dim}-d ones")
            self._fast = fast
        except FastPathUnavailable as e:
            self.fast_reason = str(e)

    @property
    def fast(self) -> bool:
        return self._fast is not None

    @property
    def spec(self) -> str:
        return self._spec

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def device(self) -> str:
        if self._fast is not None:
            return "cpu"
        return self._torch.device if self._torch is not None else self._device

    @property
    def logit_scale(self) -> float:
        return self._fast.logit_scale if self._fast is not None else self.torch_embedder().logit_scale

    def torch_embedder(self) -> Any:
        if self._torch is None:
            self._torch = self.loader(self._spec, self._device)
        return self._torch

    def _load_torch(self, spec: str, device: str) -> Any:
        from .embed import Embedder

        self.notify(f"Loading model {spec}...")
        return Embedder.load(spec, device)

    def encode_texts(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        if self._fast is None:
            first = not self._tried
            self._tried = True
            if first:
                self.notify(f"The fast text encoder is not available ({self.fast_reason}); encoding with torch")
            torch_embedder = self.torch_embedder()
            vecs = torch_embedder.encode_texts(texts)
            if first and self.build and not disabled():
                self._build_from(torch_embedder)
            return vecs
        return self._fast.encode_texts(texts, batch_size)

    def _build_from(self, torch_embedder: Any) -> None:
        try:
            source = torch_embedder
            if torch_embedder.device != "cpu":  # the export is made from float32 weights on the CPU
                source = self.loader(self._spec, "cpu")
            self._fast = build(source, self.reference(), self.notify)
        except FastPathUnavailable as e:
            self.fast_reason = str(e)
            self.notify(f"The fast text encoder could not be built: {e}")

    def __getattr__(self, name: str) -> Any:
        # Everything about images (image_size, preprocess, encode_images, supports_regions, ...) needs torch.
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.torch_embedder(), name)


def ensure_built(embedder: Any, reference: Callable[[], np.ndarray | None] | None = None,
                 notify: Callable[[str], None] | None = None) -> bool:
    """After a command that loaded the torch model anyway (index): build the export if it is missing
    or stale, so that the next search starts without torch. Only from a float32 model on the CPU
    (one on a GPU runs in float16; the first search then builds it). True when one is usable."""
    if disabled():
        return False
    try:
        load(embedder.spec)
        return True
    except FastPathUnavailable as e:
        if str(e) == _unsupported_reason(embedder.spec) or embedder.device != "cpu":
            return False
    try:
        build(embedder, reference() if reference else None, notify)
        return True
    except FastPathUnavailable as e:
        (notify or (lambda m: None))(f"The fast text encoder could not be built: {e}")
        return False


def _unsupported_reason(spec: str) -> str | None:
    with contextlib.suppress(OSError, ValueError):
        meta = json.loads((export_dir(spec) / "meta.json").read_text(encoding="utf-8"))
        if meta.get("unsupported") and stale_reason({**meta, "verified": True}, spec) is None:
            return meta["unsupported"]
    return None


def query_embedder(library: Any, spec: str, device: str = "auto", notify: Callable[[str], None] | None = None,
                   loader: Callable[[str, str], Any] | None = None) -> QueryEmbedder:
    """A QueryEmbedder for an indexed model of a library; the library's photos verify a new export.
    `loader(spec, device)` loads the torch Embedder when one is needed (default: Embedder.load)."""
    dim = next(d for _, s, d, _ in library.models() if s == spec)

    def reference() -> np.ndarray | None:
        mid = library.model_id(spec)
        return library.vectors(mid)[1] if mid is not None else None

    return QueryEmbedder(spec, dim, device, notify, reference=reference, loader=loader)
