"""The built wheel, installed into a fresh virtual environment outside the checkout, works as an app.

The venv reuses the dev environment's dependencies through a .pth line (no download, no second torch),
which adds that site-packages as a plain path: its .pth files, and so the editable install of the
checkout, are never processed, and the wheel's own copy of clipgallery comes first on sys.path.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import site
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

import clipgallery

pytestmark = pytest.mark.slow
pytest.importorskip("build", reason="`build` (in the test extra) builds the sdist and the wheel")

ROOT = Path(__file__).resolve().parents[1]
SOURCE_RESOURCES = ROOT / "clipgallery" / "resources"
_spec = importlib.util.spec_from_file_location("clipgallery_smoke", ROOT / "packaging" / "smoke.py")
smoke = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(smoke)  # type: ignore[union-attr]

# What an sdist must not pick up from a developer's checkout.
NOT_SOURCE = shutil.ignore_patterns(".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache",
                                    ".ruff_cache", "shared")


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> dict[str, Path]:
    """`python -m build` (sdist, then the wheel from the sdist) on a copy of the checkout."""
    tmp = tmp_path_factory.mktemp("dist")
    src = tmp / "src"
    shutil.copytree(ROOT, src, ignore=NOT_SOURCE, symlinks=True)
    out = tmp / "out"
    proc = subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(src)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    # setuptools' warning for a folder of package data that no packages entry names.
    assert "is absent from the `packages` configuration" not in proc.stdout + proc.stderr
    wheels, sdists = list(out.glob("*.whl")), list(out.glob("*.tar.gz"))
    assert len(wheels) == 1 and len(sdists) == 1, list(out.iterdir())
    return {"wheel": wheels[0], "sdist": sdists[0]}


@pytest.fixture(scope="module")
def installed(dist, tmp_path_factory) -> dict:
    """A venv holding only the wheel; returns its console script, python and a scratch work folder."""
    tmp = tmp_path_factory.mktemp("installed")
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    py = venv / "bin" / "python"
    venv_site = Path(subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                                    capture_output=True, text=True, check=True).stdout.strip())
    # The wheel first: with the dev packages already visible, pip would take the dev venv's (editable)
    # clipgallery for an installed one and skip the wheel.
    # Without PYTHONPATH: a checkout on it (with a stray clipgallery.egg-info) also looks installed.
    clean = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    proc = subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps", "--no-index",
                           "--no-compile", "-q", str(dist["wheel"])], capture_output=True, text=True, timeout=300,
                          env=clean)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (venv_site / "clipgallery" / "resources" / "__init__.py").is_file(), proc.stdout + proc.stderr
    deps = [p for p in site.getsitepackages() if Path(p).is_dir()]
    (venv_site / "zz_clipgallery_dev_deps.pth").write_text("\n".join(deps) + "\n")
    work = tmp / "work"
    work.mkdir()
    return {"cmd": [str(venv / "bin" / "clipgallery")], "python": py, "site": venv_site, "work": work,
            "env": smoke.scratch_env(work)}


def test_installed_copy_is_the_wheel(installed):
    """Guards the test itself: the checkout (or its editable install) must not stand in for the wheel."""
    code = ("import sys, clipgallery, clipgallery.resources as r; "
            "print(clipgallery.__file__); print(any('editable' in str(f) for f in sys.meta_path))")
    out = subprocess.run([str(installed["python"]), "-c", code], cwd=installed["work"], env=installed["env"],
                         capture_output=True, text=True, check=True).stdout.split()
    assert Path(out[0]).is_relative_to(installed["site"]), out
    assert out[1] == "False", "the dev venv's editable finder is active in the test venv"


def test_version(installed):
    assert smoke.check_version(installed["cmd"], installed["work"], installed["env"], None) == clipgallery.__version__


def test_models_lists_the_bundled_models(installed):
    expected = {json.loads(p.read_text())["name"] for p in (SOURCE_RESOURCES / "models").glob("*.json")}
    assert expected >= {"shapes-tiny", "tiny-random"}
    smoke.check_models(installed["cmd"], installed["work"], installed["env"], expected)


def test_index_search_and_tag(installed, tmp_path):
    emotions = set(json.loads((SOURCE_RESOURCES / "labels" / "emotions.json").read_text())["labels"])
    smoke.check_index_search_tag(installed["cmd"], tmp_path, smoke.scratch_env(tmp_path), emotions)


def test_app_starts_offscreen_with_its_icons(installed):
    smoke.check_gui(installed["cmd"], installed["work"], installed["env"])


def test_menu_entry_of_the_installed_app_starts_it(installed):
    """install-desktop from the venv points the menu at the venv's script, which is not on PATH."""
    data = installed["work"] / "home" / ".local" / "share"
    report = json.loads(smoke.run(installed["cmd"], ["install-desktop", "--json"], installed["work"], installed["env"]))
    assert report["command"] == installed["cmd"] and Path(report["data_dir"]) == data
    entry = (data / "applications" / "clipgallery.desktop").read_text()
    exec_line = next(line for line in entry.splitlines() if line.startswith("Exec="))
    assert exec_line == f"Exec={installed['cmd'][0]} gui %f"
    argv = exec_line.removeprefix("Exec=").split()[:-1]  # what a launcher runs, less the %f field code
    smoke.check_gui(argv[:1], installed["work"], installed["env"])
    smoke.run(installed["cmd"], ["install-desktop", "--uninstall"], installed["work"], installed["env"])
    assert not (data / "applications" / "clipgallery.desktop").exists()


def test_wheel_and_sdist_hold_every_resource(dist):
    shipped = sorted(p.relative_to(SOURCE_RESOURCES).as_posix() for p in SOURCE_RESOURCES.rglob("*")
                     if p.is_file() and "__pycache__" not in p.parts)
    with zipfile.ZipFile(dist["wheel"]) as z:
        in_wheel = {n.removeprefix("clipgallery/resources/") for n in z.namelist()}
    assert [f for f in shipped if f not in in_wheel] == []
    with tarfile.open(dist["sdist"]) as t:
        in_sdist = {n.split("/", 1)[1] for n in t.getnames() if "/" in n}
    missing = [f for f in shipped if f"clipgallery/resources/{f}" not in in_sdist]
    assert missing == []
    # Enough to run the tests and build the bundle from the sdist alone.
    for f in ("Makefile", "tests/conftest.py", "packaging/clipgallery.spec", "packaging/smoke.py",
              "packaging/launcher.py", "tools/ensure_system_libs.sh"):
        assert f in in_sdist, f
    assert dist["wheel"].name.startswith(f"clipgallery-{clipgallery.__version__}-")  # the one version source
    assert os.path.getsize(dist["wheel"]) > 5_000_000  # the shapes-tiny weights are in it
