"""Smoke checks of an installed clipgallery (a wheel's console script or the PyInstaller bundle).

    python packaging/smoke.py dist/clipgallery/clipgallery [--version 0.1.0]

Runs the installed command in a scratch folder with a scratch HOME: --version, models, index + search
with shapes-tiny on drawn shapes, tag with the built-in emotions, and the app started offscreen with its
icons. Pictures are drawn by clipgallery.shapes of the checkout that runs this script; everything else
runs in the installed copy. tests/test_installed.py calls the same checks on a freshly built wheel.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SHOWN_MARKER = "clipgallery-window-shown"
PHOTO_CLASSES = [("red", "circle"), ("blue", "square"), ("green", "triangle"), ("yellow", "star")]


def scratch_env(work: Path) -> dict[str, str]:
    """The environment of an installed app with nothing of the checkout or the user in it."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "CLIPGALLERY_MODEL", "VIRTUAL_ENV")
           and not k.startswith("XDG_")}
    home = work / "home"
    home.mkdir(parents=True, exist_ok=True)
    env.update(HOME=str(home), XDG_DATA_HOME=str(home / ".local/share"), XDG_CONFIG_HOME=str(home / ".config"),
               XDG_CACHE_HOME=str(home / ".cache"), QT_QPA_PLATFORM="offscreen", HF_HUB_OFFLINE="1",
               PYTHONNOUSERSITE="1", PYTHONDONTWRITEBYTECODE="1")
    return env


def run(cmd: list[str], args: list[str], work: Path, env: dict[str, str], timeout: float = 300) -> str:
    """Run the installed command from `work` (outside any checkout); stdout, or AssertionError."""
    proc = subprocess.run([*cmd, *args], cwd=work, env=env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError(f"`clipgallery {' '.join(args)}` exited {proc.returncode}:\n{proc.stderr[-3000:]}")
    return proc.stdout


def check_version(cmd: list[str], work: Path, env: dict[str, str], expected: str | None) -> str:
    out = run(cmd, ["--version"], work, env).strip()
    name, _, version = out.partition(" ")
    assert name == "clipgallery" and version, f"--version printed {out!r}"
    assert expected is None or version == expected, f"--version says {version}, expected {expected}"
    return version


def check_models(cmd: list[str], work: Path, env: dict[str, str], expected: set[str]) -> list[str]:
    data = json.loads(run(cmd, ["models", "--json"], work, env))
    names = [b["name"] for b in data["bundled"]]
    assert set(names) == expected, f"bundled models {names}, expected {sorted(expected)}"
    return names


def check_index_search_tag(cmd: list[str], work: Path, env: dict[str, str], emotions: set[str]) -> None:
    from clipgallery.shapes import write_folder

    photos, lib = work / "photos", work / "library"
    truth = {path.resolve(): cls for path, cls in
             write_folder(photos, per_class=2, seed=23, classes=PHOTO_CLASSES, fmt="png").items()}
    report = json.loads(run(cmd, ["--library-dir", str(lib), "index", str(photos), "--model", "shapes-tiny",
                                  "--device", "cpu", "--json"], work, env))
    assert report["indexed"] == len(truth), f"index reported {report}"
    # One query: every run loads torch, which takes seconds on a busy machine.
    hits = json.loads(run(cmd, ["--library-dir", str(lib), "search", str(photos), "-k", "2", "--json",
                                "red", "circle"], work, env))
    got = [truth.get(Path(h["path"]).resolve()) for h in hits]
    assert got == [("red", "circle")] * 2, f"search 'red circle' found {got}"
    tags = json.loads(run(cmd, ["--library-dir", str(lib), "tag", str(photos), "--json"], work, env))
    assert sorted(Path(t["path"]).resolve() for t in tags) == sorted(truth), "tag did not cover every photo"
    for t in tags:
        labels = [x["label"] for x in t["tags"]]
        # A label is given only where it fits: drawn shapes may fit no emotion at all.
        assert set(labels) <= emotions, f"tags {labels} are not the built-in emotions"
    sets = json.loads(run(cmd, ["--library-dir", str(lib), "labels", str(photos), "--json"], work, env))
    applied = {s["name"]: s for s in sets}
    assert "emotions" in applied and set(applied["emotions"]["counts"]) == emotions, \
        f"the built-in emotions were not applied: {sets}"


def check_gui(cmd: list[str], work: Path, env: dict[str, str]) -> dict[str, str]:
    """The window opens offscreen and every shipped SVG icon renders; returns the marker's fields."""
    out = run(cmd, ["gui", "--benchmark"], work, env, timeout=120)
    line = next((ln for ln in out.splitlines() if ln.startswith(SHOWN_MARKER)), "")
    assert line, f"the window was never shown:\n{out[-2000:]}"
    fields = dict(p.split("=", 1) for p in line.split()[1:])
    shipped, loaded = int(fields.get("icons_shipped", 0)), int(fields.get("icons_loaded", -1))
    assert shipped > 0 and loaded == shipped, f"icons: {loaded} of {shipped} shipped icons load ({line})"
    return fields


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("command", nargs="+", help="the installed clipgallery command (and any leading args)")
    p.add_argument("--version", dest="expected_version", help="the version it must report")
    a = p.parse_args(argv)
    from importlib.resources import files

    res = files("clipgallery.resources")
    models = {json.loads(f.read_text(encoding="utf-8"))["name"]
              for f in (res / "models").iterdir() if f.name.endswith(".json")}
    emotions = set(json.loads((res / "labels" / "emotions.json").read_text(encoding="utf-8"))["labels"])
    with tempfile.TemporaryDirectory(prefix="clipgallery-smoke-") as tmp:
        work = Path(tmp)
        env = scratch_env(work)
        cmd = [str(Path(c).resolve()) if i == 0 and Path(c).exists() else c for i, c in enumerate(a.command)]
        t0 = time.monotonic()
        print(f"version: {check_version(cmd, work, env, a.expected_version)}")
        print(f"models: {', '.join(check_models(cmd, work, env, models))}")
        check_index_search_tag(cmd, work, env, emotions)
        print("index + search + tag: ok")
        fields = check_gui(cmd, work, env)
        print(f"gui: window shown {float(fields['process_s']):.2f} s after the process started; "
              f"{fields['icons_loaded']} icons")
        print(f"all smoke checks passed in {time.monotonic() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
