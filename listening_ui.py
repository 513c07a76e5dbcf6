"""The app's "Listening test" tab: blind A/B, ABX and MUSHRA tests stored in SQLite.

``build_listening_tab(db_path=..., admin_password=...)`` adds three sub-tabs to the current
``gr.Blocks``: *Listen* (open to everyone: a name, then one trial at a time, players and answer
buttons only), *Create test* and *Results* (both behind the admin password when one is set).
All work is done by :mod:`restoration.listening`; this module only converts at the edge.
"""

from __future__ import annotations

import atexit
import functools
import hmac
import re
import shutil
import sqlite3
import tempfile
import time
from pathlib import Path

import gradio as gr

from restoration import RestorationError, list_methods, load_audio, to_pcm16
from restoration.listening import (PROTOCOLS, ListeningStore, build_test, bundled_clips, default_db_path,
                                   export_csv, listener_plan, pair_clips, results_figure, summarize)
from restoration.listening.protocol import MAX_MUSHRA_CONDITIONS, normalize_name
from restoration.listening.render import DEFAULT_LUFS, DEFAULT_SECONDS
from studio.guard import ScratchFolder, Throttle, client_id

#: Rating rows on a MUSHRA screen.
SLOTS = MAX_MUSHRA_CONDITIONS
_PLAYER = {"interactive": False, "editable": False, "buttons": [], "type": "numpy"}
_INTRO = ("Pick a test and enter your name (any nickname). You get one trial at a time; play the samples as "
          "often as you like, then answer. Every answer is saved the moment you give it: come back with the "
          "same name to continue where you left off.")
_HOW = {
    "ab": "Listen to **A** and **B**, then choose the one you prefer (or *No preference*).",
    "abx": "**X** is the same as either **A** or **B**. Listen to all three, then say which one X is.",
    "mushra": "Rate every sample from 0 (bad) to 100 (excellent){ref}. Play them as often as you like.",
}


def build_listening_tab(*, db_path: str | None, admin_password: str | None) -> None:
    """Add the listening-test components to the current Blocks context (nothing is launched)."""
    try:
        store = ListeningStore(db_path or default_db_path())
    except RestorationError as exc:
        gr.Markdown(f"**Listening tests are unavailable:** {exc}")
        return
    add_components(ListeningHandlers(store, admin_password))


def add_components(handlers: "ListeningHandlers") -> None:
    """The three sub-tabs and their events, wired to ``handlers``, in the current Blocks context."""
    locked = bool(handlers.admin_password)
    with gr.Tabs():
        with gr.Tab("Listen"):
            listen_test = _listen_tab(handlers)
        with gr.Tab("Create test"):
            created = _create_tab(handlers, locked)
        with gr.Tab("Results"):
            results_test = _results_tab(handlers, locked)
    refresh = dict(fn=handlers.test_choices, inputs=None, outputs=[listen_test, results_test], queue=False,
                   api_visibility="private")
    gr.context.Context.root_block.load(**refresh)
    created.success(**refresh)


def _user_errors(fn):
    """Turn library and database errors into a one-line ``gr.Error``."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except RestorationError as exc:
            raise gr.Error(str(exc), print_exception=False) from None
        except sqlite3.Error as exc:
            raise gr.Error(f"the listening database is unavailable ({exc}); nothing was saved, please try again",
                           print_exception=False) from None

    return wrapper


class ListeningHandlers:
    """The event handlers, bound to one store; views are returned as ``{component: update}``."""

    def __init__(self, store: ListeningStore, admin_password: str | None) -> None:
        self.store = store
        self.admin_password = admin_password or ""
        self.c: dict[str, gr.components.Component] = {}
        self.throttle = Throttle()  # wrong admin passwords, per client address
        exports = tempfile.mkdtemp(prefix="listening-exports-")
        atexit.register(shutil.rmtree, exports, ignore_errors=True)
        self.exports = ScratchFolder(exports, max_age_s=3600.0)  # results CSVs, served then pruned

    # ------------------------------------------------------------------ shared

    def check_admin(self, password: str | None, request: gr.Request | None = None) -> None:
        """Open without a password set; else the right one, with wrong guesses throttled per client."""
        if not self.admin_password:
            return
        client = client_id(request)
        self.throttle.check(client)
        if not hmac.compare_digest(str(password or "").encode(), self.admin_password.encode()):
            self.throttle.failed(client)
            raise gr.Error("wrong admin password", print_exception=False)
        self.throttle.succeeded(client)

    def test_choices(self):
        ready = [(f"{t.name} ({t.created_at[:10]})", t.id) for t in self.store.list_tests(status="ready")]
        every = [(f"{t.name} - {t.protocol}, {t.status}, {t.created_at[:16].replace('T', ' ')}", t.id)
                 for t in self.store.list_tests()]
        return (gr.Dropdown(choices=ready, value=ready[0][1] if len(ready) == 1 else None),
                gr.Dropdown(choices=every, value=every[0][1] if every else None))

    # ------------------------------------------------------------------ listening

    def listen_outputs(self) -> list:
        c = self.c
        return [c["status"], c["trial"], c["reference"], c["a"], c["b"], c["x"], c["ab_row"], c["abx_row"],
                c["mushra"], *c["rows"], *c["players"], *c["sliders"], c["session"]]

    @_user_errors
    def check_start(self, test_id: str | None, name: str | None) -> None:
        """Refuse a missing name or test before :meth:`start` (errors here leave the trial view as it is)."""
        normalize_name(name)
        test = self.store.get_test(test_id)
        if test.status != "ready":
            raise gr.Error(f"the test {test.name!r} is not open for listening", print_exception=False)

    @_user_errors
    def check_ratings(self, session: dict | None, *scores: float) -> None:
        """MUSHRA: at least one sample must be rated 100 when one of them is the hidden reference."""
        if session and session.get("has_reference") and max(float(s) for s in scores[:len(session["presented"])]) < 100:
            raise gr.Error("rate at least one sample 100: one of them is the reference itself", print_exception=False)

    @_user_errors
    def start(self, test_id: str | None, name: str | None) -> dict:
        listener = self.store.join(self.store.get_test(test_id).id, name)
        return self._next({"test": listener.test_id, "listener": listener.id, "name": listener.name,
                           "seed": listener.seed})

    @_user_errors
    def answer(self, session: dict | None, response: str, *scores: float) -> dict:
        if not session or "trial" not in session:
            raise gr.Error("enter your name and press Start first", print_exception=False)
        ratings = dict(zip(session["presented"], (float(s) for s in scores))) if response == "ratings" else None
        self.store.record_answer(session["listener"], session["trial"], session["presented"], response,
                                 x_stimulus=session.get("x"), ratings=ratings,
                                 elapsed_s=time.time() - session["shown_at"])
        return self._next(session)

    def _next(self, session: dict) -> dict:
        """The view of the listener's first unanswered trial, or the end screen."""
        c = self.c
        test = self.store.get_test(session["test"])
        trials = {t.id: t for t in self.store.trials(test.id)}
        plan = listener_plan(test.protocol, [(t.id, len(t.stimuli)) for t in trials.values()], session["seed"])
        done = self.store.answered(session["listener"])
        remaining = [p for p in plan if p.trial not in done]
        base = {"test": test.id, "listener": session["listener"], "name": session["name"], "seed": session["seed"]}
        hidden = {c["trial"]: gr.Column(visible=False), c["session"]: base}
        if not remaining:
            return {**hidden, c["status"]: f"### All {len(plan)} trials done. Thank you, {session['name']}!"}
        shown = remaining[0]
        trial = trials[shown.trial]
        presented = [trial.stimuli[i] for i in shown.order]
        x = None if shown.x is None else presented[shown.x]
        stimuli = self.store.stimuli(test.id)
        audio = {s: _pcm(stimuli[s].path) for s in {*presented, *([trial.reference] if trial.reference else [])}}
        number = len(plan) - len(remaining) + 1
        how = _HOW[test.protocol].format(ref=", against the reference; one of the samples *is* the reference, "
                                             "rate at least one 100" if trial.reference else "")
        view = {
            c["status"]: f"### Trial {number} of {len(plan)}\n{how}",
            c["trial"]: gr.Column(visible=True),
            c["reference"]: gr.Audio(value=audio[trial.reference] if trial.reference else None,
                                     visible=bool(trial.reference)),
            c["ab_row"]: gr.Row(visible=test.protocol == "ab"),
            c["abx_row"]: gr.Row(visible=test.protocol == "abx"),
            c["mushra"]: gr.Column(visible=test.protocol == "mushra"),
            c["session"]: {**base, "trial": trial.id, "presented": presented, "x": x, "shown_at": time.time(),
                           "has_reference": bool(trial.reference)},
        }
        pair = test.protocol != "mushra"
        view[c["a"]] = gr.Audio(value=audio[presented[0]] if pair else None, visible=pair)
        view[c["b"]] = gr.Audio(value=audio[presented[1]] if pair else None, visible=pair)
        view[c["x"]] = gr.Audio(value=audio[x] if x is not None else None, visible=x is not None)
        for k, (row, player, slider) in enumerate(zip(c["rows"], c["players"], c["sliders"])):
            used = not pair and k < len(presented)
            view[row] = gr.Row(visible=used)
            view[player] = gr.Audio(value=audio[presented[k]] if used else None)
            view[slider] = gr.Slider(value=50)
        return view

    # ------------------------------------------------------------------ creating

    @_user_errors
    def create(self, password, name, protocol, uploads, references, examples, methods, chains, target_lufs,
               max_seconds, request: gr.Request = None, progress=gr.Progress()):
        self.check_admin(password, request)
        clips = pair_clips(uploads or [], references or [])
        bundled = {clip.name: clip for clip in bundled_clips()}
        clips += [bundled[n] for n in examples or [] if n in bundled]
        if not clips:
            raise gr.Error("upload at least one clip or pick a bundled example", print_exception=False)
        chosen = list(methods or []) + [m.strip() for m in str(chains or "").split(",") if m.strip()]
        progress(0.0, desc="rendering")
        test_id = build_test(self.store, name=name, protocol=protocol, clips=clips, methods=chosen,
                             target_lufs=float(target_lufs if target_lufs is not None else DEFAULT_LUFS),
                             max_seconds=float(max_seconds or 0), progress=lambda d, t: progress(d / t, desc="rendering"))
        test = self.store.get_test(test_id)
        trials = len(self.store.trials(test_id))
        return (f"Created **{test.name}** ({PROTOCOLS[test.protocol]}): {len(clips)} clip(s), {len(chosen)} "
                f"method(s), {trials} trial(s) per listener. It is open in the *Listen* tab now.")

    # ------------------------------------------------------------------ results

    @_user_errors
    def results(self, password, test_id, request: gr.Request = None):
        self.check_admin(password, request)
        summary = summarize(self.store, self.store.get_test(test_id).id)
        test = summary.test
        lines = [f"### {test.name}", f"{PROTOCOLS[test.protocol]} - {summary.listeners} listener(s) started, "
                 f"{summary.finished} finished, {summary.answers} answer(s)."] + [f"*{n}*" for n in summary.notes]
        tables = list(summary.tables.items())[:2]
        frames = [gr.Dataframe(value=_frame(rows), label=title, visible=True) for title, rows in tables]
        frames += [gr.Dataframe(value=None, visible=False) for _ in range(2 - len(frames))]
        csv = export_csv(self.store, test.id, self.exports.path(f"{_slug(test.name)}-answers.csv"))
        return ("\n\n".join(lines), *frames, results_figure(summary) if summary.answers else None, str(csv))


def _pcm(path: Path) -> tuple[int, object]:
    """A stored stimulus as gradio's ``(rate, int16 (samples, channels))`` (never peak-normalized)."""
    y, sr = load_audio(path)
    return sr, to_pcm16(y)


def _frame(rows: list[dict]):
    """A results table for display: p-values to 3 significant digits, other numbers to 3 decimals."""
    import pandas as pd

    frame = pd.DataFrame(rows)
    if "p_value" in frame:
        frame["p_value"] = [f"{p:.3g}" for p in frame["p_value"]]
    return frame.round(3)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "test"


# ---------------------------------------------------------------------- layout


def _listen_tab(h: ListeningHandlers) -> gr.Dropdown:
    c = h.c
    gr.Markdown(_INTRO)
    with gr.Row():
        test = gr.Dropdown(label="Test", choices=[], interactive=True, scale=2, elem_id="listen-test")
        name = gr.Textbox(label="Your name", max_length=80, scale=2, elem_id="listen-name")
        start = gr.Button("Start / continue", variant="primary", scale=1, elem_id="listen-start")
    c["status"] = gr.Markdown(elem_id="listen-status")
    c["session"] = gr.State(None)
    with gr.Column(visible=False) as c["trial"]:
        c["reference"] = gr.Audio(label="Reference", visible=False, **_PLAYER)
        with gr.Row():
            c["a"] = gr.Audio(label="A", elem_id="player-a", **_PLAYER)
            c["b"] = gr.Audio(label="B", elem_id="player-b", **_PLAYER)
            c["x"] = gr.Audio(label="X", visible=False, elem_id="player-x", **_PLAYER)
        with gr.Row(visible=False) as c["ab_row"]:
            prefer_a = gr.Button("A is better", variant="primary", elem_id="answer-a")
            prefer_none = gr.Button("No preference", elem_id="answer-none")
            prefer_b = gr.Button("B is better", variant="primary", elem_id="answer-b")
        with gr.Row(visible=False) as c["abx_row"]:
            x_is_a = gr.Button("X is A", variant="primary", elem_id="answer-x-a")
            x_is_b = gr.Button("X is B", variant="primary", elem_id="answer-x-b")
        with gr.Column(visible=False) as c["mushra"]:
            c["rows"], c["players"], c["sliders"] = [], [], []
            for k in range(SLOTS):
                with gr.Row(visible=False) as row:
                    c["players"].append(gr.Audio(label=f"Sample {k + 1}", scale=2, **_PLAYER))
                    c["sliders"].append(gr.Slider(0, 100, value=50, step=1, label=f"Rating of sample {k + 1}", scale=1))
                c["rows"].append(row)
            submit = gr.Button("Submit ratings", variant="primary", elem_id="answer-ratings")
    outputs = h.listen_outputs()
    events = dict(outputs=outputs, concurrency_limit=None, api_visibility="private")
    for trigger in (start.click, name.submit):
        trigger(h.check_start, [test, name], None, api_visibility="private").success(h.start, [test, name], **events)
    for button, response in ((prefer_a, "A"), (prefer_b, "B"), (prefer_none, "none"), (x_is_a, "A"), (x_is_b, "B")):
        button.click(_answer_with(h, response), [c["session"]], **events)
    ratings = [c["session"], *c["sliders"]]
    submit.click(h.check_ratings, ratings, None, api_visibility="private").success(
        lambda session, *scores: h.answer(session, "ratings", *scores), ratings, **events)
    return test


def _answer_with(h: ListeningHandlers, response: str):
    def answer(session: dict | None) -> dict:
        return h.answer(session, response)

    return answer


def _create_tab(h: ListeningHandlers, locked: bool):
    password = gr.Textbox(label="Admin password", type="password", visible=locked, elem_id="create-password")
    with gr.Row():
        name = gr.Textbox(label="Test name", value="Listening test", elem_id="create-name")
        protocol = gr.Radio([(label, key) for key, label in PROTOCOLS.items()], value="ab", label="Protocol",
                            elem_id="create-protocol")
    with gr.Row():
        uploads = gr.File(label="Clips to restore", file_count="multiple", file_types=["audio"], elem_id="create-clips")
        references = gr.File(label="Clean references (optional; same file name as the clip, or name_clean.wav)",
                             file_count="multiple", file_types=["audio"], elem_id="create-references")
    examples = [clip.name for clip in bundled_clips()]
    bundled = gr.CheckboxGroup(examples, label="Bundled example clips", visible=bool(examples))
    names = [m.name for m in list_methods()]
    methods = gr.CheckboxGroup(names, label="Methods (default parameters)", elem_id="create-methods",
                               value=[n for n in names if n == "passthrough"])
    chains = gr.Textbox(label="More methods or chains, comma separated", placeholder="spectral_gating+sbr, unet",
                        elem_id="create-chains")
    with gr.Row():
        lufs = gr.Number(DEFAULT_LUFS, label="Playback loudness, LUFS", minimum=-60, maximum=-5)
        seconds = gr.Number(DEFAULT_SECONDS, label="Clip length, s (0 = whole clip)", minimum=0)
    button = gr.Button("Render and create test", variant="primary", elem_id="create-button")
    report = gr.Markdown(elem_id="create-report")
    gr.Markdown("MUSHRA adds a hidden reference and a 3.5 kHz low-pass anchor for clips with a clean reference. "
                "All versions of a clip are loudness-matched and resampled to one rate before they are stored.")
    return button.click(h.create, [password, name, protocol, uploads, references, bundled, methods, chains, lufs,
                                   seconds], report, api_name="listening_create")


def _results_tab(h: ListeningHandlers, locked: bool) -> gr.Dropdown:
    password = gr.Textbox(label="Admin password", type="password", visible=locked, elem_id="results-password")
    with gr.Row():
        test = gr.Dropdown(label="Test", choices=[], interactive=True, scale=3, elem_id="results-test")
        show = gr.Button("Show results", variant="primary", scale=1, elem_id="results-show")
    summary = gr.Markdown(elem_id="results-summary")
    first = gr.Dataframe(visible=False, interactive=False, elem_id="results-table-1")
    second = gr.Dataframe(visible=False, interactive=False, elem_id="results-table-2")
    chart = gr.Plot(label="Chart")
    csv = gr.File(label="Raw answers (CSV)", interactive=False, elem_id="results-csv")
    show.click(h.results, [password, test], [summary, first, second, chart, csv], api_name="listening_results")
    return test
