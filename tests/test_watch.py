"""Watched folders (core/watch.py): bursts settle into one batch, copies in progress are waited for,
moves reuse their vectors, deletions remove rows, and nothing else (reads, hidden or foreign files)
starts a run."""

from __future__ import annotations

import os
import shutil
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import photo

from clipgallery.core.indexer import index_folder
from clipgallery.core.library import Library
from clipgallery.core.watch import FolderWatcher, WatchError, index_changes

QUIET = 0.4


def wait_for(condition, timeout: float = 20.0) -> None:
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise AssertionError("timed out")
        time.sleep(0.05)


class Batches:
    """on_change for a watcher: records each batch, and what each file looked like at that moment."""

    def __init__(self, root: Path):
        self.root, self.batches, self.sizes = root, [], []
        self.lock = threading.Lock()

    def __call__(self, paths: list[str]) -> None:
        with self.lock:
            self.batches.append(paths)
            self.sizes.append({p: (self.root / p).stat().st_size if (self.root / p).exists() else None
                               for p in paths})


def test_a_copy_in_progress_is_one_batch_once_the_file_is_complete(tmp_path):
    root = tmp_path / "photos"
    root.mkdir()
    src = tmp_path / "big.jpg"
    photo(1, (640, 480)).save(src, quality=95)
    data = src.read_bytes()
    seen = Batches(root)
    with FolderWatcher(root, seen, quiet=QUIET):
        with open(root / "new.jpg", "wb") as f:  # a slow copy: pauses shorter than the quiet time
            for i in range(0, len(data), len(data) // 4 + 1):
                f.write(data[i:i + len(data) // 4 + 1])
                f.flush()
                time.sleep(QUIET / 2)
        wait_for(lambda: seen.batches)
        time.sleep(QUIET * 3)
    assert seen.batches == [["new.jpg"]]
    assert seen.sizes == [{"new.jpg": len(data)}]


def test_reads_hidden_files_and_other_files_start_nothing(tmp_path):
    root = tmp_path / "photos"
    (root / "sub").mkdir(parents=True)
    photo(2).save(root / "sub" / "a.jpg")
    seen = Batches(root)
    with FolderWatcher(root, seen, quiet=QUIET) as w:
        (root / "sub" / "a.jpg").read_bytes()  # what indexing and thumbnails do
        (root / "notes.txt").write_text("hello")
        photo(3).save(root / ".hidden.jpg")
        (root / ".cache").mkdir()
        photo(4).save(root / ".cache" / "b.jpg")
        time.sleep(QUIET * 4)
        assert seen.batches == []
        assert w.batches == 0
        (root / "sub" / "a.jpg").rename(root / "sub" / "renamed.jpg")  # this one counts
        wait_for(lambda: seen.batches)
    assert seen.batches == [["sub/a.jpg", "sub/renamed.jpg"]]


def test_an_idle_watcher_sleeps_and_stop_ends_it_promptly(tmp_path):
    w = FolderWatcher(tmp_path, lambda paths: None, quiet=QUIET).start()
    assert w.running
    cpu = time.process_time()
    time.sleep(1.5)
    assert time.process_time() - cpu < 0.3  # a busy loop burns most of these 1.5 s (0.65 s on a loaded machine)
    t0 = time.monotonic()
    w.stop()
    assert not w.running
    assert time.monotonic() - t0 < 5


def test_a_missing_folder_cannot_be_watched(tmp_path):
    with pytest.raises(WatchError, match="not a folder"):
        FolderWatcher(tmp_path / "nope", lambda paths: None).start()


@pytest.mark.slow
def test_watching_indexes_a_new_photo_reuses_a_move_and_a_copy_and_removes_a_deletion(tmp_path, embedders, monkeypatch):
    root = tmp_path / "photos"
    root.mkdir()
    for i in range(3):
        photo(10 + i).save(root / f"p{i}.jpg")
    lib = Library(root, tmp_path / "lib")
    emb = embedders("tiny-random")
    index_folder(lib, emb)
    encoded: list[int] = []
    real = emb.encode_batch
    monkeypatch.setattr(emb, "encode_batch", lambda batch: (encoded.append(len(batch)), real(batch))[1])
    runs: list = []

    def update(paths: list[str]) -> None:
        runs.append(index_changes(lib, lambda: index_folder(lib, emb)))

    mid = lib.model_id(emb.spec)
    with FolderWatcher(root, update, skip=lib.dir, quiet=QUIET):
        photo(99).save(tmp_path / "new.jpg")
        shutil.copy(tmp_path / "new.jpg", root / "new.jpg")  # copied in: encoded once
        wait_for(lambda: len(runs) == 1)
        report, changes = runs[-1]
        assert report.indexed == 1 and sum(encoded) == 1
        assert [(c.kind, c.path.name, c.reused) for c in changes] == [("added", "new.jpg", False)]

        fid = lib.file_ids(["p1.jpg"])["p1.jpg"]
        ids, vecs = lib.vectors(mid)
        before = vecs[list(ids).index(fid)].copy()
        (root / "sub").mkdir()
        os.rename(root / "p1.jpg", root / "sub" / "moved.jpg")  # moved: not encoded again
        wait_for(lambda: len(runs) == 2)
        report, changes = runs[-1]
        assert report.indexed == 0 and report.reused == 1 and sum(encoded) == 1
        assert [(c.kind, c.old_path.name, c.path.name) for c in changes] == [("moved", "p1.jpg", "moved.jpg")]
        assert lib.file_ids(["sub/moved.jpg"]) == {"sub/moved.jpg": fid}  # same row: tags and marks follow
        ids, vecs = lib.vectors(mid)
        assert np.array_equal(vecs[list(ids).index(fid)], before)

        (root / "p2.jpg").unlink()
        wait_for(lambda: len(runs) == 3)
        report, changes = runs[-1]
        assert report.removed == 1
        assert [(c.kind, c.path.name) for c in changes] == [("removed", "p2.jpg")]

        shutil.copy(root / "p0.jpg", root / "sub" / "copy.jpg")  # a copy of a known photo: vector copied
        wait_for(lambda: len(runs) == 4)
        report, changes = runs[-1]
        assert report.indexed == 0 and report.reused == 1 and sum(encoded) == 1
        assert [(c.kind, c.path.name, c.reused) for c in changes] == [("added", "copy.jpg", True)]
        time.sleep(QUIET * 3)  # indexing read every new file: that must not start another run
    assert sorted(f.relpath for f in lib.files()) == ["new.jpg", "p0.jpg", "sub/copy.jpg", "sub/moved.jpg"]
    assert sum(encoded) == 1 and len(runs) == 4  # one run per change, none set off by indexing's own reads
    lib.close()
