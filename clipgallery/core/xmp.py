"""XMP sidecars for exported copies: stars, favourite and tags as digiKam, Lightroom and darktable read them.

Stars go to xmp:Rating (0-5), a favourite to xmp:Label "Favorite" (and, so a favourite is never
lost in a tool that only reads ratings, nothing else changes), tags to dc:subject (a bag of
keywords) and, for digiKam, to digiKam:TagsList. The sidecar is named after the copy plus ".xmp"
(IMG_1.jpg.xmp), the name digiKam and darktable look for.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

FAVOURITE_LABEL = "Favorite"
SUFFIX = ".xmp"


@dataclass(frozen=True)
class SidecarData:
    stars: int = 0
    favourite: bool = False
    tags: tuple[str, ...] = ()
    albums: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.stars or self.favourite or self.tags or self.albums)


def sidecar_path(copy: Path) -> Path:
    return copy.with_name(copy.name + SUFFIX)


def _bag(items: Sequence[str]) -> str:
    return "".join(f"\n     <rdf:li>{escape(x)}</rdf:li>" for x in items)


def sidecar_xml(data: SidecarData) -> str:
    """The sidecar's text: one rdf:Description, as Adobe's XMP toolkit writes it."""
    attrs = [f"xmp:Rating={quoteattr(str(int(data.stars)))}"]
    if data.favourite:
        attrs.append(f"xmp:Label={quoteattr(FAVOURITE_LABEL)}")
    subjects = list(dict.fromkeys(data.tags))
    hierarchy = subjects + [f"Albums/{a}" for a in data.albums]
    body = ""
    if subjects:
        body += f"\n   <dc:subject>\n    <rdf:Bag>{_bag(subjects)}\n    </rdf:Bag>\n   </dc:subject>"
    if hierarchy:
        body += (f"\n   <digiKam:TagsList>\n    <rdf:Seq>{_bag(hierarchy)}\n    </rdf:Seq>\n   </digiKam:TagsList>"
                 f"\n   <lr:hierarchicalSubject>\n    <rdf:Bag>"
                 f"{_bag([h.replace('/', '|') for h in hierarchy])}\n    </rdf:Bag>\n   </lr:hierarchicalSubject>")
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="clipgallery">\n'
        ' <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">\n'
        '  <rdf:Description rdf:about=""\n'
        '    xmlns:xmp="http://ns.adobe.com/xap/1.0/"\n'
        '    xmlns:dc="http://purl.org/dc/elements/1.1/"\n'
        '    xmlns:digiKam="http://www.digikam.org/ns/1.0/"\n'
        '    xmlns:lr="http://ns.adobe.com/lightroom/1.0/"\n'
        f'    {" ".join(attrs)}>{body}\n'
        '  </rdf:Description>\n'
        ' </rdf:RDF>\n'
        '</x:xmpmeta>\n'
        '<?xpacket end="w"?>\n'
    )
