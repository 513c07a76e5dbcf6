"""Regenerate the app's example clips in assets/: ``python scripts/make_assets.py [--out assets]``.

Each clip is MIDI from a Debian package rendered with fluidsynth (``restoration.corpus``), mixed
down to mono like musicgen-small's output, and passed through the MusicGen-like degradation
(``restoration.degrade``) with a fixed codec and seed, so the clips sound like raw MusicGen output
(32 kHz, nothing above ~14 kHz, codec artifacts). The first clip also gets its clean 48 kHz render
as a reference for the app's reference metrics. Everything is seeded: the same files every run.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from restoration import save_audio  # noqa: E402
from restoration.audio import to_channels  # noqa: E402
from restoration.corpus import SOUNDFONTS, list_sources, render_clip  # noqa: E402
from restoration.degrade import DegradeConfig, degrade  # noqa: E402

#: (file stem, source package, piece, render seed, codec of the degradation, degradation seed, keep clean reference)
CLIPS = (
    ("whistle_tune", "openttd-openmsx", "wood_whistles", 6, "opus", 11, True),
    ("train_tune", "openttd-openmsx", "flying_scotsman", 5, "mp3", 12, False),
    ("blupi_theme", "planetblupi-music-midi", "music004", 9, "vorbis", 13, False),
)
CLIP_S = 6.0
SOUNDFONT = "FluidR3_GM.sf2"
MAX_BYTES = 400_000


def make_clip(stem: str, kind: str, piece: str, seed: int, codec: str, degrade_seed: int, keep_reference: bool,
              out: Path, workdir: Path) -> list[Path]:
    """Render, degrade and write one example (and its clean reference); returns the files written."""
    sources = [s for s in list_sources() if s.kind == kind and s.name == piece]
    if not sources:
        raise SystemExit(f"{kind} piece {piece!r} is not installed (apt-get install {kind}, mma, fluidsynth)")
    rendered = None
    for attempt in range(8):  # a silent excerpt is skipped: draw another window of the piece
        rendered = render_clip(seed * 100 + attempt, sources[0], np.random.default_rng(seed * 100 + attempt),
                               workdir, soundfonts=[SOUNDFONT], eq=np.random.default_rng([seed, attempt, 1]),
                               clip_s=CLIP_S)
        if rendered is not None:
            break
    if rendered is None:
        raise SystemExit(f"every excerpt of {piece} was silent")
    clean = to_channels(rendered[0], 1)
    written = [save_audio(out / f"{stem}.flac", degrade(clean, 48000, seed=degrade_seed,
                                                         config=DegradeConfig().only(codec)), 32000)]
    if keep_reference:
        written.append(save_audio(out / f"{stem}_clean_reference.flac", clean, 48000))
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "assets", help="folder to write the clips to")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for clip in CLIPS:
            for path in make_clip(*clip, out=args.out, workdir=Path(tmp)):
                size = path.stat().st_size
                print(f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}: {size / 1000:.0f} kB")
                if size > MAX_BYTES:
                    raise SystemExit(f"{path.name} is {size} bytes, over the {MAX_BYTES} byte budget")
    print(f"rendered with {SOUNDFONT} ({SOUNDFONTS[SOUNDFONT][0]}, {SOUNDFONTS[SOUNDFONT][1]})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
