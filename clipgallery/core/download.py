"""A downloadable model's weights: found in the cache, downloaded once with progress, or a quick clear no.

open_clip downloads through huggingface_hub, which retries a missing connection for about a
minute and logs every retry. Before open_clip is asked, the weights are fetched here: from the
cache when they are there, else downloaded with a progress callback (bytes) and a cancel flag;
offline, the answer comes in well under a second. open_clip then loads them with the hub held
offline, so it never touches the network itself.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from .errors import ModelLoadError

HF_WEIGHTS = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")
PROBE_TIMEOUT = 10.0  # seconds for the first answer from the hub; the download itself has no limit


@dataclass
class DownloadProgress:
    """Where a download stands: bytes so far, bytes in all (0 when unknown), rate and time left."""

    what: str
    done: int
    total: int
    rate: float = 0.0  # bytes per second
    eta: float | None = None  # seconds left

    def describe(self) -> str:
        mb = 1 << 20
        text = f"Downloading {self.what}: {self.done / mb:,.0f}"
        text += f" / {self.total / mb:,.0f} MB" if self.total else " MB"
        if self.rate:
            text += f", {self.rate / mb:.1f} MB/s"
        if self.eta is not None:
            text += f", {_clock(self.eta)} left"
        return text


DownloadFn = Callable[[DownloadProgress], None]


class DownloadCancelled(ModelLoadError):
    """The user stopped a model download; what was fetched so far is kept for next time."""


@dataclass(frozen=True)
class HubFiles:
    """What a spec needs from the Hugging Face hub: a repository and its files in order of preference."""

    repo_id: str
    weights: tuple[str, ...]  # the first one present is used
    extra: tuple[str, ...] = ()  # needed as well (an hf-hub model's config)


def hub_files(spec_kind: str, text: str, arch: str | None, tag: str | None) -> HubFiles | None:
    """The hub files behind a spec, or None when it is not fetched from the hub (bundled, local, URL)."""
    if spec_kind == "hf-hub":
        return HubFiles(text[len("hf-hub:"):].strip("/"), HF_WEIGHTS, ("open_clip_config.json",))
    if spec_kind != "open_clip" or not arch or not tag:
        return None
    import open_clip

    cfg = open_clip.get_pretrained_cfg(arch, tag) or {}
    hub = cfg.get("hf_hub") or ""
    if not hub:
        return None
    # "org/repo/" means the default file name; "org/repo/name.bin" names one
    repo_id, filename = (hub.rstrip("/"), "") if hub.endswith("/") else os.path.split(hub)
    if not filename or filename == HF_WEIGHTS[1]:
        names: tuple[str, ...] = HF_WEIGHTS
    elif filename.endswith((".bin", ".pth")):
        names = (filename[:-4] + ".safetensors", filename)
    else:
        names = (filename,)
    return HubFiles(repo_id, names)


def cached(files: HubFiles) -> bool:
    """Whether everything the spec needs is in the local Hugging Face cache."""
    from huggingface_hub import try_to_load_from_cache

    def have(name: str) -> bool:
        return isinstance(try_to_load_from_cache(files.repo_id, name), str)

    return all(have(n) for n in files.extra) and any(have(n) for n in files.weights)


def fetch(files: HubFiles, what: str, progress: DownloadFn | None = None,
          cancel: threading.Event | None = None) -> None:
    """Make sure the files are in the cache: nothing to do when they are, else download them once.

    Offline, or when the hub cannot be reached, raises ModelLoadError at once with what to do.
    """
    if cached(files):
        return
    from huggingface_hub import constants, get_hf_file_metadata, hf_hub_download, hf_hub_url

    if constants.HF_HUB_OFFLINE:
        raise ModelLoadError(_offline_message(what, "offline mode is on (HF_HUB_OFFLINE)"))
    wanted: list[str] = list(files.extra)
    last_error: Exception | None = None
    for name in files.weights:  # the first weights file the repository has
        try:
            with _quiet_hub():
                get_hf_file_metadata(hf_hub_url(files.repo_id, name), timeout=PROBE_TIMEOUT)
            wanted.append(name)
            break
        except Exception as e:  # not found there, or no connection at all
            last_error = e
            if _is_connection_error(e):
                raise ModelLoadError(_offline_message(what, "the Hugging Face hub cannot be reached")) from e
    else:
        raise ModelLoadError(f"the model {what} has no weights file on the Hugging Face hub "
                             f"({files.repo_id}: {last_error})")
    for name in wanted:
        bar = _bar_class(what, progress, cancel)
        try:
            with _quiet_hub():
                hf_hub_download(files.repo_id, name, tqdm_class=bar)
        except DownloadCancelled:
            raise
        except Exception as e:
            if _is_connection_error(e):
                raise ModelLoadError(f"the download of {what} broke off ({type(e).__name__}); what was fetched "
                                     "is kept, and the next try goes on from there") from e
            raise ModelLoadError(f"could not download {what}: {type(e).__name__}: {e}") from e


@contextlib.contextmanager
def hub_offline() -> Iterator[None]:
    """Hold huggingface_hub offline: open_clip then reads the cache and never retries a network."""
    try:
        from huggingface_hub import constants
    except ImportError:
        yield
        return
    saved = constants.HF_HUB_OFFLINE
    constants.HF_HUB_OFFLINE = True
    try:
        with _quiet_hub():
            yield
    finally:
        constants.HF_HUB_OFFLINE = saved


@contextlib.contextmanager
def _quiet_hub() -> Iterator[None]:
    """No retry warnings or hints on stderr: the caller says what went wrong in one sentence."""
    logger = logging.getLogger("huggingface_hub")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _is_connection_error(e: BaseException) -> bool:
    seen: set[int] = set()
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        name = type(e).__name__
        if any(w in name for w in ("Connect", "Timeout", "NetworkError", "Offline", "ProxyError")):
            return True
        if isinstance(e, (ConnectionError, TimeoutError)):
            return True
        e = e.__cause__ or e.__context__  # type: ignore[assignment]
    return False


def _offline_message(what: str, why: str) -> str:
    from .models import bundled_models

    return (f"the model {what} is not downloaded yet and {why}. Connect to the internet once (it is "
            "downloaded once, about 600 MB for ViT-B-32, into the Hugging Face cache), or pass a local "
            f"checkpoint with --model ARCH:FILE, or use a bundled model ({', '.join(bundled_models())})")


def _bar_class(what: str, progress: DownloadFn | None, cancel: threading.Event | None) -> type:
    """A tqdm stand-in for huggingface_hub that reports to a callback and stops on cancel."""

    class _Bar:
        def __init__(self, total: int | None = None, initial: int = 0, **_: object):
            self.total = int(total or 0)
            self.n = int(initial or 0)
            self._t0 = time.monotonic()
            self._start = self.n
            self._last = 0.0

        def __enter__(self) -> _Bar:
            self._report(force=True)
            return self

        def __exit__(self, *exc: object) -> None:
            self._report(force=True)

        def update(self, n: int = 1) -> None:
            self.n += int(n)
            if cancel is not None and cancel.is_set():
                raise DownloadCancelled(f"the download of {what} was cancelled; the part fetched is kept")
            self._report()

        def close(self) -> None:
            pass

        def _report(self, force: bool = False) -> None:
            now = time.monotonic()
            if progress is None or (not force and now - self._last < 0.25):
                return
            self._last = now
            elapsed = now - self._t0
            rate = (self.n - self._start) / elapsed if elapsed > 0.5 else 0.0
            eta = (self.total - self.n) / rate if rate > 0 and self.total else None
            progress(DownloadProgress(what, self.n, self.total, rate, eta))

    return _Bar


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}" if seconds >= 3600 \
        else f"{seconds // 60}:{seconds % 60:02d}"
