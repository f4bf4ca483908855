"""Albums, stars, favourites, hand-made tags, removed tags, renamed and merged groups (issue 15)."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from conftest import hash_tree, photo

from clipgallery.cli import main
from clipgallery.core import organize as org
from clipgallery.core import tagging
from clipgallery.core.errors import OrganizeError, QueryError
from clipgallery.core.search import Searcher, SearchOptions, filter_listing
from clipgallery.core.store.schema import MIGRATIONS

NS = {"x": "adobe:ns:meta/", "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
      "xmp": "http://ns.adobe.com/xap/1.0/", "dc": "http://purl.org/dc/elements/1.1/"}


@pytest.fixture
def marked(tmp_path, make_library):
    root = tmp_path / "photos"
    (root / "sub").mkdir(parents=True)
    for i in range(6):
        photo(i).save(root / f"{i}.jpg")
    photo(6).save(root / "sub" / "6.jpg")
    lib, _ = make_library(root)
    ids = {f.relpath: f.id for f in lib.files()}
    return lib, ids


def run_cli(capsys, *args) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


def db_dump(lib) -> list:
    """Every row of the hand-made tables: to show a failed request changed nothing."""
    c = lib.conn
    return [c.execute(f"SELECT * FROM {t} ORDER BY 1, 2").fetchall()
            for t in ("albums", "album_photos", "marks", "manual_tags", "tag_overrides")]


# -- store ------------------------------------------------------------------------------------------


def test_migration_creates_the_tables_and_marks_cascade_with_their_file(marked):
    lib, ids = marked
    assert lib.db.version == len(MIGRATIONS)
    org.create_album(lib, "Trip")
    org.add_to_album(lib, "trip", [ids["0.jpg"], ids["1.jpg"]])
    org.set_stars(lib, [ids["0.jpg"]], 4)
    org.set_favourite(lib, [ids["0.jpg"]], True)
    org.add_tag(lib, "beach", [ids["0.jpg"]])
    org.remove_tag(lib, "anger", [ids["0.jpg"]])
    lib.remove_files([ids["0.jpg"]])
    rows = db_dump(lib)
    assert [len(r) for r in rows] == [1, 1, 0, 0, 0]  # only the album and 1.jpg's membership remain
    with pytest.raises(sqlite3.IntegrityError):  # the schema itself refuses 6 stars
        lib.conn.execute("INSERT INTO marks(file_id, stars) VALUES(?, 6)", (ids["1.jpg"],))


def test_a_moved_photo_keeps_its_marks(marked, embedders):
    from clipgallery.core.indexer import index_folder

    lib, ids = marked
    org.create_album(lib, "Keep")
    org.add_to_album(lib, "Keep", [ids["2.jpg"]])
    org.set_stars(lib, [ids["2.jpg"]], 5)
    org.add_tag(lib, "moved one", [ids["2.jpg"]])
    (lib.root / "2.jpg").rename(lib.root / "sub" / "renamed.jpg")
    index_folder(lib, embedders("tiny-random"))
    new_id = lib.file_ids(["sub/renamed.jpg"])["sub/renamed.jpg"]
    assert new_id == ids["2.jpg"]  # a move keeps the row
    m = org.marks_of(lib, [new_id])[new_id]
    assert (m.stars, m.albums, m.tags) == (5, ("Keep",), ("moved one",))


def test_albums_stars_favourites_and_bad_input(marked):
    lib, ids = marked
    org.create_album(lib, "  Summer   2024 ")
    assert [(a.name, a.count) for a in org.albums(lib)] == [("Summer 2024", 0)]
    with pytest.raises(OrganizeError, match="already exists"):
        org.create_album(lib, "summer 2024")
    assert org.add_to_album(lib, "SUMMER 2024", [ids["0.jpg"], ids["1.jpg"]]) == 2
    assert org.add_to_album(lib, "Summer 2024", [ids["1.jpg"], ids["3.jpg"]]) == 1
    assert org.album_photos(lib, "Summer 2024") == [ids["0.jpg"], ids["1.jpg"], ids["3.jpg"]]
    assert org.remove_from_album(lib, "Summer 2024", [ids["1.jpg"]]) == 1
    org.rename_album(lib, "Summer 2024", "Beach")
    assert [(a.name, a.count) for a in org.albums(lib)] == [("Beach", 2)]

    before = db_dump(lib)
    with pytest.raises(OrganizeError, match="no album named 'Nope'; albums: Beach"):
        org.add_to_album(lib, "Nope", [ids["0.jpg"]])
    with pytest.raises(OrganizeError, match="from 0 to 5"):
        org.set_stars(lib, [ids["0.jpg"]], 6)
    with pytest.raises(OrganizeError, match="from 0 to 5"):
        org.set_stars(lib, [ids["0.jpg"]], -1)
    with pytest.raises(OrganizeError, match="no photo with id 99999"):  # one bad id: nothing written
        org.set_stars(lib, [ids["4.jpg"], 99999], 3)
    with pytest.raises(OrganizeError, match="not inside the photo folder"):
        org.resolve_photos(lib, [lib.root / "0.jpg", lib.root.parent / "elsewhere.jpg"])
    with pytest.raises(OrganizeError, match="not an indexed photo"):
        org.resolve_photos(lib, ["0.jpg", "missing.jpg"])
    with pytest.raises(OrganizeError, match="name is empty"):
        org.create_album(lib, "   ")
    assert db_dump(lib) == before

    assert org.resolve_photos(lib, ["sub/6.jpg", lib.root / "0.jpg", "0.jpg"]) == [ids["sub/6.jpg"], ids["0.jpg"]]
    org.set_stars(lib, [ids["0.jpg"], ids["4.jpg"]], 3)
    org.set_favourite(lib, [ids["4.jpg"]])
    org.set_stars(lib, [ids["0.jpg"]], 0)  # 0 clears the rating
    assert org.all_marks(lib) == {ids["4.jpg"]: (3, True)}
    org.delete_album(lib, "beach")
    assert org.albums(lib) == [] and len(lib.files()) == 7


# -- filters ----------------------------------------------------------------------------------------


def test_filters_select_exactly_the_marked_photos(marked, embedders):
    lib, ids = marked
    emb = embedders("tiny-random")
    org.create_album(lib, "A")
    org.add_to_album(lib, "A", [ids["0.jpg"], ids["1.jpg"], ids["sub/6.jpg"]])
    org.set_stars(lib, [ids["1.jpg"], ids["2.jpg"]], 4)
    org.set_stars(lib, [ids["sub/6.jpg"]], 2)
    org.set_favourite(lib, [ids["1.jpg"], ids["3.jpg"]])
    org.add_tag(lib, "Holiday", [ids["0.jpg"], ids["3.jpg"]])

    searcher = Searcher(lib, emb, ann_build="never")
    everything = SearchOptions(k=100, threshold=-1.0)

    def found(**changes) -> set[str]:
        hits = searcher.search("a photo", dataclasses.replace(everything, **changes))
        return {h.path.relative_to(lib.root).as_posix() for h in hits}

    assert found(album="a") == {"0.jpg", "1.jpg", "sub/6.jpg"}
    assert found(min_stars=3) == {"1.jpg", "2.jpg"}
    assert found(min_stars=2) == {"1.jpg", "2.jpg", "sub/6.jpg"}
    assert found(favourites=True) == {"1.jpg", "3.jpg"}
    assert found(tag="holiday") == {"0.jpg", "3.jpg"}
    assert found(album="A", min_stars=1, favourites=True) == {"1.jpg"}
    assert found(album="A", folder="sub") == {"sub/6.jpg"}
    sim = searcher.similar(ids["0.jpg"], dataclasses.replace(everything, favourites=True))
    assert {h.file_id for h in sim} == {ids["1.jpg"], ids["3.jpg"]}
    with pytest.raises(OrganizeError, match="no album named"):
        found(album="missing")
    with pytest.raises(OrganizeError, match="unknown tag 'nosuch'"):
        found(tag="nosuch")
    with pytest.raises(QueryError, match="from 0 to 5"):
        found(min_stars=9)

    entries = [(f.relpath, f.id, f.date) for f in lib.files()]
    keep = filter_listing(entries, SearchOptions(favourites=True, min_stars=4), lib.root, lib)
    assert [entries[i][0] for i in keep] == ["1.jpg"]
    keep = filter_listing(entries, SearchOptions(tag="HOLIDAY"), lib.root, lib)
    assert sorted(entries[i][0] for i in keep) == ["0.jpg", "3.jpg"]
    with pytest.raises(QueryError, match="needs the library"):
        filter_listing(entries, SearchOptions(favourites=True), lib.root)


# -- hand-made tags beside zero-shot tagging ---------------------------------------------------------


def test_hand_made_tags_survive_zero_shot_tagging_and_removed_tags_stay_removed(marked, embedders):
    lib, ids = marked
    emb = embedders("tiny-random")
    emotions = dataclasses.replace(tagging.load_label_set("emotions"), none=())
    org.add_tag(lib, "Grandma", [ids["0.jpg"], ids["1.jpg"]])
    tagging.tag_library(lib, emb, emotions, threshold=0.0)  # every label on every photo
    p0 = ids["0.jpg"]

    def labels(fid: int) -> list[tuple[str, str]]:
        return [(s, t.label) for s, t in tagging.tags_of(lib, emb.spec, [fid]).get(fid, [])]

    assert ("hand-made", "Grandma") in labels(p0) and ("emotions", "anger") in labels(p0)
    org.remove_tag(lib, "anger", [p0])  # a wrong zero-shot tag, off this photo only
    assert ("emotions", "anger") not in labels(p0) and ("emotions", "anger") in labels(ids["1.jpg"])
    assert p0 not in tagging.files_with_tag(lib, emb.spec, "anger")
    assert p0 not in org.files_with_label(lib, "anger")

    tagging.tag_library(lib, emb, emotions, threshold=0.0)  # re-tagging
    assert ("hand-made", "Grandma") in labels(p0)  # the hand-made tag survived
    assert ("emotions", "anger") not in labels(p0)  # and the removed one stayed off
    assert tagging.files_with_tag(lib, emb.spec, "grandma") == {p0, ids["1.jpg"]}
    summaries = {s.name: s for s in tagging.label_set_summaries(lib, emb.spec)}
    assert summaries["hand-made"].counts == {"Grandma": 2}
    assert summaries["emotions"].counts["anger"] == 6  # 7 photos, one tag removed
    org.add_tag(lib, "anger", [p0])  # adding it back by hand undoes the removal
    assert ("emotions", "anger") in labels(p0) and ("hand-made", "anger") in labels(p0)
    org.rename_tag(lib, "grandma", "Granny")
    assert org.manual_labels(lib) == {"Granny": 2, "anger": 1}
    with pytest.raises(OrganizeError, match="no hand-made tag 'nobody'"):
        org.rename_tag(lib, "nobody", "x")


# -- command line -----------------------------------------------------------------------------------


def test_cli_albums_rate_favourite_tag(marked, capsys):
    lib, ids = marked
    root, d = lib.root, lib.dir
    before_photos = hash_tree(root)
    assert run_cli(capsys, "album", "create", root, "Trip", "--library-dir", d)[0] == 0
    code, out, err = run_cli(capsys, "album", "add", root, "Trip", root / "0.jpg", "1.jpg", "sub/6.jpg",
                             "--library-dir", d, "--json")
    assert code == 0, err
    assert json.loads(out) == [{"name": "Trip", "count": 3}]
    code, out, _ = run_cli(capsys, "album", "remove", root, "trip", "1.jpg", "--library-dir", d)
    assert code == 0 and "removed 1 photos" in out
    code, out, _ = run_cli(capsys, "album", "list", root, "--library-dir", d, "--json")
    assert json.loads(out) == [{"name": "Trip", "count": 2}]

    code, out, err = run_cli(capsys, "rate", root, "0.jpg", "2.jpg", "--stars", "5", "--library-dir", d, "--json")
    assert code == 0, err
    assert [(Path(p["path"]).name, p["stars"]) for p in json.loads(out)] == [("0.jpg", 5), ("2.jpg", 5)]
    assert run_cli(capsys, "favourite", root, "2.jpg", "3.jpg", "--library-dir", d)[0] == 0
    assert run_cli(capsys, "favourite", root, "3.jpg", "--off", "--library-dir", d)[0] == 0
    code, out, err = run_cli(capsys, "tag", root, "--add", "sunny day", "0.jpg", "3.jpg", "--library-dir", d, "--json")
    assert code == 0, err
    assert json.loads(out)["photos"][0]["tags"] == ["sunny day"]
    assert run_cli(capsys, "tag", root, "--remove", "sunny day", "3.jpg", "--library-dir", d)[0] == 0
    assert org.all_marks(lib) == {ids["0.jpg"]: (5, False), ids["2.jpg"]: (5, True)}
    assert org.manual_labels(lib) == {"sunny day": 1}

    for args in (["search", root, "a", "photo"], ["similar", root, root / "4.jpg"]):
        code, out, err = run_cli(capsys, *args, "--album", "Trip", "--min-stars", "5", "--threshold", "-1",
                                 "--library-dir", d, "--json")
        assert code == 0, err
        assert [Path(h["path"]).name for h in json.loads(out)] == ["0.jpg"]
        code, out, err = run_cli(capsys, *args, "--favourites", "--tag", "sunny day", "--threshold", "-1",
                                 "--library-dir", d, "--json")
        assert code == 0 and json.loads(out) == []
        code, out, err = run_cli(capsys, *args, "--favourites", "--threshold", "-1", "--library-dir", d, "--json")
        assert [Path(h["path"]).name for h in json.loads(out)] == ["2.jpg"]
    assert hash_tree(root) == before_photos  # the photo folder is never written


@pytest.mark.parametrize("args, message", [
    (["album", "add", "{root}", "Nope", "0.jpg"], "no album named 'Nope'"),
    (["album", "add", "{root}", "Trip", "0.jpg", "nothere.jpg"], "nothere.jpg is not an indexed photo"),
    (["album", "add", "{root}", "Trip", "0.jpg", "/etc/hostname"], "/etc/hostname is not inside the photo folder"),
    (["album", "create", "{root}", "trip"], "an album named 'trip' already exists"),
    (["album", "delete", "{root}", "Other"], "no album named 'Other'"),
    (["album", "create", "{root}"], "needs the album's NAME"),
    (["rate", "{root}", "0.jpg", "--stars", "6"], "stars go from 0 to 5, not 6"),
    (["rate", "{root}", "0.jpg", "--stars", "-1"], "stars go from 0 to 5"),
    (["rate", "{root}", "0.jpg", "ghost.jpg", "--stars", "3"], "ghost.jpg is not an indexed photo"),
    (["favourite", "{root}", "../x.jpg"], "is not inside the photo folder"),
    (["tag", "{root}", "--add", "x"], "name the photos"),
    (["tag", "{root}", "--remove", "x", "0.jpg", "ghost.jpg"], "ghost.jpg is not an indexed photo"),
    (["tag", "{root}", "0.jpg"], "photos go with --add LABEL or --remove LABEL"),
    (["search", "{root}", "x", "--album", "Nope"], "no album named 'Nope'"),
    (["search", "{root}", "x", "--min-stars", "7"], "stars go from 0 to 5"),
    (["export", "{root}", "--dest", "{dest}", "--album", "Nope"], "no album named 'Nope'"),
    (["cluster", "{root}", "--rename", "1", "x"], "has not been grouped yet"),
])
def test_cli_bad_input_is_one_line_and_changes_nothing(marked, capsys, tmp_path, args, message):
    lib, ids = marked
    org.create_album(lib, "Trip")
    org.add_to_album(lib, "Trip", [ids["1.jpg"]])
    before = db_dump(lib)
    args = [a.format(root=lib.root, dest=tmp_path / "out") for a in args]
    code, out, err = _cli_or_usage_error(capsys, [*args, "--library-dir", str(lib.dir)])
    assert code != 0 and out == ""
    assert message in err.strip().splitlines()[-1], err
    assert "Traceback" not in err
    assert db_dump(lib) == before
    assert not (tmp_path / "out").exists()


def _cli_or_usage_error(capsys, argv):
    try:
        code = main(argv)
    except SystemExit as e:  # argparse refused a value itself (exit 2, its usage line first)
        code = e.code
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_export_album_with_xmp_sidecars(marked, capsys, tmp_path, embedders):
    lib, ids = marked
    emb = embedders("tiny-random")
    tagging.tag_library(lib, emb, dataclasses.replace(tagging.load_label_set("emotions"), none=()), threshold=0.0)
    org.create_album(lib, "Best & <Worst>")
    org.add_to_album(lib, "Best & <Worst>", [ids["0.jpg"], ids["1.jpg"], ids["2.jpg"]])
    org.set_stars(lib, [ids["0.jpg"]], 4)
    org.set_favourite(lib, [ids["0.jpg"], ids["2.jpg"]])
    org.add_tag(lib, "Oma & Opa", [ids["0.jpg"]])
    org.remove_tag(lib, "anger", [ids["0.jpg"]])
    dest = tmp_path / "out"
    dest.mkdir()
    folder = dest / "Best & _Worst_"
    folder.mkdir()
    (folder / "2.jpg.xmp").write_text("mine")  # an existing sidecar (of nothing yet) is never overwritten

    code, out, err = run_cli(capsys, "export", lib.root, "--dest", dest, "--album", "Best & <Worst>",
                             "--favourites", "--xmp", "--library-dir", lib.dir, "--json")
    assert code == 0, err
    result = json.loads(out)
    assert sorted(Path(w["source"]).name for w in result["written"]) == ["0.jpg", "2.jpg"]
    assert [Path(p).name for p in result["sidecars"]] == ["0.jpg.xmp"]
    assert (folder / "2.jpg.xmp").read_text() == "mine"
    assert any("not overwritten" in s["reason"] for s in result["skipped"])

    desc = ET.parse(folder / "0.jpg.xmp").getroot().find("rdf:RDF/rdf:Description", NS)
    assert desc.get(f"{{{NS['xmp']}}}Rating") == "4"
    assert desc.get(f"{{{NS['xmp']}}}Label") == "Favorite"
    subjects = [li.text for li in desc.findall("dc:subject/rdf:Bag/rdf:li", NS)]
    assert subjects[0] == "Oma & Opa" and "anger" not in subjects and "awe" in subjects
    assert len(subjects) == 1 + 7  # the hand-made tag and the 8 emotions less the removed one

    # --favourites alone is a source too; a second export writes no second sidecar over the first.
    code, out, err = run_cli(capsys, "export", lib.root, "--dest", tmp_path / "favs", "--favourites", "--xmp",
                             "--min-stars", "1", "--library-dir", lib.dir, "--json")
    assert code == 0, err
    written = json.loads(out)["written"]
    assert [Path(w["source"]).name for w in written] == ["0.jpg"]
    assert Path(written[0]["dest"]).with_name("0.jpg.xmp").is_file()


@pytest.mark.slow  # groups the folder (encodes the naming words)
def test_cli_rename_and_merge_groups(marked, capsys):
    lib, _ = marked
    root, d = lib.root, lib.dir
    code, out, err = run_cli(capsys, "cluster", root, "--k", "3", "--library-dir", d, "--json")
    assert code == 0, err
    groups = json.loads(out)
    sizes = [g["size"] for g in groups]
    code, out, err = run_cli(capsys, "group", root, "--rename", "2", "Family", "--library-dir", d, "--json")
    assert code == 0, err
    assert json.loads(out)[1]["name"] == "Family"
    code, out, err = run_cli(capsys, "cluster", root, "--merge", "3", "1", "--library-dir", d, "--json")
    assert code == 0, err
    after = json.loads(out)
    assert [g["size"] for g in after] == [sizes[0] + sizes[2], sizes[1]]
    assert after[1]["name"] == "Family" and sorted(after[0]["paths"]) == sorted(groups[0]["paths"] + groups[2]["paths"])
    for args, message in ((["--merge", "1", "1"], "into itself"), (["--merge", "3", "1"], "there is no group 3"),
                          (["--rename", "x", "y"], "N is a group number")):
        code, out, err = run_cli(capsys, "cluster", root, *args, "--library-dir", d)
        assert code == 1 and message in err, err
