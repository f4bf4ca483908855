"""What every command shares: JSON or text output, argument types, progress bars, Ctrl-C, and the
prologue of a library command (open the library, pick the indexed model, load it when needed)."""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import signal
import sys
import threading
from types import TracebackType
from typing import Any

from ..core.names import shown

LAST_LIBRARY: list[Any] = [None]  # the library a command opened: main() names it in a stray sqlite3 error


def json_option(s: argparse.ArgumentParser) -> None:
    s.add_argument("--json", action="store_true", help="print one JSON document on stdout")


def positive_int(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {n}")
    return n


def fraction(text: str) -> float:
    try:
        x = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 <= x <= 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1: {x}")
    return x


def k_value(text: str) -> int | None:
    return None if text.strip().lower() == "auto" else positive_int(text)


def emit(args: argparse.Namespace, data: Any, text: str) -> None:
    """One JSON document with --json, else the human text; stdout only ever gets this."""
    if getattr(args, "json", False):
        # allow_nan=False: a NaN or infinity is a bug to report, never invalid JSON on stdout.
        try:
            doc = json.dumps(data, ensure_ascii=False, indent=2, allow_nan=False)
        except ValueError:  # a NaN or infinity slipped through: JSON has no such numbers, null says "none"
            doc = json.dumps(_finite(data), ensure_ascii=False, indent=2, allow_nan=False)
        sys.stdout.write(shown(doc) + "\n")  # undecodable name bytes as U+FFFD: stdout stays UTF-8
    elif text:
        print(shown(text))


def _finite(data: Any) -> Any:
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, dict):
        return {k: _finite(v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [_finite(v) for v in data]
    return data


def open_library(args: argparse.Namespace, create: bool = False) -> Any:
    from ..core.library import Library

    lib = Library(args.path, args.library_dir, create=create)
    LAST_LIBRARY[0] = lib
    return lib


def indexed_spec(lib: Any, model: str | None) -> str:
    """The indexed model to use: --model (normalised: "ViT-B-32" finds "ViT-B-32:laion2b_s34b_b79k") or
    the main one; core's Library.search_model decides."""
    from ..core.errors import ModelLoadError
    from ..core.models import parse_spec

    if model:
        with contextlib.suppress(ModelLoadError):  # then the name is looked up as typed
            model = parse_spec(model).text
    return str(lib.search_model(model, strict=True))


def load_embedder(spec: str, device: str = "auto", lib: Any = None) -> Any:
    """The model of `spec`. With the library it was indexed into: a QueryEmbedder (core.textfast),
    which encodes text without torch when the verified export exists and loads the torch model
    below only for images (or to build the export). Without: Embedder.load with a download bar
    for a first run (Ctrl-C stops a download cleanly)."""
    if lib is not None:
        from ..core.textfast import query_embedder

        return query_embedder(lib, spec, device, notify=say, loader=load_torch_embedder)
    return load_torch_embedder(spec, device)


def load_torch_embedder(spec: str, device: str = "auto") -> Any:
    from ..core.embed import Embedder

    say(f"Loading model {spec}...")
    bar = DownloadBar()
    try:
        return Embedder.load(spec, device, download=bar)
    finally:
        bar.close()


def say(message: str) -> None:
    """A progress or status line for the person at the terminal: stderr, never stdout."""
    print(message, file=sys.stderr)


class DownloadBar:
    """A first run's model download as one tqdm bar in bytes on stderr (nothing when cached)."""

    def __init__(self) -> None:
        self.bar: Any = None

    def __call__(self, p: Any) -> None:
        from tqdm import tqdm

        if self.bar is None:
            self.bar = tqdm(total=p.total or None, unit="B", unit_scale=True, unit_divisor=1024,
                            desc=f"Downloading {p.what}", file=sys.stderr, dynamic_ncols=True)
        if p.total and self.bar.total != p.total:
            self.bar.total = p.total
        self.bar.n = p.done
        self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def threshold(text: str) -> float | str:
    """A relevance threshold: a number, or 'auto' (where the matches of each search end)."""
    if text.strip().lower() == "auto":
        return "auto"
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number or 'auto': {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"not a finite number: {text!r}")
    return value


class ProgressBar:
    """Turns core Progress callbacks into a tqdm bar on stderr."""

    def __init__(self, unit: str = "img"):
        self.unit = unit
        self.bar = None

    def __call__(self, p) -> None:
        from tqdm import tqdm

        if p.phase == "scanning":
            return
        if self.bar is None:
            if p.total == 0:
                return
            self.bar = tqdm(total=p.total, unit=self.unit, file=sys.stderr, dynamic_ncols=True, smoothing=0.1)
        self.bar.n = p.done
        self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


class PhaseBar:
    """Like ProgressBar, for jobs with several phases: one bar per phase, labelled with it."""

    def __init__(self):
        self.phase = None
        self.bar = None

    def __call__(self, p) -> None:
        from tqdm import tqdm

        if p.phase != self.phase:
            self.close()
            self.phase = p.phase
            if p.total > 1:
                self.bar = tqdm(total=p.total, desc=p.phase, file=sys.stderr, dynamic_ncols=True, leave=False)
        if self.bar is not None:
            self.bar.n = p.done
            self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def graceful_cancel() -> threading.Event:
    """First Ctrl-C asks the running job to stop after the current batch; a second one aborts."""
    cancel = threading.Event()

    def handler(signum, frame):
        if cancel.is_set():
            raise KeyboardInterrupt
        cancel.set()
        print("\nclipgallery: stopping after the current batch (Ctrl-C again to abort)", file=sys.stderr)

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, handler)
    return cancel


class LibraryJob:
    """The prologue of a command on an indexed folder: its library, the model to use (loaded only
    when asked for), a progress bar on stderr and a Ctrl-C that asks the job to stop.

        with LibraryJob(args) as job:
            report = core_function(job.lib, job.spec, embedder=job.embedder, progress=job.bar,
                                   cancel=job.cancel)
    """

    def __init__(self, args: argparse.Namespace, bar: Any = None):
        self.args = args
        self.lib = open_library(args)
        self.spec = indexed_spec(self.lib, getattr(args, "model", None))
        self.bar = bar if bar is not None else PhaseBar()
        self._embedder: Any = None
        self._cancel: threading.Event | None = None

    @property
    def cancel(self) -> threading.Event:
        """Set by the first Ctrl-C (installed when first asked for)."""
        if self._cancel is None:
            self._cancel = graceful_cancel()
        return self._cancel

    def embedder(self) -> Any:
        """The model, loaded on the first call (a function core may call only when it needs one)."""
        if self._embedder is None:  # text without torch when it can (see load_embedder)
            self._embedder = load_embedder(self.spec, lib=self.lib)
        return self._embedder

    def __enter__(self) -> LibraryJob:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.bar.close()


def clock(seconds: float | None) -> str:
    """A duration or a time in a video as a person reads it: 0:42, 1:02:03 ("?" when unknown)."""
    if seconds is None:
        return "?"
    s = int(round(seconds))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"
