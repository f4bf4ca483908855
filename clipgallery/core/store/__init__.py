"""All of the library's SQL: the schema and one store per kind of record. Nothing else runs SQL."""

from __future__ import annotations

from pathlib import Path

from .faces import FaceStore
from .files import FileInfo, FileStore, FileUpdate
from .groups import GroupRun, GroupStore
from .media import Frame, MediaStore
from .schema import MIGRATIONS, SCHEMA_VERSION, Database, Transaction
from .tags import AppliedLabelSet, ProbeRow, TagStore
from .text import ReadResult, StoredLine, TextCounts, TextLine, TextStore
from .vectors import VectorStore

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "AppliedLabelSet", "Database", "FaceStore", "FileInfo", "FileStore", "FileUpdate",
           "Frame", "GroupRun", "GroupStore", "MediaStore", "ProbeRow", "ReadResult", "Store", "StoredLine", "TagStore",
           "TextCounts", "TextLine", "TextStore", "Transaction", "VectorStore"]


class Store:
    """The stores of one library file, sharing its connections."""

    def __init__(self, path: Path, root: Path):
        self.db = Database(path)
        self.media = MediaStore(self.db)
        self.files = FileStore(self.db, root, self.media)
        self.vectors = VectorStore(self.db)
        self.tags = TagStore(self.db)
        self.groups = GroupStore(self.db)
        self.text = TextStore(self.db)
        self.faces = FaceStore(self.db, root)
