"""All of the library's SQL: the schema and one store per kind of record. Nothing else runs SQL."""

from __future__ import annotations

from pathlib import Path

from .duplicates import DuplicateStore, StoredPrint, TrashedRow
from .faces import FaceStore
from .files import FileInfo, FileStore, FileUpdate
from .groups import GroupRun, GroupStore
from .marks import AlbumRow, MarkStore
from .media import Frame, MediaStore
from .schema import MIGRATIONS, SCHEMA_VERSION, Database, Transaction
from .tags import AppliedLabelSet, ProbeRow, TagStore
from .text import ReadResult, StoredLine, TextCounts, TextLine, TextStore
from .vectors import VectorStore

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "AlbumRow", "AppliedLabelSet", "Database", "DuplicateStore", "FaceStore", "FileInfo", "FileStore", "FileUpdate",
           "Frame", "GroupRun", "GroupStore", "MarkStore", "MediaStore", "ProbeRow", "ReadResult", "Store", "StoredLine", "StoredPrint", "TagStore",
           "TextCounts", "TextLine", "TextStore", "Transaction", "TrashedRow", "VectorStore"]


class Store:
    """The stores of one library file, sharing its connections."""

    def __init__(self, path: Path, root: Path, read_only: bool = False):
        self.db = Database(path, read_only)
        self.media = MediaStore(self.db)
        self.files = FileStore(self.db, root, self.media)
        self.vectors = VectorStore(self.db)
        self.tags = TagStore(self.db)
        self.groups = GroupStore(self.db)
        self.marks = MarkStore(self.db)
        self.text = TextStore(self.db)
        self.faces = FaceStore(self.db, root)
        self.duplicates = DuplicateStore(self.db)  # pixel fingerprints, photos moved to the trash
