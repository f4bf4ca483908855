"""A downloadable model on first run: offline it fails at once with one sentence; online it shows
its download (bytes, rate) and can be cancelled. The hub is a real HTTP server on loopback that
answers like the Hugging Face hub, so nothing here reaches the internet."""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from conftest import photo

from clipgallery.core.download import hub_files
from clipgallery.core.embed import Embedder
from clipgallery.core.models import bundled_models

REPO = "someone/tiny-clip"
COMMIT = "0123456789abcdef0123456789abcdef01234567"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens there once the socket is closed


class _Hub(http.server.ThreadingHTTPServer):
    files: dict[str, bytes]
    gets: int = 0
    chunk_delay: threading.Event


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Hub

    def log_message(self, *args: object) -> None:
        pass

    def _file(self) -> bytes | None:
        prefix = f"/{REPO}/resolve/main/"
        return self.server.files.get(self.path[len(prefix):]) if self.path.startswith(prefix) else None

    def _headers(self, data: bytes) -> None:
        self.send_header("Content-Length", str(len(data)))
        self.send_header("ETag", '"' + hashlib.sha256(data).hexdigest() + '"')
        self.send_header("X-Repo-Commit", COMMIT)
        self.end_headers()

    def do_HEAD(self) -> None:
        data = self._file()
        if data is None:
            self.send_response(404)
            self.send_header("X-Error-Code", "EntryNotFound")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self._headers(data)

    def do_GET(self) -> None:
        data = self._file()
        if data is None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.server.gets += 1
        self.send_response(200)
        self._headers(data)
        for i in range(0, len(data), 64 * 1024):
            self.wfile.write(data[i:i + 64 * 1024])


@pytest.fixture
def hub(tmp_path, monkeypatch):
    """A loopback hub holding a tiny open_clip model as an hf-hub repository; an empty HF cache."""
    from safetensors.torch import save_file

    emb = Embedder.load("tiny-random", "cpu")
    entry = bundled_models()["tiny-random"]
    weights = tmp_path / "w.safetensors"
    save_file({k: v.detach().contiguous() for k, v in emb.model.state_dict().items()}, weights)
    config = {"model_cfg": entry["model_cfg"], "preprocess_cfg": {"mean": entry["mean"], "std": entry["std"]}}
    server = _Hub(("127.0.0.1", 0), _Handler)
    server.files = {"open_clip_config.json": json.dumps(config).encode(),
                    "open_clip_model.safetensors": weights.read_bytes()}
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{server.server_address[1]}")
    yield server, emb
    server.shutdown()


def _in_fresh_process(code: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    full = dict(os.environ, **env)
    full.pop("HF_HUB_OFFLINE", None)  # a person's machine: online mode, the network just isn't there
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=full, timeout=120,
                          cwd=str(Path(__file__).resolve().parents[1]))


def test_hub_files_of_the_default_model():
    files = hub_files("open_clip", "ViT-B-32:laion2b_s34b_b79k", "ViT-B-32", "laion2b_s34b_b79k")
    assert files is not None and files.repo_id == "laion/CLIP-ViT-B-32-laion2B-s34B-b79K"
    assert files.weights[0] == "open_clip_model.safetensors"
    assert hub_files("bundled", "tiny-random", None, None) is None


def test_offline_first_run_fails_at_once_with_one_sentence(tmp_path):
    """No connection and nothing cached: one clear sentence, not a minute of retry warnings."""
    code = ("from clipgallery.cli import main; import sys; "
            "sys.exit(main(['index', sys.argv[1] if len(sys.argv) > 1 else '.', '--library-dir', "
            f"{str(tmp_path / 'lib')!r}, '--model', 'ViT-B-32:laion2b_s34b_b79k']))")
    photos = tmp_path / "photos"
    photos.mkdir()
    photo(1).save(photos / "a.jpg")
    code = code.replace("sys.argv[1] if len(sys.argv) > 1 else '.'", repr(str(photos)))
    r = _in_fresh_process(code, {"HF_HOME": str(tmp_path / "hf"),
                                 "HF_ENDPOINT": f"http://127.0.0.1:{_closed_port()}"})
    assert r.returncode == 1
    lines = [line for line in r.stderr.splitlines() if line.strip() and not line.startswith("Loading model")]
    assert len(lines) == 1, r.stderr  # no retry chatter from the hub library
    assert "not downloaded yet" in lines[0] and "Connect to the internet once" in lines[0]
    assert "--model ARCH:FILE" in lines[0] and "shapes-tiny" in lines[0]


def test_first_run_downloads_with_progress_then_loads_from_the_cache(hub, tmp_path, monkeypatch):
    server, reference = hub
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    seen = []
    code = f"""
import json, sys
from clipgallery.core.embed import Embedder
from clipgallery.core.models import model_at_hand
seen = []
at_hand = [model_at_hand("hf-hub:{REPO}")]  # what the app asks before it loads the model beside a folder check
emb = Embedder.load("hf-hub:{REPO}", "cpu", download=lambda p: seen.append((p.done, p.total, p.describe())))
at_hand.append(model_at_hand("hf-hub:{REPO}"))
from conftest import photo
from clipgallery.core.download import hub_offline
from clipgallery.core.models import _create_without_init, parse_spec
with hub_offline():  # what load_model does after the download: the init-free path takes the cached file
    lean = _create_without_init(parse_spec("hf-hub:{REPO}"), "hf-hub:{REPO}", None) is not None
print(json.dumps({{"seen": seen, "at_hand": at_hand, "lean": lean, "vec": emb.encode_images([photo(3, (64, 64))])[0].tolist()}}))
"""
    env = {"HF_HOME": str(tmp_path / "hf"), "HF_ENDPOINT": os.environ["HF_ENDPOINT"],
           "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")])}
    r = _in_fresh_process(code, env)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    seen = out["seen"]
    size = len(server.files["open_clip_model.safetensors"])
    assert any(total == size and done == size for done, total, _ in seen)  # the weights, to the last byte
    assert all(done <= total for done, total, _ in seen if total)
    assert any(text.startswith(f"Downloading hf-hub:{REPO}:") and "MB" in text for _, _, text in seen)
    np.testing.assert_allclose(out["vec"], reference.encode_images([photo(3, (64, 64))])[0], atol=1e-6)
    assert out["lean"]  # downloaded hub weights load without the throwaway random initialisation too
    assert out["at_hand"] == [False, True]  # to download first, then in the cache
    gets = server.gets
    # The second run reads the cache: no request reaches the hub, even with it still up.
    r = _in_fresh_process(code, env)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["seen"] == [] and server.gets == gets
    assert json.loads(r.stdout)["at_hand"] == [True, True]


def test_a_download_can_be_cancelled_and_nothing_half_made_is_used(hub, tmp_path):
    code = f"""
import threading
from clipgallery.core.download import DownloadCancelled
from clipgallery.core.embed import Embedder
from clipgallery.core.errors import ModelLoadError
cancel = threading.Event()
def progress(p):
    if p.total and p.done:
        cancel.set()  # as the Cancel button does, once bytes arrive
try:
    Embedder.load("hf-hub:{REPO}", "cpu", download=progress, cancel=cancel)
except DownloadCancelled as e:
    print("cancelled:", e)
import huggingface_hub.constants as hc
hc.HF_HUB_OFFLINE = True
try:
    Embedder.load("hf-hub:{REPO}", "cpu")
except ModelLoadError as e:
    print("then:", e)
"""
    env = {"HF_HOME": str(tmp_path / "hf"), "HF_ENDPOINT": os.environ["HF_ENDPOINT"]}
    hub[0].files["open_clip_model.safetensors"] *= 1  # same bytes; large enough for several chunks
    r = _in_fresh_process(code, env)
    assert r.returncode == 0, r.stderr
    assert "cancelled: the download of hf-hub:" in r.stdout
    assert "then: the model hf-hub:" in r.stdout and "not downloaded yet" in r.stdout  # never a half file
    assert not list((tmp_path / "hf").rglob("open_clip_model.safetensors"))
