"""The engine: scanning, decoding, models, the library, indexing and search. Imports no Qt.

Submodules import torch and open_clip lazily, so importing this package stays cheap.
"""
