"""What a scripted listener can learn without listening, and what serving a trial costs.

    python scripts/measure_listening.py

Builds a 30-trial ABX test (6 methods, 2 synthetic clips) in a temporary database, takes it as one
listener through :class:`restoration.listening.ListeningService`, and counts, over the 30 trials,
how often the previous release's seed rule (``sha256(test id, name)``, computable by any client)
predicts which side X is, and how often X's file name equals A's or B's. Then times the tagged
copies of one 12-slot MUSHRA screen of 10 s stereo 48 kHz clips. Prints one line per measurement.
"""

from __future__ import annotations

import hashlib
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from restoration import save_audio  # noqa: E402
from restoration.listening import ListeningService, ListeningStore, build_test, listener_plan, pair_clips  # noqa: E402
from restoration.listening.protocol import normalize_name  # noqa: E402
from signals import make_music  # noqa: E402


def old_seed(test_id: str, name: str) -> int:
    """The previous release's listener seed: anyone who knows the test id and the name can compute it."""
    digest = hashlib.sha256(f"{test_id}\x00{normalize_name(name).casefold()}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        store = ListeningStore(tmp / "db.sqlite")
        clips = [save_audio(tmp / f"c{k}.wav", make_music(sr=32000, seconds=1.0, seed=k), 32000) for k in range(2)]
        methods = ["passthrough" + "+passthrough" * k for k in range(6)]  # 15 pairs x 2 clips
        test_id = build_test(store, name="abx", protocol="abx", clips=pair_clips(clips), methods=methods)
        service = ListeningService(store, tmp / "scratch")
        trials = store.trials(test_id)
        predicted = {p.trial: p for p in listener_plan("abx", [(t.id, 2) for t in trials], old_seed(test_id, "Ann"))}
        hits = shared = n = 0
        view = service.join(test_id, "Ann")
        while not view.done:
            shown = store.presentation(view.token)
            truth = "A" if shown.slots["X"] == shown.slots["A"] else "B"
            hits += ("A" if predicted[shown.trial_id].x == 0 else "B") == truth
            names = {s.key: s.path.name for s in view.slots}
            shared += names["X"] in (names["A"], names["B"])
            n += 1
            for slot in view.slots:
                service.played(view.token, slot.key, view.min_play_s)
            view = service.answer(view.token, truth)
        print(f"ABX, {n} trials: the old seed rule predicts X in {hits}/{n}; X shares A's or B's file name in {shared}/{n}")
        y = make_music(sr=48000, seconds=10.0, seed=1)
        sources = [save_audio(tmp / f"m{k}.flac", y, 48000) for k in range(12)]
        start = time.perf_counter()
        service._copies(-1, sources)
        print(f"12 tagged copies of 10 s stereo 48 kHz FLAC (one MUSHRA screen): {time.perf_counter() - start:.2f} s")
        service.close()


if __name__ == "__main__":
    main()
