"""`clipgallery watch` in a real subprocess: a photo copied in, a rename (no re-encoding) and a
deletion reach the library within seconds; Ctrl-C and SIGTERM end it cleanly with status 0."""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time

import pytest
from conftest import hash_tree, photo

from clipgallery.core.library import Library

pytestmark = pytest.mark.slow  # a subprocess that loads a model

TIMEOUT = 30.0


class Watch:
    """`clipgallery watch --json` running; next() gives its stdout's JSON lines one at a time."""

    def __init__(self, root, lib_dir, *extra):
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "clipgallery.cli", "--library-dir", str(lib_dir), "watch", str(root),
             "--model", "tiny-random", "--quiet-time", "0.5", *extra],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        self.lines: queue.Queue = queue.Queue()
        self.err: list[str] = []
        self.readers = [threading.Thread(target=lambda: [self.lines.put(x) for x in self.proc.stdout], daemon=True),
                        threading.Thread(target=lambda: [self.err.append(x) for x in self.proc.stderr], daemon=True)]
        for t in self.readers:
            t.start()

    def watching(self) -> bool:
        return any(line.startswith("Watching") for line in self.err)

    def next(self) -> dict:
        try:
            return json.loads(self.lines.get(timeout=TIMEOUT))
        except queue.Empty:
            self.proc.kill()
            raise AssertionError("no line from watch: " + "".join(self.err)) from None

    def stop(self, sig=signal.SIGINT) -> tuple[int, str]:
        self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout=TIMEOUT)
        finally:
            self.proc.kill()
        for t in self.readers:
            t.join(TIMEOUT)
        return rc, "".join(self.err)


def wait_until(condition, timeout: float = TIMEOUT) -> None:
    end = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.1)


def test_watch_indexes_a_copy_a_rename_without_encoding_and_a_deletion(tmp_path):
    root, lib_dir = tmp_path / "photos", tmp_path / "lib"
    root.mkdir()
    for i in range(3):
        photo(i).save(root / f"p{i}.jpg")
    photo(42).save(tmp_path / "new.jpg")
    w = Watch(root, lib_dir, "--json")
    try:
        ready = w.next()
        assert ready["event"] == "ready" and ready["index"]["indexed"] == 3
        lib = Library(root, lib_dir, create=False)

        shutil.copy(tmp_path / "new.jpg", root / "new.jpg")
        assert w.next() == {"event": "added", "path": str(root / "new.jpg"), "reused": False}
        assert lib.file_ids(["new.jpg"])  # in the library, so searchable

        old_id = lib.file_ids(["p1.jpg"])["p1.jpg"]
        (root / "p1.jpg").rename(root / "renamed.jpg")
        # "moved" is told from the row keeping its id: a re-encode would be "removed" + "added"
        assert w.next() == {"event": "moved", "path": str(root / "renamed.jpg"), "from": str(root / "p1.jpg"),
                            "reused": True}
        assert lib.file_ids(["renamed.jpg", "p1.jpg"]) == {"renamed.jpg": old_id}

        (root / "p2.jpg").unlink()
        assert w.next() == {"event": "removed", "path": str(root / "p2.jpg")}
        wait_until(lambda: not lib.file_ids(["p2.jpg"]))
        assert sorted(f.relpath for f in lib.files()) == ["new.jpg", "p0.jpg", "renamed.jpg"]
        lib.close()
        before = hash_tree(root)
    finally:
        rc, err = w.stop(signal.SIGINT)
    assert rc == 0, err
    assert "Traceback" not in err
    assert hash_tree(root) == before  # the photo folder is only ever read
    assert w.lines.empty()  # nothing more than one line per change


def test_watch_text_lines_and_sigterm(tmp_path):
    root, lib_dir = tmp_path / "photos", tmp_path / "lib"
    root.mkdir()
    photo(1).save(root / "a.jpg")
    w = Watch(root, lib_dir)
    try:
        photo(2).save(tmp_path / "b.jpg")
        wait_until(w.watching)
        shutil.copy(tmp_path / "b.jpg", root / "b.jpg")
        line = w.lines.get(timeout=TIMEOUT)
        assert line.startswith("added") and line.rstrip().endswith(str(root / "b.jpg"))
    finally:
        rc, err = w.stop(signal.SIGTERM)
    assert rc == 0, err
    assert "Traceback" not in err and "Watching" in err


def test_watch_refuses_a_missing_folder(tmp_path):
    out = subprocess.run([sys.executable, "-m", "clipgallery.cli", "--library-dir", str(tmp_path / "lib"),
                          "watch", str(tmp_path / "nope")], capture_output=True, text=True, timeout=60)
    assert out.returncode == 1
    assert out.stderr.strip() == f"clipgallery: error: cannot watch {tmp_path / 'nope'}: it is not there"
