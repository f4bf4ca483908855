"""The torch-free text path: tokenizer, ONNX export, verification, staleness, fallback, no torch imported."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from clipgallery.core import textfast
from clipgallery.core.tokenizer import ClipTokenizer, _clean, make_table, open_clip_merges

TEXTS = [
    "", "a", "red circle", "Kids on the BEACH at sunset!!", "a  photo\tof\na dog",
    "ünïcödé — 東京の夜景 🌃", "&amp; entities &lt;b&gt; and &amp;amp;", "l'été d'un café", "don't you're we'll",
    "mojibake: cafÃ© â€œquotedâ€\x9d", "ﬁne ligatures and ｆｕｌｌｗｉｄｔｈ", "numbers 1234 and 3.14, 10:30",
    "\x1b[31mred\x1b[0m", "tab\x07bell", "word " * 120, "<start_of_text> literal specials <end_of_text>",
]
HEAVY = ("torch", "open_clip", "torchvision", "sklearn", "PySide6")


@pytest.fixture(scope="module")
def reference_tokenizer():
    import open_clip

    return open_clip.get_tokenizer("ViT-B-32")


def _random_texts(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    alphabet = "abcdefghijklmnopqrstuvwxyz ABCXYZ 0123456789 .,;:!?'\"-_()[]/@#$%^*+=~`|\\<>"
    words = ["photo", "sunset", "überraschung", "naïve", "日本", "кот", "🙂", "x-ray", "o'clock"]
    out = []
    for i in range(n):
        if i % 2:
            out.append("".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40))))
        else:
            out.append(" ".join(rng.choice(words) for _ in range(rng.randint(1, 8))))
    return out


@pytest.mark.parametrize("source", ["merges", "table"])
def test_tokenizer_matches_open_clip(tmp_path, reference_tokenizer, source):
    merges = open_clip_merges()
    assert merges is not None
    if source == "table":
        make_table(merges, tmp_path / "vocab.sqlite")
        tok = ClipTokenizer.from_table(tmp_path / "vocab.sqlite")
    else:
        tok = ClipTokenizer.from_merges(merges)
    texts = TEXTS + _random_texts(300, 1)
    np.testing.assert_array_equal(tok(texts), reference_tokenizer(texts).numpy())
    short = ClipTokenizer.from_merges(merges, context_length=8)
    np.testing.assert_array_equal(short(texts), reference_tokenizer(texts, context_length=8).numpy())


def test_plain_ascii_skips_ftfy_because_ftfy_would_not_change_it():
    import ftfy
    from open_clip.tokenizer import _clean_lower

    rng = random.Random(5)
    printable = [chr(c) for c in range(0x20, 0x7F)] + ["\t", "\n"]
    texts = ["".join(rng.choice(printable) for _ in range(rng.randint(0, 60))) for _ in range(2000)]
    for t in texts:
        if "&" not in t:
            assert ftfy.fix_text(t) == t
        assert _clean(t) == _clean_lower(t)
    for t in TEXTS:
        assert _clean(t) == _clean_lower(t)


def _library_top(lib, vectors: np.ndarray, k: int = 10) -> list[list[int]]:
    ids, mat = lib.vectors(lib.model_id(lib.indexed_model()))
    return [ids[np.lexsort((ids, -(mat @ v)))[:k]].tolist() for v in vectors]


QUERIES = ["a red circle", "a blue square", "a yellow star", "a green triangle", "a purple circle",
           "an orange star", "a red square on the left", "stars", "", "shapes"]


@pytest.mark.parametrize("spec", ["shapes-tiny", "tiny-random"])
def test_fast_path_gives_the_torch_vectors_and_the_same_top10(spec, embedders, shapes_library, make_library,
                                                              shapes_folder):
    emb = embedders(spec)
    lib = shapes_library[0] if spec == "shapes-tiny" else make_library(shapes_folder[0], spec)[0]
    ids, mat = lib.vectors(lib.model_id(spec))
    fast = textfast.build(emb, mat)
    assert fast.meta["verified"] and fast.meta["max_abs_diff"] <= 1e-4
    loaded = textfast.load(spec)  # what a fresh process gets
    want, got = emb.encode_texts(QUERIES), loaded.encode_texts(QUERIES)
    np.testing.assert_allclose(got, want, atol=1e-4, rtol=0)
    np.testing.assert_allclose(got, emb.encode_texts_full(QUERIES), atol=1e-4, rtol=0)
    assert _library_top(lib, got) == _library_top(lib, want)
    # Through the Searcher: the same hits, in the same order, as with the torch Embedder.
    from clipgallery.core.search import TEXT_CACHE, Searcher

    TEXT_CACHE.clear()
    quick = textfast.query_embedder(lib, spec)
    assert quick.fast
    for q in QUERIES[:6]:
        a = Searcher(lib, emb, ann_build="never").search(q, k=10)
        TEXT_CACHE.clear()
        b = Searcher(lib, quick, ann_build="never").search(q, k=10)
        TEXT_CACHE.clear()
        assert [h.file_id for h in a] == [h.file_id for h in b]
        np.testing.assert_allclose([h.score for h in a], [h.score for h in b], atol=1e-4)


@pytest.mark.slow
def test_vit_b32_architecture_exports_and_verifies(tmp_path):
    """The default architecture (random weights, no download): what a real user's search runs."""
    import open_clip
    import torch

    from clipgallery.core.embed import Embedder
    from clipgallery.core.models import LoadedModel, ModelSpec

    torch.manual_seed(0)
    model = open_clip.create_model("ViT-B-32", pretrained=None).eval()
    emb = Embedder(LoadedModel(ModelSpec("ViT-B-32:random-test", "open_clip", "ViT-B-32", "random-test"), model,
                               None, open_clip.get_tokenizer("ViT-B-32"), "cpu", torch.float32, 512, 224, 100.0))
    fast = textfast.build(emb)
    texts = TEXTS + _random_texts(30, 2)
    np.testing.assert_allclose(fast.encode_texts(texts), emb.encode_texts_full(texts), atol=1e-4, rtol=0)


def _local_model(folder: Path, seed: int) -> str:
    """A tiny CLIP as an open_clip local folder (config + safetensors), with weights drawn from `seed`."""
    import open_clip
    import torch
    from safetensors.torch import save_file

    cfg = {"embed_dim": 32, "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "patch_size": 8, "head_width": 16},
           "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 2}}
    torch.manual_seed(seed)
    model = open_clip.model.CLIP(**cfg)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "open_clip_config.json").write_text(json.dumps({"model_cfg": cfg, "preprocess_cfg": {}}))
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(folder / "open_clip_model.safetensors"))
    return f"local-dir:{folder.resolve()}"


def test_a_stale_export_is_rebuilt_not_trusted(tmp_path):
    from clipgallery.core.embed import Embedder

    spec = _local_model(tmp_path / "model", seed=1)
    said = []
    q = textfast.QueryEmbedder(spec, 32, "cpu", notify=said.append)
    assert not q.fast and "not been built" in q.fast_reason
    first = q.encode_texts(["a cat"])
    assert q.fast and any("Built the fast text encoder" in m for m in said)
    np.testing.assert_allclose(textfast.load(spec).encode_texts(["a cat"]), first, atol=1e-4)

    # New weights in the same place: the saved export describes the old ones and must not be used.
    _local_model(tmp_path / "model", seed=2)
    with pytest.raises(textfast.FastPathUnavailable, match="weights changed"):
        textfast.load(spec)
    said.clear()
    q2 = textfast.QueryEmbedder(spec, 32, "cpu", notify=said.append)
    assert not q2.fast
    fresh = q2.encode_texts(["a cat"])
    assert q2.fast
    truth = Embedder.load(spec, "cpu").encode_texts(["a cat"])
    np.testing.assert_allclose(fresh, truth, atol=1e-5)
    assert np.abs(fresh - first).max() > 1e-2  # really the new model's vector
    np.testing.assert_allclose(textfast.load(spec).encode_texts(["a cat"]), truth, atol=1e-4)

    # Another runtime (here: an older onnxruntime recorded in the description) is stale too.
    meta_path = textfast.export_dir(spec) / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta["versions"]["onnxruntime"] = "0.0.1"
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(textfast.FastPathUnavailable, match="onnxruntime changed"):
        textfast.load(spec)
    # So is one that never passed verification.
    meta = json.loads(meta_path.read_text())
    meta["versions"] = textfast.runtime_versions()
    meta["verified"] = False
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(textfast.FastPathUnavailable, match="verification"):
        textfast.load(spec)


def test_an_export_that_disagrees_with_torch_is_refused(tmp_path, embedders, monkeypatch):
    """Verification is real: an export whose numbers are off fails it and is never published."""
    monkeypatch.setenv(textfast.CACHE_ENV, str(tmp_path / "cache"))
    emb = embedders("tiny-random")
    export = textfast._export

    def export_then_break(embedder, folder):  # what a faulty exporter or runtime would produce
        meta = export(embedder, folder)
        table = np.load(folder / "token_embedding.npy")
        noise = np.random.default_rng(0).standard_normal(table.shape).astype(np.float32) * 0.01
        np.save(folder / "token_embedding.npy", table + noise)
        return meta

    monkeypatch.setattr(textfast, "_export", export_then_break)
    with pytest.raises(textfast.FastPathUnavailable, match="disagrees with torch"):
        textfast.build(emb)
    with pytest.raises(textfast.FastPathUnavailable, match="not been built"):
        textfast.load("tiny-random")
    assert [p.name for p in (tmp_path / "cache").iterdir()] == []  # the failed build left nothing behind
    monkeypatch.setattr(textfast, "_export", export)
    assert textfast.build(emb).meta["verified"]


# -- the command line ------------------------------------------------------------------------------


def _cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    """Run the CLI in a fresh process and report which heavy modules it imported (on the last stderr line)."""
    code = ("import sys\nfrom clipgallery.cli import main\ntry:\n    rc = main(sys.argv[1:])\n"
            f"finally:\n    print('HEAVY', [m for m in {HEAVY!r} if m in sys.modules], file=sys.stderr)\n"
            "sys.exit(rc)")
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=300,
                          env={**os.environ, **env})


def _heavy(out: subprocess.CompletedProcess) -> list[str]:
    line = [x for x in out.stderr.splitlines() if x.startswith("HEAVY ")][-1]
    return eval(line[len("HEAVY "):])  # a list literal we printed ourselves


@pytest.fixture
def indexed_cli_folder(tmp_path):
    from conftest import photo

    root = tmp_path / "photos"
    root.mkdir()
    for i in range(12):
        photo(300 + i, (128, 96)).save(root / f"p{i}.jpg")
    env = {"CLIPGALLERY_MODEL_CACHE": str(tmp_path / "cache")}
    out = _cli(["--library-dir", str(tmp_path / "lib"), "index", str(root), "--model", "tiny-random"], env)
    assert out.returncode == 0, out.stderr
    assert "Built the fast text encoder for tiny-random" in out.stderr  # index builds it: the model is loaded
    return root, tmp_path / "lib", env


@pytest.mark.slow
def test_search_similar_tag_info_never_import_torch_on_the_fast_path(indexed_cli_folder):
    root, lib, env = indexed_cli_folder
    base = ["--library-dir", str(lib)]
    out = _cli([*base, "search", str(root), "a", "dog", "--json", "-k", "5"], env)
    assert out.returncode == 0, out.stderr
    assert len(json.loads(out.stdout)) == 5
    assert _heavy(out) == [] and "Loading model" not in out.stderr
    out = _cli([*base, "similar", str(root), str(root / "p3.jpg"), "--json", "-k", "3"], env)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)[0]["path"] == str(root / "p3.jpg")
    assert _heavy(out) == []
    first = _cli([*base, "tag", str(root), "--json"], env)  # encodes the prompts once, without torch
    assert first.returncode == 0, first.stderr
    assert _heavy(first) == []
    again = _cli([*base, "tag", str(root), "--json"], env)
    assert again.returncode == 0 and _heavy(again) == [] and json.loads(again.stdout) == json.loads(first.stdout)
    out = _cli([*base, "info", str(root), "--json"], env)
    assert out.returncode == 0 and _heavy(out) == []
    # An image that is not in the library needs the image tower: torch loads for that, and only that.
    from conftest import photo

    outside = root.parent / "outside.jpg"
    photo(999, (128, 96)).save(outside)
    out = _cli([*base, "similar", str(root), str(outside), "--json", "-k", "3"], env)
    assert out.returncode == 0, out.stderr
    assert "torch" in _heavy(out)


@pytest.mark.slow
def test_search_falls_back_to_torch_and_says_so_once_when_the_fast_path_cannot_be_built(indexed_cli_folder,
                                                                                           tmp_path):
    root, lib, env = indexed_cli_folder
    want = _cli(["--library-dir", str(lib), "search", str(root), "a", "red", "circle", "--json"], env)
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the model cache should be")
    env = {"CLIPGALLERY_MODEL_CACHE": str(blocked)}
    out = _cli(["--library-dir", str(lib), "search", str(root), "a", "red", "circle", "+blue", "-green", "--json"],
               env)
    assert out.returncode == 0, out.stderr
    assert "torch" in _heavy(out)
    assert out.stderr.count("The fast text encoder is not available") == 1
    assert out.stderr.count("could not be built") == 1 and "Traceback" not in out.stderr
    assert len(json.loads(out.stdout)) == 12
    # Torch ranks as the fast path did.
    slow = _cli(["--library-dir", str(lib), "search", str(root), "a", "red", "circle", "--json"], env)
    assert [h["path"] for h in json.loads(slow.stdout)] == [h["path"] for h in json.loads(want.stdout)]
    # Turned off on purpose: torch, said once, and nothing is built.
    off = _cli(["--library-dir", str(lib), "search", str(root), "a", "dog", "--json"],
               {"CLIPGALLERY_FAST_TEXT": "0", "CLIPGALLERY_MODEL_CACHE": str(tmp_path / "cache2")})
    assert off.returncode == 0 and off.stderr.count("not available") == 1 and "turned off" in off.stderr
    assert not (tmp_path / "cache2").exists()


def test_an_exporter_crash_is_a_clear_reason_recorded_once(tmp_path, embedders, monkeypatch):
    monkeypatch.setenv(textfast.CACHE_ENV, str(tmp_path / "cache"))
    emb = embedders("tiny-random")

    def crash(embedder, folder):  # e.g. an operator the ONNX exporter does not know
        raise RuntimeError("Exporting the operator 'aten::something' to ONNX is not supported")

    monkeypatch.setattr(textfast, "_export", crash)
    with pytest.raises(textfast.FastPathUnavailable, match="not supported"):
        textfast.build(emb)
    with pytest.raises(textfast.FastPathUnavailable, match="not supported"):
        textfast.load("tiny-random")  # remembered: later runs use torch without trying again
    assert not textfast.ensure_built(emb)
