"""What a scripted listener can learn without listening, and what serving a trial costs.

    python scripts/measure_listening.py

Builds a 30-trial ABX test (5 methods that change the sound, 3 synthetic clips) in a temporary
database and takes it as one listener through :class:`restoration.listening.ListeningService`.
Over the 30 trials it counts how often each "header oracle" names X: the file size, the bytes
before the audio data, the hash of the first and of the last 4 KB, and the file name's order;
and how often two served files were identical. Then it measures what the per-copy dither does to
the sound (RMS difference from the rendered stimulus in dBFS, loudness change in LU) on a 10 s
stereo 48 kHz clip, and times the copies of one 12-slot MUSHRA screen of such clips. Prints one
line per measurement.
"""

from __future__ import annotations

import hashlib
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from restoration import save_audio  # noqa: E402
from restoration.analysis.loudness import integrated_loudness  # noqa: E402
from restoration.listening import ListeningService, ListeningStore, build_test, pair_clips  # noqa: E402
from restoration.listening.serve import serve_copy  # noqa: E402
from signals import make_music  # noqa: E402

METHODS = ["passthrough", "spectral_gating", "spectral_subtraction", "mcra_wiener", "sbr"]
ORACLES = {
    "size": lambda p: p.stat().st_size,
    "header (44 bytes)": lambda p: p.read_bytes()[:44],
    "first 4 KB": lambda p: hashlib.sha256(p.read_bytes()[:4096]).digest(),
    "last 4 KB": lambda p: hashlib.sha256(p.read_bytes()[-4096:]).digest(),
}


def named(feature, paths: dict) -> str | None:
    """The side whose feature equals X's, when exactly one does."""
    x, a, b = (feature(paths[k]) for k in ("X", "A", "B"))
    return ("A" if x == a else "B") if (x == a) != (x == b) else None


def name_order(paths: dict) -> str | None:
    ranked = sorted(paths, key=lambda k: paths[k].name)
    return ranked[1] if "X" in (ranked[0], ranked[-1]) else None


def oracle(tmp: Path) -> None:
    store = ListeningStore(tmp / "db.sqlite")
    clips = [save_audio(tmp / f"c{k}.wav", 0.3 * make_music(sr=32000, seconds=1.0, seed=k), 32000) for k in range(3)]
    test_id = build_test(store, name="abx", protocol="abx", clips=pair_clips(clips), methods=METHODS)
    service = ListeningService(store, tmp / "scratch")
    hits = dict.fromkeys([*ORACLES, "name order"], 0)
    digests, n = set(), 0
    view = service.join(test_id, "Ann")
    while not view.done:
        shown = store.presentation(view.token)
        truth = "A" if shown.slots["X"] == shown.slots["A"] else "B"
        paths = {s.key: s.path for s in view.slots}
        for label, feature in ORACLES.items():
            hits[label] += named(feature, paths) == truth
        hits["name order"] += name_order(paths) == truth
        digests |= {hashlib.sha256(p.read_bytes()).digest() for p in paths.values()}
        n += 1
        for slot in view.slots:
            service.played(view.token, slot.key, view.min_play_s)
        view = service.answer(view.token, truth)
    service.close()
    print(f"ABX, {n} trials: X named by " + ", ".join(f"{label} {k}/{n}" for label, k in hits.items())
          + f"; distinct files {len(digests)} of {3 * n}")


def dither(tmp: Path) -> None:
    y = 0.5 * make_music(sr=48000, seconds=10.0, seed=1)
    for subtype in ("pcm24", "pcm16"):
        source = save_audio(tmp / f"stimulus-{subtype}.flac", y, 48000, subtype=subtype)
        rendered, sr = sf.read(str(source), dtype="float64", always_2d=True)
        served, _ = sf.read(str(serve_copy(source, tmp / "copy.wav")), dtype="float64", always_2d=True)
        difference = served - rendered
        level = 20 * np.log10(np.sqrt(np.mean(difference ** 2)))
        change = integrated_loudness(served.T, sr) - integrated_loudness(rendered.T, sr)
        print(f"served copy of a 10 s stereo 48 kHz {subtype} stimulus: difference {level:.1f} dBFS RMS, "
              f"peak {20 * np.log10(np.abs(difference).max()):.1f} dBFS, loudness change {change:+.5f} LU")


def timing(tmp: Path) -> None:
    y = make_music(sr=48000, seconds=10.0, seed=1)
    sources = [save_audio(tmp / f"m{k}.flac", y, 48000, subtype="pcm24") for k in range(13)]
    service = ListeningService(ListeningStore(tmp / "timing.sqlite"), tmp / "scratch-timing")
    start = time.perf_counter()
    copies = service._copies(-1, sources)
    elapsed = time.perf_counter() - start
    size = copies[0].stat().st_size / 1e6
    print(f"13 served copies of 10 s stereo 48 kHz (one 12-row MUSHRA screen and its reference): {elapsed:.2f} s, "
          f"{size:.2f} MB each")
    service.close()


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        oracle(tmp)
        dither(tmp)
        timing(tmp)


if __name__ == "__main__":
    main()
