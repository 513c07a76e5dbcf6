"""Blind listening tests: protocols, SQLite storage, stimulus rendering, serving trials and statistics.

:func:`serve_copies` writes the files one trial sends a listener (alike in size, header and date,
never bit-identical, the same sound); the session and the arena serve through it.

>>> from restoration.listening import ListeningStore, build_test, pair_clips, summarize
>>> store = ListeningStore("listening.sqlite")
>>> test_id = build_test(store, name="gating vs sbr", protocol="ab",
...                      clips=pair_clips(["clip.wav"]), methods=["spectral_gating", "sbr"])
>>> summarize(store, test_id).tables

Files made anywhere (``song.audiosr.wav``, ``song.apollo.wav``...) are conditions too:

>>> from restoration.conditions import collect
>>> build_test(store, name="ours vs theirs", protocol="ab", clips=outside_clips(collect("outputs/")), methods=[])
"""

from .protocol import PROTOCOLS, listener_plan
from .render import Clip, build_test, bundled_clips, outside_clips, pair_clips
from .results import Results, export_csv, results_figure, summarize
from .serve import serve_copies, serve_copy
from .session import ListeningService, TrialView
from .storage import ListeningStore, StorageError, default_db_path, persistence_warning

__all__ = [
    "PROTOCOLS", "Clip", "ListeningService", "ListeningStore", "Results", "StorageError", "TrialView", "build_test",
    "bundled_clips", "default_db_path", "export_csv", "listener_plan", "outside_clips", "pair_clips",
    "persistence_warning", "results_figure", "serve_copies", "serve_copy", "summarize",
]
