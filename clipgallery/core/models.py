"""Which CLIP models exist and how to load one: bundled tiny models, open_clip names, HF hub, files.

A spec is one string:
  shapes-tiny, tiny-random           a model bundled in resources/models (no download)
  ViT-B-32:laion2b_s34b_b79k         an open_clip architecture with a pretrained tag
  ViT-B-32                           the same with our preferred tag for that architecture
  hf-hub:laion/CLIP-ViT-B-32-...     a Hugging Face hub repository in open_clip format
  ViT-B-32:/path/to/weights.pt       an architecture with a local checkpoint (.pt/.bin/.safetensors)
  /path/to/folder                    a local folder with open_clip_config.json and weights
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import ModelLoadError

if TYPE_CHECKING:
    from .download import DownloadFn

# laion2b_s34b_b79k: the strongest ViT-B-32 checkpoint on open_clip's image-text retrieval
# benchmarks (what search is), widely used in photo tools, and the same cost to run as any B-32.
DEFAULT_MODEL = "ViT-B-32:laion2b_s34b_b79k"
PREFERRED_TAGS = {
    "ViT-B-32": "laion2b_s34b_b79k",
    "ViT-B-16": "laion2b_s34b_b88k",
    "ViT-L-14": "laion2b_s32b_b82k",
    "ViT-H-14": "laion2b_s32b_b79k",
}
WEIGHT_SUFFIXES = (".safetensors", ".pt", ".pth", ".bin", ".ckpt")


def default_spec() -> str:
    return os.environ.get("CLIPGALLERY_MODEL") or DEFAULT_MODEL


def resources_dir() -> Path:
    """The shipped resources as a real folder; new code reads them through core.resources instead."""
    from .resources import resources_folder

    return resources_folder()


@cache
def bundled_models() -> dict[str, dict[str, Any]]:
    """name -> registry entry, from resources/models/*.json."""
    from .resources import listing

    entries = {}
    for res in listing("models", ".json"):
        entry = json.loads(res.read_text(encoding="utf-8"))
        entries[entry["name"]] = entry
    return entries


@dataclass(frozen=True)
class ModelSpec:
    text: str  # canonical form, stored in the library: vectors are kept per spec
    kind: str  # bundled | open_clip | hf-hub | file | local-dir
    arch: str | None = None
    pretrained: str | None = None
    path: Path | None = None


def parse_spec(text: str | None) -> ModelSpec:
    """Read a spec string; checks that need open_clip (is the architecture known?) happen at load."""
    text = (text or default_spec()).strip()
    if not text:
        raise ModelLoadError("empty model name")
    if text in bundled_models():
        return ModelSpec(text, "bundled")
    if text.startswith("hf-hub:"):
        return ModelSpec(text, "hf-hub")
    if text.startswith("local-dir:"):
        return _local_dir(Path(text[len("local-dir:"):]))
    as_path = Path(text).expanduser()
    if as_path.is_dir():
        return _local_dir(as_path)
    if as_path.is_file():
        raise ModelLoadError(
            f"'{text}' is a weights file, but a file alone does not say which architecture it is: "
            f"write it as ARCH:{text} (for example ViT-B-32:{text})"
        )
    arch, sep, rest = text.partition(":")
    if not sep:
        return ModelSpec(f"{arch}:{PREFERRED_TAGS[arch]}" if arch in PREFERRED_TAGS else arch, "open_clip",
                         arch, PREFERRED_TAGS.get(arch))
    rest_path = Path(rest).expanduser()
    if rest_path.suffix.lower() in WEIGHT_SUFFIXES or rest_path.exists():
        if not rest_path.is_file():
            raise ModelLoadError(f"model weights file not found: {rest_path}")
        rest_path = rest_path.resolve()
        return ModelSpec(f"{arch}:{rest_path}", "file", arch, None, rest_path)
    return ModelSpec(text, "open_clip", arch, rest)


def _local_dir(path: Path) -> ModelSpec:
    path = path.expanduser().resolve()
    if not (path / "open_clip_config.json").is_file():
        raise ModelLoadError(f"{path} is a folder but has no open_clip_config.json: not a model folder")
    return ModelSpec(f"local-dir:{path}", "local-dir", path=path)


def model_at_hand(spec: str | None) -> bool:
    """Whether a spec loads without a download (bundled, a local file or folder, weights already in
    the cache). A malformed spec is not at hand: loading it says what is wrong."""
    try:
        ms = parse_spec(spec)
    except ModelLoadError:
        return False
    if ms.kind != "open_clip" and ms.kind != "hf-hub":
        return True
    from .download import cached, hub_files

    files = hub_files(ms.kind, ms.text, ms.arch, ms.pretrained)
    return files is None or cached(files)


def pick_device(preference: str = "auto") -> str:
    """cuda, then mps, then cpu; an explicit choice that is not available is an error."""
    import torch

    preference = (preference or "auto").lower()
    cuda = torch.cuda.is_available()
    mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    if preference == "auto":
        return "cuda" if cuda else "mps" if mps else "cpu"
    if preference.startswith("cuda") and not cuda:
        raise ModelLoadError("device 'cuda' was asked for, but no CUDA GPU is available to torch here")
    if preference == "mps" and not mps:
        raise ModelLoadError("device 'mps' was asked for, but Apple's Metal backend is not available here")
    if preference not in ("cpu", "mps") and not preference.startswith("cuda"):
        raise ModelLoadError(f"unknown device '{preference}': use auto, cpu, cuda or mps")
    return preference


@dataclass
class LoadedModel:
    spec: ModelSpec
    model: Any  # open_clip CLIP, in eval mode, on `device`
    preprocess: Any  # PIL image -> CHW float tensor
    tokenizer: Any  # list[str] -> LongTensor [n, context_length]
    device: str
    dtype: Any  # torch dtype of the weights on the device
    dim: int
    image_size: int
    logit_scale: float


def load_model(spec: str | ModelSpec | None = None, device: str = "auto",
               download: DownloadFn | None = None, cancel: threading.Event | None = None) -> LoadedModel:
    """Create the model with its weights and its eval preprocessing; ModelLoadError when it can't.

    Weights that come from the hub are fetched first (download() is told the bytes; cancel stops
    it), so a first run shows its download and an offline one fails at once with what to do.
    """
    import torch

    ms = spec if isinstance(spec, ModelSpec) else parse_spec(spec)
    dev = pick_device(device)
    if ms.kind == "bundled":
        model, preprocess, tokenizer = _load_bundled(ms.text)
    else:
        from .download import fetch, hub_files, hub_offline

        files = hub_files(ms.kind, ms.text, ms.arch, ms.pretrained)
        if files is None:
            model, preprocess, tokenizer = _load_open_clip(ms)
        else:
            fetch(files, ms.text, download, cancel)
            with hub_offline():
                model, preprocess, tokenizer = _load_open_clip(ms)
    dtype = torch.float16 if dev.startswith("cuda") else torch.float32
    model = model.to(device=dev, dtype=dtype).eval()
    with torch.inference_mode():
        dim = int(model.encode_text(tokenizer(["a"]).to(dev)).shape[-1])
    size = model.visual.image_size
    size = int(size[0] if isinstance(size, (tuple, list)) else size)
    scale = float(model.logit_scale.exp().item()) if hasattr(model, "logit_scale") else 100.0
    return LoadedModel(ms, model, preprocess, tokenizer, dev, dtype, dim, size, scale)


def _load_bundled(name: str):
    import open_clip
    import torch

    entry = bundled_models()[name]
    cfg = entry["model_cfg"]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(entry.get("seed") or 0))
        model = open_clip.model.CLIP(**cfg)
    if entry.get("weights"):
        from safetensors.torch import load_file

        from .resources import resource_file

        try:
            path = resource_file("models", entry["weights"])
        except FileNotFoundError as e:
            raise ModelLoadError(f"bundled model '{name}' is missing its weights file: {e}") from None
        state = {k: v.float() if v.is_floating_point() else v for k, v in load_file(str(path)).items()}
        model.load_state_dict(state, strict=True)
    image_size = cfg["vision_cfg"]["image_size"]
    preprocess = open_clip.image_transform(image_size, is_train=False, mean=entry.get("mean"), std=entry.get("std"))
    context_length = cfg.get("text_cfg", {}).get("context_length", 77)
    tokenizer = open_clip.get_tokenizer("ViT-B-32", context_length=context_length)
    return model, preprocess, tokenizer


def _load_open_clip(ms: ModelSpec):
    import open_clip

    if ms.kind in ("open_clip", "file"):
        known = open_clip.list_models()
        if ms.arch not in known:
            raise ModelLoadError(
                f"unknown model '{ms.arch}': not a bundled model ({', '.join(bundled_models())}), "
                f"an open_clip architecture (e.g. {', '.join(PREFERRED_TAGS)}), or a model file"
            )
    if ms.kind == "open_clip":
        tags = open_clip.list_pretrained_tags_by_model(ms.arch)
        if ms.pretrained is None or ms.pretrained not in tags:
            choices = ", ".join(tags) if tags else "none: this architecture has no pretrained weights"
            what = f"no pretrained tag given for {ms.arch}" if ms.pretrained is None else \
                f"unknown pretrained tag '{ms.pretrained}' for {ms.arch}"
            raise ModelLoadError(f"{what}; choose one of: {choices}")
        name, pretrained = ms.arch, ms.pretrained
    elif ms.kind == "file":
        name, pretrained = ms.arch, str(ms.path)
    elif ms.kind == "hf-hub":
        name, pretrained = ms.text, None
    else:
        name, pretrained = f"local-dir:{ms.path}", None
    try:
        lean = _create_without_init(ms, name, pretrained)
        if lean is not None:
            model, preprocess = lean
        else:
            model, _, preprocess = open_clip.create_model_and_transforms(
                name, pretrained=pretrained, require_pretrained=True, weights_only=True
            )
        tokenizer = open_clip.get_tokenizer(name)
    except ModelLoadError:
        raise
    except Exception as e:  # network, cache, corrupt file, mismatched architecture
        raise ModelLoadError(_explain_failure(ms, e)) from e
    return model, preprocess, tokenizer


def _explain_failure(ms: ModelSpec, e: Exception) -> str:
    detail = f"{type(e).__name__}: {e}".strip()
    if len(detail) > 300:
        detail = detail[:300] + "..."
    if ms.kind == "file":
        return (f"could not load weights from {ms.path} into {ms.arch}: {detail}. "
                "Check that the file is an open_clip/OpenAI CLIP checkpoint of that architecture.")
    if ms.kind == "local-dir":  # a folder on this machine: no download is involved
        return (f"could not load the model in the folder {ms.path}: {detail}. Check that it holds "
                "open_clip_config.json and the weights (open_clip_model.safetensors or open_clip_pytorch_model.bin).")
    return (
        f"could not obtain the weights of model '{ms.text}' ({detail}). They are downloaded once, "
        "on first use, into the Hugging Face cache (~/.cache/huggingface); this needs an internet "
        "connection. Offline, pass a local checkpoint with --model ARCH:FILE, or try a bundled model "
        f"({', '.join(bundled_models())})."
    )


def _create_without_init(ms: ModelSpec, name: str, pretrained: str | None) -> tuple[Any, Any] | None:
    """The model built without its random initialisation, its weights memory-mapped and assigned.

    open_clip's own path draws random values for all ~150M parameters and then copies the
    checkpoint over them: a second of work and two copies of the weights in memory. Here the
    parameters are left uninitialised (strict loading proves every one of them is then assigned)
    and take the checkpoint's tensors as they are. None when this path does not apply or fails:
    the caller then takes open_clip's path, which also explains any real problem with the file.
    """
    import logging

    import open_clip
    import torch

    try:
        logging.disable(logging.WARNING)  # open_clip warns that the model is "initialized randomly": it is not
        try:
            with _no_init():
                model, _, preprocess = open_clip.create_model_and_transforms(name, pretrained=pretrained,
                                                                             load_weights=False)
        finally:
            logging.disable(logging.NOTSET)
        path = _checkpoint_path(ms)
        if path is None or type(model).__name__ != "CLIP" or Path(path).suffix in (".npz", ".npy"):
            return None
        state = _load_state(path)
        from open_clip.factory import convert_state_dict, resize_pos_embed, resize_text_pos_embed

        state = convert_state_dict(model, state)
        if "logit_scale" in state and model.logit_scale.ndim != state["logit_scale"].ndim:
            state["logit_scale"] = state["logit_scale"].reshape(model.logit_scale.shape)
        resize_pos_embed(state, model)
        resize_text_pos_embed(state, model)
        state = {k: v.float() if v.is_floating_point() and v.dtype != torch.float32 else v for k, v in state.items()}
        model.load_state_dict(state, strict=True, assign=True)
        return model, preprocess
    except Exception as e:  # anything unexpected: open_clip's path decides
        logging.getLogger(__name__).debug("init-free loading of %s failed: %s", ms.text, e)
        return None


def _checkpoint_path(ms: ModelSpec) -> str | None:
    if ms.kind == "file":
        return str(ms.path)
    if ms.kind == "local-dir":
        from open_clip.factory import _find_checkpoint_in_dir

        return _find_checkpoint_in_dir(Path(ms.path))
    if ms.kind == "open_clip":
        from open_clip.pretrained import download_pretrained, get_pretrained_cfg

        return download_pretrained(get_pretrained_cfg(ms.arch, ms.pretrained)) or None
    if ms.kind == "hf-hub":  # fetched by download.py already; read from the cache (hub held offline)
        from open_clip.pretrained import download_pretrained_from_hf

        return download_pretrained_from_hf(ms.text[len("hf-hub:"):].strip("/")) or None
    return None


def _load_state(path: str) -> dict[str, Any]:
    """A checkpoint's state dict, memory-mapped where the format allows (pages are read as used)."""
    import torch

    if path.endswith(".safetensors"):
        from safetensors.torch import load_file

        state = load_file(path, device="cpu")
    else:
        try:
            state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError:  # an old (non-zip) checkpoint cannot be mapped
            state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    if not isinstance(state, dict) or not state:
        raise ValueError("not a state dict")
    if next(iter(state)).startswith("module."):
        state = {k[len("module."):]: v for k, v in state.items()}
    return state


_INIT_LOCK = __import__("threading").Lock()
_INIT_FUNCTIONS = ("normal_", "uniform_", "trunc_normal_", "kaiming_uniform_", "kaiming_normal_", "xavier_uniform_",
                   "xavier_normal_", "zeros_", "ones_", "constant_", "orthogonal_", "eye_", "dirac_")


class _no_init:
    """Within: torch.nn.init fills nothing (the tensors stay as allocated, to be replaced by weights)."""

    def __enter__(self):
        import torch.nn.init as init

        _INIT_LOCK.acquire()
        self.saved = {n: getattr(init, n) for n in _INIT_FUNCTIONS if hasattr(init, n)}
        for n in self.saved:
            setattr(init, n, lambda tensor, *args, **kwargs: tensor)
        return self

    def __exit__(self, *exc):
        import torch.nn.init as init

        for n, f in self.saved.items():
            setattr(init, n, f)
        _INIT_LOCK.release()
