"""The app's "Listening test" tab: blind A/B, ABX and MUSHRA tests stored in SQLite.

``build_listening_tab(db_path=..., admin_password=...)`` adds three sub-tabs to the current
``gr.Blocks``: *Listen* (open to everyone: a name, then one trial at a time in the synchronized
trial player of ``studio/static/trial_player.*``), *Create test* and *Results* (both behind the
admin password when one is set). Listeners' requests go through
:class:`restoration.listening.ListeningService`, for the browser and for the named endpoints
``listening_join``, ``listening_played`` and ``listening_answer`` alike; this module only
converts at the edge.
"""

from __future__ import annotations

import atexit
import functools
import hmac
import re
import secrets
import shutil
import tempfile
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import gradio as gr
from gradio.utils import get_upload_folder

from restoration import RestorationError, list_methods
from restoration.conditions import describe, from_uploads
from restoration.listening import (PROTOCOLS, ListeningService, ListeningStore, build_test, bundled_clips,
                                   default_db_path, export_csv, outside_clips, pair_clips, persistence_warning,
                                   results_figure, summarize)
from restoration.listening.render import DEFAULT_LUFS, DEFAULT_SECONDS, DEFAULT_SOURCE, check_outside_files
from restoration.listening.serve import SERVED_MIME_TYPE
from studio.errors import user_errors_at
from studio.guard import ScratchFolder, Throttle, client_id, scrub
from studio import models, peers, static_text
from studio.ab_player import file_data as ab_file_data
from studio.sync_player import sync_player_head

_INTRO = ("Pick a test and enter your name (any nickname). You get one trial at a time in one player: all "
          "samples run together, and switching (keys 1–9, A, B, X, R; Space plays or pauses) keeps the position. "
          "Play every sample, then answer. Every answer is saved the moment you give it: come back with the same "
          "name to continue where you left off.")
#: Uploaded own files (and what their zips hold): most audio files and bytes per test.
OWN_MAX_FILES = 300
OWN_MAX_BYTES = 1024**3
#: Skipped files named in a summary before "and N more".
OWN_MAX_SKIPPED_SHOWN = 10
#: Opens the "Listening test" tab when the page was opened with ``?test=<id>`` (a shared link).
_OPEN_SHARED_TEST_JS = """() => {
  if (!new URLSearchParams(window.location.search).get('test')) return;
  const open = () => {
    const tab = Array.from(document.querySelectorAll('button[role=tab]')).find((b) => b.textContent.trim() === 'Listening test');
    if (tab) tab.click(); else setTimeout(open, 200);
  };
  open();
}"""


def build_listening_tab(*, db_path: str | None, admin_password: str | None) -> "ListeningHandlers | None":
    """Add the listening-test components to the current Blocks context (nothing is launched); returns
    their handlers (the arena shares their store and admin check), or None when the database is unusable.

    Prints where the database is, and a warning when it does not survive a restart.
    """
    path = Path(db_path).expanduser() if db_path else default_db_path()
    try:
        store = ListeningStore(path)
    except RestorationError as exc:  # the page gets no server path; the console gets the whole message
        print(f"Listening tests are unavailable: {exc}", flush=True)
        gr.Markdown(f"**Listening tests are unavailable:** {scrub(str(exc))} (the server's console says more).")
        return None
    warning = persistence_warning(store.path)
    print(f"Listening tests: database {store.path}" + (f"\nWARNING: {warning}" if warning else ""), flush=True)
    handlers = ListeningHandlers(store, admin_password)
    add_components(handlers, warning)
    return handlers


def _user_errors(fn):
    """Library and database errors become a one-line, path-free ``gr.Error`` whose whole text shows,
    logged (:func:`studio.errors.user_errors_at`)."""
    return user_errors_at(f"/listening_{fn.__name__}")(fn)


def file_data(path: Path) -> dict:
    """A gradio file payload for one served stimulus copy (its URL goes into the trial player's value)."""
    return ab_file_data(path, mime_type=SERVED_MIME_TYPE)


class ListeningHandlers:
    """The event handlers, bound to one store and one listening service."""

    def __init__(self, store: ListeningStore, admin_password: str | None, service: ListeningService | None = None):
        self.store = store
        self.admin_password = admin_password or ""
        if service is None:
            # Inside gradio's cache folder the files are served under their own (random) names;
            # gradio would otherwise copy them into a folder named after their content hash.
            service = ListeningService(store, Path(get_upload_folder()) / f"listening-{secrets.token_urlsafe(9)}")
            atexit.register(service.close)
        self.service = service
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

    def test_choices(self, selected: str | None = None):
        ready = [(f"{t.name} ({t.created_at[:10]})", t.id) for t in self.store.list_tests(status="ready")]
        every = [(f"{t.name} - {t.protocol}, {t.status}, {t.created_at[:16].replace('T', ' ')}", t.id)
                 for t in self.store.list_tests()]
        ready_ids = [value for _, value in ready]
        listen = selected if selected in ready_ids else ready_ids[0] if len(ready_ids) == 1 else None
        every_ids = [value for _, value in every]
        return (gr.Dropdown(choices=ready, value=listen),
                gr.Dropdown(choices=every, value=selected if selected in every_ids else every_ids[0] if every else None))

    def on_load(self, request: gr.Request):
        """Fill the test lists; a page opened with ``?test=<id>`` (a shared link) has that test chosen."""
        shared = request.query_params.get("test") if request is not None else None
        return self.test_choices(shared)

    # ------------------------------------------------------------------ listening (browser and API)

    @_user_errors
    def join(self, test: str | None, name: str | None, request: gr.Request = None) -> dict:
        """Join a test (its name or id) as ``name``: the first unanswered trial (files and an opaque token) or the end."""
        peers.limit("join", request)
        return self.service.join(test, name).payload(file_data)

    @_user_errors
    def answer(self, token: str | None, answer: str | None) -> dict:
        """Answer the trial of ``token`` (A, B, none; MUSHRA: JSON ratings by sample): the next trial or the end."""
        return self.service.answer(token, answer).payload(file_data)

    @_user_errors
    def played(self, token: str | None, slot: str | None, seconds: float | None, request: gr.Request = None) -> dict:
        """Report that sample ``slot`` of the trial of ``token`` was heard for ``seconds``; returns seconds per sample."""
        peers.limit("played", request)
        return self.service.played(token, str(slot or ""), float(seconds or 0.0))

    @_user_errors
    def answer_from_player(self, evt: gr.EventData) -> dict:
        """The trial player's ``submit`` event: ``{token, answer}``."""
        data = getattr(evt, "_data", None) or {}
        return self.service.answer(data.get("token"), data.get("answer")).payload(file_data)

    def played_from_player(self, report: dict, request: gr.Request | None = None) -> dict:
        """The trial player's play report ``{token, slot, seconds, position}`` (a component server function)."""
        return player_report(self.service.played, report, request)

    # ------------------------------------------------------------------ creating

    @_user_errors
    def create(self, password, name, protocol, uploads, references, examples, methods, chains, target_lufs,
               max_seconds, practice, own_files=None, own_with_methods=False, own_source=DEFAULT_SOURCE,
               request: gr.Request = None, progress=gr.Progress()):
        """Render and store a test of clips restored by the chosen methods, or of the operator's own
        files (``own_files``: ``<clip>.<condition>.<ext>`` files or zips of them), to which the chosen
        methods are added, rendered from each clip's ``own_source`` file, when ``own_with_methods``."""
        self.check_admin(password, request)
        chosen = list(methods or []) + [m.strip() for m in str(chains or "").split(",") if m.strip()]
        if own_files:
            if uploads or examples:
                raise gr.Error("make a test either of clips to restore or of your own files, not both",
                               print_exception=False)
            with tempfile.TemporaryDirectory(prefix="listening-own-") as scratch:
                collection = from_uploads(own_files, scratch, max_files=OWN_MAX_FILES, max_bytes=OWN_MAX_BYTES)
                chosen = chosen if own_with_methods else []
                clips = outside_clips(collection, source=str(own_source or DEFAULT_SOURCE).strip() if chosen else None)
                test_id = self._build(name, protocol, clips, chosen, target_lufs, max_seconds, practice, progress)
            what = f"{own_summary(collection)}{'; methods ' + ', '.join(chosen) if chosen else ''}"
        else:
            clips = pair_clips(uploads or [], references or [])
            bundled = {clip.name: clip for clip in bundled_clips()}
            clips += [bundled[n] for n in examples or [] if n in bundled]
            if not clips:
                raise gr.Error("upload at least one clip, pick a bundled example or add your own files",
                               print_exception=False)
            test_id = self._build(name, protocol, clips, chosen, target_lufs, max_seconds, practice, progress)
            what = f"{len(clips)} clip(s), {len(chosen)} method(s)"
        test = self.store.get_test(test_id)
        trials = len(self.store.trials(test_id))
        return (f"Created **{test.name}** ({PROTOCOLS[test.protocol]}): {what}, {trials} trial(s) per listener"
                f"{', after a practice trial' if practice else ''}. It is open in the *Listen* tab now; its id is "
                f"`{test.id}`.")

    def _build(self, name, protocol, clips, methods, target_lufs, max_seconds, practice, progress) -> str:
        for method in methods:  # a model that is neither here nor downloadable: refused now, not after the hub's retries
            models.check_restore(method, {})
        progress(0.0, desc="rendering")
        return build_test(self.store, name=name, protocol=protocol, clips=clips, methods=methods,
                          target_lufs=float(target_lufs if target_lufs is not None else DEFAULT_LUFS),
                          max_seconds=float(max_seconds or 0), practice=bool(practice),
                          progress=lambda d, t: progress(d / t, desc="rendering"))

    @_user_errors
    def check_own_files(self, password, protocol, own_files, request: gr.Request = None) -> str:
        """What uploaded own files hold, in one line, with the files skipped and those a test could not
        use; asks for the admin password first when one is set (the zips are extracted to look inside)."""
        if not own_files:
            return ""
        if self.admin_password and not password:
            return "Enter the admin password above to check these files."
        self.check_admin(password, request)
        with tempfile.TemporaryDirectory(prefix="listening-own-") as scratch:
            collection = from_uploads(own_files, scratch, max_files=OWN_MAX_FILES, max_bytes=OWN_MAX_BYTES)
            clips = outside_clips(collection)
            try:
                check_outside_files(clips, [], with_reference=protocol == "mushra")
                usable = "All of them can be used."
            except RestorationError as exc:
                usable = f"**Not usable as they are:** {scrub(str(exc))}"
        return f"{own_summary(collection)}. {usable}"

    # ------------------------------------------------------------------ results and management

    @_user_errors
    def results(self, password, test_id, post_screening, request: gr.Request = None):
        self.check_admin(password, request)
        summary = summarize(self.store, self.store.find_test(test_id).id, post_screening=bool(post_screening))
        test = summary.test
        lines = [f"### {test.name}",
                 f"{PROTOCOLS[test.protocol]}, **{test.status}** — **{summary.finished} of {summary.listeners} "
                 f"listener(s) finished**, {summary.answers} answer(s).",
                 f"Link that opens this test: {share_link(request, test.id)}"] + [f"*{n}*" for n in summary.notes]
        tables = list(summary.tables.items())[:2]
        frames = [gr.Dataframe(value=_frame(rows), label=title, visible=True) for title, rows in tables]
        frames += [gr.Dataframe(value=None, visible=False) for _ in range(2 - len(frames))]
        csv = export_csv(self.store, test.id, self.exports.path(f"{_slug(test.name)}-answers.csv"))
        return ("\n\n".join(lines), *frames, results_figure(summary) if summary.answers else None, str(csv))

    @_user_errors
    def manage(self, action: str, password, test_id, confirm_delete, request: gr.Request = None):
        """Close, reopen or delete a test; returns a message and the refreshed test lists."""
        self.check_admin(password, request)
        test = self.store.find_test(test_id)
        if action == "delete":
            if not confirm_delete:
                raise gr.Error("tick 'really delete' first: deleting removes every answer of the test",
                               print_exception=False)
            self.store.delete_test(test.id)
            message = f"Deleted **{test.name}** and all its answers."
        else:
            self.store.set_status(test.id, "closed" if action == "close" else "ready")
            message = f"**{test.name}** is {'closed: no new answers' if action == 'close' else 'open again'}."
        return (message, *self.test_choices(None if action == "delete" else test.id), gr.Checkbox(value=False))


def player_report(record, report: dict, request: gr.Request | None = None) -> dict:
    """Pass the trial player's play report ``{token, slot, seconds, position}`` to
    ``record(token, slot, seconds, position_s)`` within the client's ``played`` rate
    (:func:`studio.peers.limit`): ``{"played": ...}``, or ``{"error": line}`` (the player's server
    functions return errors as data)."""
    try:
        peers.limit("played", request)
        report = report if isinstance(report, dict) else {}
        return {"played": record(report.get("token"), str(report.get("slot", "")), float(report.get("seconds") or 0.0),
                                 float(report.get("position") or 0.0))}
    except gr.Error as exc:
        return {"error": exc.message}
    except (RestorationError, TypeError, ValueError) as exc:
        return {"error": scrub(str(exc))}


def own_summary(collection) -> str:
    """One line of Markdown: clips, conditions, references and the files skipped with their reasons."""
    skipped = [str(item) for item in collection.skipped[:OWN_MAX_SKIPPED_SHOWN]]
    more = len(collection.skipped) - len(skipped)
    return describe(collection) + (f" ({'; '.join(skipped)}{f'; and {more} more' if more > 0 else ''})"
                                   if skipped else "")


def share_link(request: gr.Request | None, test_id: str) -> str:
    """The page address (from the request's Referer) with ``?test=<id>``, or just the query."""
    page = (request.headers.get("referer") if request is not None else None) or ""
    parts = urlsplit(page)
    if not parts.scheme:
        return f"`?test={test_id}` (append to the app's address)"
    return urlunsplit((parts.scheme, parts.netloc, parts.path, f"test={test_id}", ""))


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


def add_components(handlers: ListeningHandlers, warning: str | None = None) -> None:
    """The three sub-tabs and their events, wired to ``handlers``, in the current Blocks context."""
    locked = bool(handlers.admin_password)
    with gr.Tabs():
        with gr.Tab("Listen"):
            listen_test = _listen_tab(handlers)
        with gr.Tab("Create test"):
            if warning:
                gr.Markdown(f"⚠️ {warning}")
            created = _create_tab(handlers, locked)
        with gr.Tab("Results"):
            results_test, manage = _results_tab(handlers, locked)
    for action, (button, inputs, outputs) in manage.items():
        button.click(functools.partial(handlers.manage, action), inputs, [outputs[0], listen_test, results_test,
                                                                        outputs[1]], api_visibility="private")
    root = gr.context.Context.root_block
    root.load(handlers.on_load, None, [listen_test, results_test], queue=False, api_visibility="private")
    root.load(None, None, None, js=_OPEN_SHARED_TEST_JS, api_visibility="private")
    created.success(handlers.test_choices, None, [listen_test, results_test], queue=False, api_visibility="private")


def trial_player(h, *, elem_id: str = "trial-player", label: str = "Trial", value: dict | None = None) -> gr.HTML:
    """The synchronized trial player: its script and style are ``studio/static/trial_player.js/.css``
    (a UI over the shared engine ``static/sync_player.js``, see :mod:`studio.sync_player`); the script
    reports plays through the server function ``played`` to ``h.played_from_player``. Several may share
    a page (the arena has one), each under its own ``elem_id``."""

    def played(report: dict, request: gr.Request = None) -> dict:
        return h.played_from_player(report, request)

    return gr.HTML(value=value, html_template='<div class="tp"></div>',
                   css_template=static_text("trial_player.css"),
                   js_on_load=static_text("trial_player.js"), head=sync_player_head(),
                   server_functions=[played], elem_id=elem_id, label=label)


def _listen_tab(h: ListeningHandlers) -> gr.Dropdown:
    gr.Markdown(_INTRO)
    with gr.Row():
        test = gr.Dropdown(label="Test", choices=[], interactive=True, allow_custom_value=True, scale=2,
                           elem_id="listen-test")
        name = gr.Textbox(label="Your name", max_length=80, scale=2, elem_id="listen-name")
        start = gr.Button("Start / continue", variant="primary", scale=1, elem_id="listen-start")
    player = trial_player(h)
    # The scripted listener's endpoints (hidden in the page): the browser uses the same service.
    with gr.Row(visible=False):
        token = gr.Textbox(label="token")
        answer = gr.Textbox(label="answer")
        slot = gr.Textbox(label="slot")
        seconds = gr.Number(label="seconds")
        played = gr.JSON(label="played")
        answer_api = gr.Button("answer")
        played_api = gr.Button("played")
    start.click(h.join, [test, name], player, api_name="listening_join", concurrency_limit=None)
    name.submit(h.join, [test, name], player, api_visibility="private", concurrency_limit=None)
    answer_api.click(h.answer, [token, answer], player, api_name="listening_answer", concurrency_limit=None)
    played_api.click(h.played, [token, slot, seconds], played, api_name="listening_played", concurrency_limit=None)
    player.submit(h.answer_from_player, None, player, api_visibility="private", concurrency_limit=None)
    return test


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
    with gr.Accordion("Or: your own files (outputs of other systems)", open=False):
        gr.Markdown("Name them `<clip>.<condition>.<ext>` (`song.audiosr.wav`, `song.apollo.flac`), with "
                    "`<clip>.reference.<ext>` as the clean reference (MUSHRA), or upload a zip of them. Every "
                    "file is a condition of its clip; listeners never see the names.")
        own = gr.File(label="Your own files or a zip", file_count="multiple", file_types=["audio", ".zip"],
                      elem_id="create-own-files")
        own_report = gr.Markdown(elem_id="create-own-summary")
        with gr.Row():
            own_with_methods = gr.Checkbox(False, label="Also render the methods chosen below from each clip's "
                                                        "source file", elem_id="create-own-methods")
            own_source = gr.Textbox(DEFAULT_SOURCE, label="Source condition (<clip>.<source>.<ext>)", max_length=64,
                                    elem_id="create-own-source")
    own.change(h.check_own_files, [password, protocol, own], own_report, api_visibility="private")
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
        practice = gr.Checkbox(False, label="Start with a practice trial (not counted)", elem_id="create-practice")
    button = gr.Button("Render and create test", variant="primary", elem_id="create-button")
    report = gr.Markdown(elem_id="create-report")
    gr.Markdown("MUSHRA adds a hidden reference and a 3.5 kHz low-pass anchor for clips with a clean reference. "
                "All versions of a clip are loudness-matched and resampled to one rate before they are stored.")
    return button.click(h.create, [password, name, protocol, uploads, references, bundled, methods, chains, lufs,
                                   seconds, practice, own, own_with_methods, own_source], report,
                        api_name="listening_create")


def _results_tab(h: ListeningHandlers, locked: bool):
    password = gr.Textbox(label="Admin password", type="password", visible=locked, elem_id="results-password")
    with gr.Row():
        test = gr.Dropdown(label="Test", choices=[], interactive=True, allow_custom_value=True, scale=3,
                           elem_id="results-test")
        screening = gr.Checkbox(False, label="Post-screen listeners (ITU-R BS.1534-3, MUSHRA)", scale=1,
                                elem_id="results-screening")
        show = gr.Button("Show results", variant="primary", scale=1, elem_id="results-show")
    summary = gr.Markdown(elem_id="results-summary")
    first = gr.Dataframe(visible=False, interactive=False, elem_id="results-table-1")
    second = gr.Dataframe(visible=False, interactive=False, elem_id="results-table-2")
    chart = gr.Plot(label="Chart")
    csv = gr.File(label="Raw answers (CSV)", interactive=False, elem_id="results-csv")
    show.click(h.results, [password, test, screening], [summary, first, second, chart, csv],
               api_name="listening_results")
    with gr.Accordion("Manage this test", open=False):
        with gr.Row():
            close = gr.Button("Close (no new answers)", elem_id="results-close")
            reopen = gr.Button("Reopen", elem_id="results-reopen")
            confirm = gr.Checkbox(False, label="really delete", elem_id="results-confirm-delete")
            delete = gr.Button("Delete test and answers", variant="stop", elem_id="results-delete")
        managed = gr.Markdown(elem_id="results-managed")
    io = ([password, test, confirm], (managed, confirm))
    return test, {"close": (close, *io), "reopen": (reopen, *io), "delete": (delete, *io)}
