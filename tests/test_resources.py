"""Shipped resources are read through importlib.resources: from the checkout and from a zip alike."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import clipgallery
from clipgallery.core import resources
from clipgallery.core.models import bundled_models
from clipgallery.core.tagging import builtin_label_sets, load_label_set

PACKAGE_DIR = Path(clipgallery.__file__).resolve().parent


def test_checkout_reads_its_own_files_in_place():
    assert Path(str(resources.root())).resolve() == PACKAGE_DIR / "resources"
    weights = resources.resource_file("models", "shapes-tiny.safetensors")
    assert weights == PACKAGE_DIR / "resources" / "models" / "shapes-tiny.safetensors"  # no copy made
    assert set(bundled_models()) >= {"shapes-tiny", "tiny-random"}
    assert set(builtin_label_sets()) >= {"emotions", "concepts"}
    assert load_label_set("emotions").origin == "built-in"


def test_missing_resource_is_a_clear_error():
    try:
        resources.resource_file("models", "no-such-model.safetensors")
    except FileNotFoundError as e:
        assert "models/no-such-model.safetensors is not shipped" in str(e)
    else:
        raise AssertionError("a missing resource was found")


ZIP_PROBE = r"""
import json, sys
import clipgallery
from clipgallery.core import resources
from clipgallery.core.models import bundled_models
from clipgallery.core.tagging import load_label_set
weights = resources.resource_file("models", "shapes-tiny.safetensors")
folder = resources.resources_folder()
print(json.dumps({
    "package": clipgallery.__file__,
    "location": resources.location(),
    "models": sorted(bundled_models()),
    "emotions": list(load_label_set("emotions").labels),
    "weights": str(weights), "weights_size": weights.stat().st_size,
    "folder_files": sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()),
}))
"""


def test_the_same_code_runs_from_a_zip(tmp_path):
    """zipimport: no resource is a real file, so every lookup must go through Traversable/as_file."""
    archive = tmp_path / "clipgallery.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for p in PACKAGE_DIR.rglob("*"):
            if p.is_file() and "__pycache__" not in p.parts:
                z.write(p, Path("clipgallery") / p.relative_to(PACKAGE_DIR))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(archive)  # first on sys.path: ahead of the checkout and its editable install
    proc = subprocess.run([sys.executable, "-c", ZIP_PROBE], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    got = json.loads(proc.stdout)
    assert got["package"].startswith(str(archive)), got["package"]
    assert "inside an archive" in got["location"]
    assert got["models"] == sorted(bundled_models())
    assert got["emotions"] == list(load_label_set("emotions").labels)
    shipped = PACKAGE_DIR / "resources" / "models" / "shapes-tiny.safetensors"
    assert got["weights_size"] == shipped.stat().st_size and not got["weights"].startswith(str(archive))
    assert not Path(got["weights"]).exists(), "the copy taken out of the zip was not removed at exit"
    expected = sorted(str(p.relative_to(PACKAGE_DIR / "resources")) for p in (PACKAGE_DIR / "resources").rglob("*")
                      if p.is_file() and "__pycache__" not in p.parts)
    assert got["folder_files"] == expected
