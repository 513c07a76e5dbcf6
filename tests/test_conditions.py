"""Outside files as conditions: the naming convention, reference folders, CSV manifests and zips."""

from __future__ import annotations

import zipfile

import pytest

from restoration.conditions import (collect, describe, extract_zip, from_paths, read_manifest, scan_folder,
                                    split_name)
from restoration.errors import BadInputError


def touch(folder, *names):
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_bytes(b"x")
    return folder


def test_split_name():
    assert split_name("song.audiosr.wav") == ("song", "audiosr")
    assert split_name("my.song.apollo.flac") == ("my.song", "apollo")
    assert split_name("song.wav") is None


def test_folder_convention_pairs_conditions_with_references(tmp_path):
    folder = touch(tmp_path / "f", "a.x.wav", "a.y.flac", "a.reference.wav", "b.x.wav", "b.y.wav", "notes.txt",
                   "loose.wav", "b.x.mp3")
    found = scan_folder(folder)
    assert [(f.clip, f.condition) for f in found.files] == [("a", "x"), ("a", "y"), ("b", "x"), ("b", "y")]
    assert found.references() == {"a": folder / "a.reference.wav"}
    reasons = {s.where: s.reason for s in found.skipped}
    assert "no condition" in reasons["loose.wav"]
    assert "not an audio file" in reasons["notes.txt"]
    assert "second file of clip b, condition x" in reasons["b.x.wav"] + reasons.get("b.x.mp3", "")
    assert describe(found).startswith("2 clip(s) × 2 condition(s) (x, y), 1 with a reference; 3 skipped")


def test_reference_folder(tmp_path):
    folder = touch(tmp_path / "f", "a.x.wav", "b.x.wav")
    refs = touch(tmp_path / "refs", "a.wav", "b.reference.flac", "c.wav")
    found = scan_folder(folder, reference_dir=refs)
    assert found.references() == {"a": refs / "a.wav", "b": refs / "b.reference.flac"}
    with pytest.raises(BadInputError, match="reference folder not found"):
        scan_folder(folder, reference_dir=tmp_path / "nope")


def test_orphan_reference_and_bad_names_are_skipped(tmp_path):
    found = from_paths([tmp_path / "z.reference.wav", tmp_path / "a.b c.wav", tmp_path / "a.ok.wav"])
    reasons = " | ".join(map(str, found.skipped))
    assert "bad condition name 'b c'" in reasons
    assert "z.reference.wav: a reference of clip z, which has no condition" in reasons
    assert [f.condition for f in found.files] == ["ok"]


def test_manifest(tmp_path):
    files = touch(tmp_path / "audio", "one.wav", "two.wav", "clean.wav")
    manifest = tmp_path / "m.csv"
    manifest.write_text("clip,condition,path,reference\n"
                        "s,audiosr,audio/one.wav,audio/clean.wav\n"
                        f"s,apollo,{files / 'two.wav'},audio/clean.wav\n"
                        "s,apollo,audio/two.wav,\n"
                        "t,x,audio/missing.wav,\n"
                        "u,bad name,audio/one.wav,\n"
                        "v,y,audio/one.wav,audio/nope.wav\n")
    found = read_manifest(manifest)
    assert [(f.clip, f.condition) for f in found.files] == [("s", "apollo"), ("s", "audiosr")]
    assert found.references() == {"s": files / "clean.wav"}
    assert [str(s) for s in found.skipped] == [
        "m.csv line 4: a second row for this clip and condition",
        "m.csv line 5: file not found: missing.wav",
        "m.csv line 6: bad condition name 'bad name' (letters, digits, '_' or '-'; at most 64)",
        "m.csv line 7: reference not found: nope.wav",
    ]
    assert collect(manifest).files == found.files


def test_manifest_with_a_reference_folder_fills_only_missing_references(tmp_path):
    files = touch(tmp_path / "audio", "one.wav", "two.wav", "own.wav")
    refs = touch(tmp_path / "refs", "s.wav", "t.flac")
    manifest = tmp_path / "m.csv"
    manifest.write_text("clip,condition,path,reference\ns,x,audio/one.wav,\nt,x,audio/two.wav,audio/own.wav\n"
                        "u,x,audio/one.wav,\n")
    found = collect(manifest, reference_dir=refs)
    assert [(f.clip, f.reference) for f in found.files] == [("s", refs / "s.wav"), ("t", files / "own.wav"), ("u", None)]
    assert found.skipped == []


@pytest.mark.parametrize("text, message", [
    ("", "has no rows"),
    ("clip,path\na,b.wav\n", "lacks the column(s) condition"),
])
def test_malformed_manifest_is_one_line(tmp_path, text, message):
    manifest = tmp_path / "m.csv"
    manifest.write_text(text)
    with pytest.raises(BadInputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_manifest(manifest)


def test_nothing_usable_names_the_first_problem(tmp_path):
    found = scan_folder(touch(tmp_path / "f", "loose.wav"))
    with pytest.raises(BadInputError, match="no usable files.*loose.wav: no condition"):
        found.require_files()


def test_zip_is_flattened_and_bounded(tmp_path):
    archive = tmp_path / "up.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("../../evil/a.x.wav", b"abc")
        z.writestr("dir/a.reference.wav", b"def")
        z.writestr("readme.txt", b"ignored")
    written = extract_zip(archive, tmp_path / "out")
    assert sorted(p.name for p in written) == ["a.reference.wav", "a.x.wav"]
    assert all(p.parent == tmp_path / "out" for p in written)
    assert not (tmp_path / "evil").exists()
    with pytest.raises(BadInputError, match="extracts to more than"):
        extract_zip(archive, tmp_path / "out2", max_bytes=4)
    with pytest.raises(BadInputError, match="at most 1"):
        extract_zip(archive, tmp_path / "out3", max_members=1)
    (tmp_path / "bad.zip").write_bytes(b"not a zip")
    with pytest.raises(BadInputError, match="not a readable zip"):
        extract_zip(tmp_path / "bad.zip", tmp_path / "out4")
