"""The command-line contract: fast --help, JSON on stdout only, exit codes, clear errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from conftest import hash_tree, photo

pytestmark = pytest.mark.slow  # every test here runs clipgallery in a subprocess


def run(*args, **kw):
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **kw.pop("env", {})}
    return subprocess.run([sys.executable, "-m", "clipgallery.cli", *args], capture_output=True, text=True,
                          env=env, timeout=300, **kw)


def test_help_does_not_import_torch():
    code = ("import sys\nfrom clipgallery.cli import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "heavy = [m for m in ('torch', 'open_clip', 'sklearn', 'hnswlib', 'PySide6') if m in sys.modules]\n"
            "print('HEAVY', heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "HEAVY []" in out.stdout
    assert "index" in out.stdout


def test_index_json_summary_and_failed_files(tmp_path):
    root = tmp_path / "photos"
    root.mkdir()
    for i in range(3):
        photo(i).save(root / f"{i}.jpg", "JPEG")
    (root / "bad.png").write_text("nope")
    before = hash_tree(root)
    out = run("--library-dir", str(tmp_path / "lib"), "index", str(root), "--model", "tiny-random", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)  # stdout is exactly one JSON document
    assert {"indexed", "unchanged", "reused", "removed", "failed", "seconds"} <= set(data)
    assert data["indexed"] == 3
    assert data["failed"] == [{"path": str(root / "bad.png"), "error": "not an image (it is a text file)"}]
    assert hash_tree(root) == before

    info = run("--library-dir", str(tmp_path / "lib"), "info", str(root), "--json")
    assert info.returncode == 0
    assert json.loads(info.stdout)["photos"] == 3


def test_errors_are_one_clear_line_and_exit_1(tmp_path):
    missing = run("index", str(tmp_path / "nowhere"), "--model", "tiny-random")
    assert missing.returncode == 1
    assert missing.stderr.strip().splitlines()[-1] == f"clipgallery: error: folder not found: {tmp_path / 'nowhere'}"
    (tmp_path / "p").mkdir()
    bad_model = run("--library-dir", str(tmp_path / "lib"), "index", str(tmp_path / "p"), "--model", "NoSuchNet")
    assert bad_model.returncode == 1
    assert "unknown model 'NoSuchNet'" in bad_model.stderr
    assert "Traceback" not in bad_model.stderr
    not_indexed = run("--library-dir", str(tmp_path / "other"), "info", str(tmp_path / "p"))
    assert not_indexed.returncode == 1 and "has not been indexed yet" in not_indexed.stderr
    inside = run("--library-dir", str(tmp_path / "p" / "lib"), "index", str(tmp_path / "p"), "--model", "tiny-random")
    assert inside.returncode == 1 and "inside the photo folder" in inside.stderr
    assert not (tmp_path / "p" / "lib").exists()


def test_global_options_before_or_after_the_command(tmp_path, capsys):
    """`clipgallery index PATH --library-dir DIR` is where people put it; before the command works too."""
    from clipgallery.cli import main

    root = tmp_path / "photos"
    root.mkdir()
    photo(1).save(root / "a.jpg", "JPEG")
    assert main(["index", str(root), "--model", "tiny-random", "--library-dir", str(tmp_path / "after"),
                 "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["indexed"] == 1
    assert main(["--library-dir", str(tmp_path / "after"), "info", str(root), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["photos"] == 1
    assert main(["info", str(root), "--json", "--library-dir", str(tmp_path / "after")]) == 0
    assert json.loads(capsys.readouterr().out)["photos"] == 1
    # Given before and not repeated after, the value before the command stands.
    assert main(["--library-dir", str(tmp_path / "after"), "search", str(root), "red", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["path"] == str(root / "a.jpg")
    assert list((tmp_path / "after").iterdir())
