"""Cold `clipgallery search` and a rename-only re-index from a terminal, beside rclip, on one folder.

Every figure is a fresh process (wall time and its peak resident memory, from wait4), interleaved
with rclip's when rclip is installed (pass --rclip PATH, or have .venv-rclip/bin/rclip here: it is
kept in its own virtual env because it pins its own onnxruntime and numpy). Both use random
weights of their default architectures (clipgallery: ViT-B-32 as a local checkpoint; rclip:
open_clip's ViT-B-32-256 exported to the ONNX files rclip loads), since speed does not depend on
the values. Nothing is downloaded.

  python bench/cli_latency.py [--photos 100] [--queries 10] [--rounds 3] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

QUERIES = ["a dog on the beach", "kids playing in the snow", "a birthday cake with candles",
           "mountains at sunset", "a city street at night", "a red car", "my grandmother in the garden",
           "a plate of pasta", "fireworks over a river", "a cat sleeping on a sofa", "a wedding",
           "a screenshot of a chat"]


def run(cmd: list[str], env: dict[str, str], cwd: Path | None = None) -> tuple[float, float, str, float]:
    """(wall seconds, peak RSS in MB, stderr, CPU seconds) of one fresh process.

    CPU time (user + system) is the figure a loaded machine distorts least: wall time there is
    mostly waiting for a core."""
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=cwd)
    err = p.stderr.read().decode(errors="replace")
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        raise SystemExit(f"failed ({p.returncode}): {' '.join(cmd)}\n{err[-2000:]}")
    return wall, usage.ru_maxrss / 1024, err, usage.ru_utime + usage.ru_stime


def draw_photos(folder: Path, count: int, size: tuple[int, int]) -> None:
    import numpy as np
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    for i in range(count):
        rng = np.random.default_rng(i)
        img = np.empty((h, w, 3), np.float32)
        for c in range(3):
            a, b, ph = rng.uniform(0.001, 0.01, 3)
            img[..., c] = 127 + 100 * np.sin(a * xx + b * yy + ph * 10)
        img += rng.normal(0, 12, (h, w, 1)).astype(np.float32)
        Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(folder / f"p{i:04d}.jpg", quality=90)


def random_checkpoint(path: Path) -> None:
    """ViT-B-32 with random weights, saved as a local checkpoint (600 MB, like the real one)."""
    import open_clip
    import torch

    torch.manual_seed(0)
    model = open_clip.create_model("ViT-B-32", pretrained=None)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), path)


def rclip_models(datadir: Path) -> None:
    """The files rclip 3.3.0 loads (visual.onnx, textual.onnx, the BPE vocab) with random weights
    of its architecture, open_clip's ViT-B-32-256, in float32."""
    import warnings

    import open_clip
    import torch

    from clipgallery.core.tokenizer import open_clip_merges

    sub = datadir / "ViT-B-32-256-datacomp_s34b_b86k"
    sub.mkdir(parents=True, exist_ok=True)
    (datadir / "tokenizer").mkdir(exist_ok=True)
    shutil.copyfile(open_clip_merges(), datadir / "tokenizer" / "bpe_simple_vocab_16e6.txt.gz")
    torch.manual_seed(0)
    model = open_clip.create_model("ViT-B-32-256", pretrained=None).eval()

    class Text(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model  # a submodule, so that its weights are exported as parameters

        def forward(self, tokens):
            return self.model.encode_text(tokens)

    class Visual(Text):
        def forward(self, images):
            return self.model.encode_image(images)

    torch.backends.mha.set_fastpath_enabled(False)  # its fused kernel has no ONNX export
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(Text(), (torch.zeros(1, 77, dtype=torch.long),), str(sub / "textual.onnx"), dynamo=False,
                          opset_version=17, input_names=["input"], output_names=["output"],
                          dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}})
        torch.onnx.export(Visual(), (torch.zeros(1, 3, 256, 256),), str(sub / "visual.onnx"), dynamo=False,
                          opset_version=17, input_names=["input"], output_names=["output"],
                          dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}})


def prepare(work: Path, count: int, rclip: bool) -> int:
    """The photos, the random ViT-B-32 checkpoint and rclip's model files (once per workdir)."""
    from _common import machine

    print(f"machine: {machine()}")
    if not (work / "photos").exists():
        draw_photos(work / "photos", count, (1632, 1224))
    weights = work / "models" / "vit-b-32-random.pt"
    if not weights.exists():
        random_checkpoint(weights)
    rclip_dir = work / "rclip-data" / "ViT-B-32-256-datacomp_s34b_b86k"
    if rclip and not all((rclip_dir / f).exists() for f in ("textual.onnx", "visual.onnx")):
        rclip_models(work / "rclip-data")
    return 0


def summary(values: list[tuple]) -> str:
    walls, mems, cpus = [v[0] for v in values], [v[1] for v in values], [v[3] for v in values]
    return (f"median {statistics.median(walls):.2f} s (min {min(walls):.2f}, max {max(walls):.2f}), "
            f"CPU {statistics.median(cpus):.2f} s, peak memory median {statistics.median(mems):.0f} MB "
            f"(max {max(mems):.0f})")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--photos", type=int, default=100, help="photos of 2 MP in the folder (at least 50)")
    ap.add_argument("--queries", type=int, default=10, help="different queries, each a fresh process")
    ap.add_argument("--rounds", type=int, default=3, help="rename-only re-index rounds (50 photos each)")
    ap.add_argument("--workdir", type=Path, help="keep the folder, libraries and models here (reused)")
    ap.add_argument("--prepare", type=Path, help=argparse.SUPPRESS)  # the child that draws and makes models
    default_rclip = REPO / ".venv-rclip" / "bin" / "rclip"
    ap.add_argument("--rclip", type=Path, default=default_rclip if default_rclip.exists() else None,
                    help="rclip executable (default: .venv-rclip/bin/rclip when present)")
    args = ap.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # progress shows as it happens, also into a file
    if args.photos < 50:
        ap.error("--photos must be at least 50 (50 are renamed)")
    if args.prepare:
        return prepare(args.prepare, args.photos, args.rclip is not None)
    work = args.workdir or Path(tempfile.mkdtemp(prefix="clipgallery-cli-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    photos, weights = work / "photos", work / "models" / "vit-b-32-random.pt"
    env = {**os.environ, "PYTHONPATH": str(REPO), "CLIPGALLERY_MODEL_CACHE": str(work / "model-cache"),
           "RCLIP_DATADIR": str(work / "rclip-data"), "HF_HUB_OFFLINE": "1"}
    env.pop("CLIPGALLERY_FAST_TEXT", None)
    # Everything that imports torch or numpy runs in a child: on Linux a process's peak-memory
    # figure starts at its parent's size when forked, so this process must stay small.
    subprocess.run([sys.executable, __file__, "--prepare", str(work), "--photos", str(args.photos),
                    *(["--rclip", str(args.rclip)] if args.rclip else [])], check=True)
    print(f"date: {time.strftime('%Y-%m-%d %H:%M %Z')}; folder: {args.photos} photos of 1632x1224 (2 MP) in {photos}")
    print(f"this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB (every figure "
          "below is at least that)")
    spec = f"ViT-B-32:{weights}"
    cg = [sys.executable, "-m", "clipgallery.cli", "--library-dir", str(work / "library")]
    rc = [str(args.rclip)] if args.rclip else None

    first = not (work / "library").exists()
    t, m, _, _ = run([*cg, "index", str(photos), "--model", spec], env)
    print(f"clipgallery index ({'first run, includes building the fast text encoder' if first else 'again'}): "
          f"{t:.1f} s, {m:.0f} MB")
    if rc:
        t, m, _, _ = run([*rc, "-f", "-t", "1", "a photo"], env, cwd=photos)
        print(f"rclip index (and one search): {t:.1f} s, {m:.0f} MB")
    print(f"rclip: {args.rclip or 'not installed (pass --rclip PATH)'}")

    # Untimed: builds the fast text encoder if the index run above did not (it loads no model
    # when nothing changed), as a user's first search would.
    run([*cg, "search", str(photos), "warm", "up"], env)
    queries = (QUERIES * 2)[:args.queries]
    ours, theirs = [], []
    for q in queries:
        result = run([*cg, "search", str(photos), *q.split(), "-k", "10"], env)
        if "not available" in result[2]:
            raise SystemExit(f"clipgallery search did not take the fast path:\n{result[2]}")
        ours.append(result)
        if rc:
            theirs.append(run([*rc, "-n", "-f", "-t", "10", q], env, cwd=photos))
    print(f"\ncold search, {len(queries)} different queries, each a fresh process:")
    print(f"  clipgallery search PATH QUERY -k 10: {summary(ours)}")
    if rc:
        print(f"  rclip -n -f -t 10 QUERY:            {summary(theirs)}")
        wall = statistics.median(v[0] for v in theirs) / statistics.median(v[0] for v in ours)
        cpu = statistics.median(v[3] for v in theirs) / statistics.median(v[3] for v in ours)
        print(f"  clipgallery is {wall:.2f}x rclip's speed in median wall time, {cpu:.2f}x in CPU time")

    ours, theirs = [], []
    names = sorted(photos.glob("*.jpg"))
    for r in range(args.rounds):
        renamed = []
        for i, p in enumerate(names[:50]):
            dest = p.with_name(f"r{r}-{i:03d}.jpg")
            p.rename(dest)
            renamed.append(dest)
        names = renamed + names[50:]
        result = run([*cg, "index", str(photos), "--model", spec, "--json"], env)
        if "Loading model" in result[2]:
            raise SystemExit(f"a rename-only re-index loaded the model:\n{result[2]}")
        ours.append(result)
        if rc:
            theirs.append(run([*rc, "-f", "-t", "1", "a photo"], env, cwd=photos))
    print(f"\nre-index after renaming 50 photos, {args.rounds} rounds:")
    print(f"  clipgallery index PATH:       {summary(ours)}")
    if rc:
        print(f"  rclip QUERY (index + search): {summary(theirs)}")
    if not args.workdir:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
