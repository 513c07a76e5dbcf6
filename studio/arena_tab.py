"""The app's "Arena" tab: visitors vote on blind pairs, everyone reads the leaderboard.

``build_arena_tab(listening, rules=...)`` adds three sub-tabs to the current ``gr.Blocks``: *Vote*
(the listening test's synchronized trial player on pairs of :class:`restoration.listening.arena.Arena`),
*Leaderboard* (scores, intervals, per-clip table, chart, CSV) and *Operate* (open, close, reset, the
pool of listening tests; behind the listening test's admin password and its throttle). The named
endpoints ``arena_next``, ``arena_played``, ``arena_vote`` and ``arena_leaderboard`` go through the same
:class:`Arena` as the page; this module only converts at the edge and names the peer of each request
(:func:`studio.guard.client_id`: the socket peer, or the forwarded client behind a trusted proxy).
"""

from __future__ import annotations

import argparse
import atexit
import functools
import secrets
import shutil
import tempfile
from pathlib import Path

import gradio as gr
from gradio.utils import get_upload_folder

from restoration import RestorationError
from restoration.listening.arena import Arena, ArenaRules
from restoration.listening.leaderboard import board_figure, export_votes_csv, leaderboard
from studio import peers
from studio.guard import ScratchFolder, client_id, handled, scrub
from studio.listening_tab import ListeningHandlers, file_data, player_report, trial_player

_INTRO = ("Two versions of the same clip, restored by two different systems, play in one player: switch between "
          "A and B (keys A, B; Space plays or pauses) at the same position. Play both, then pick the better one "
          "or *No preference*. Only after your vote do you learn which systems they were. One vote per pair.")
_IDLE = {"done": True, "message": "Press Start to hear your first pair.", "visitor": "", "reveal": None}
_ACTIONS = {"open": "arena_open", "close": "arena_close", "reset": "arena_reset", "add": "arena_pool_add",
            "remove": "arena_pool_remove"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The app's flags for the arena's vote rules (defaults: :class:`ArenaRules`)."""
    rules = ArenaRules()
    parser.add_argument("--arena-min-vote-s", type=float, default=rules.min_vote_s, metavar="S",
                        help=f"seconds between showing a pair and accepting its vote ({rules.min_vote_s:g})")
    parser.add_argument("--arena-visitor-votes-per-min", type=int, default=rules.visitor_votes_per_min, metavar="N",
                        help=f"votes per visitor per minute ({rules.visitor_votes_per_min})")
    parser.add_argument("--arena-peer-votes-per-min", type=int, default=rules.peer_votes_per_min, metavar="N",
                        help=f"votes per network address per minute ({rules.peer_votes_per_min})")
    parser.add_argument("--arena-peer-visitors-per-hour", type=int, default=rules.peer_visitors_per_hour,
                        metavar="N", help=f"new visitors per network address per hour ({rules.peer_visitors_per_hour})")


def rules_from_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> ArenaRules:
    """The rules the flags of :func:`add_arguments` ask for; a bad value stops the app with one line."""
    try:
        return ArenaRules(min_vote_s=args.arena_min_vote_s, visitor_votes_per_min=args.arena_visitor_votes_per_min,
                          peer_votes_per_min=args.arena_peer_votes_per_min,
                          peer_visitors_per_hour=args.arena_peer_visitors_per_hour)
    except RestorationError as exc:
        parser.exit(2, f"error: {exc}\n")


def build_arena_tab(listening: ListeningHandlers | None, *, rules: ArenaRules | None = None) -> None:
    """Add the arena to the current Blocks context, over the listening test's database and admin password."""
    if listening is None:
        gr.Markdown("**The arena is unavailable:** the listening database cannot be used (the server's console says more).")
        return
    try:
        arena = Arena(listening.store, Path(get_upload_folder()) / f"arena-{secrets.token_urlsafe(9)}", rules=rules)
    except RestorationError as exc:
        print(f"The arena is unavailable: {exc}", flush=True)
        gr.Markdown(f"**The arena is unavailable:** {scrub(str(exc))}")
        return
    atexit.register(arena.close)
    add_components(ArenaHandlers(arena, listening))


def _user_errors(fn):
    return handled(f"/arena_{fn.__name__}")(fn)


class ArenaHandlers:
    """The arena's event handlers; admin checks are the listening test's (one password, one throttle)."""

    def __init__(self, arena: Arena, listening: ListeningHandlers):
        self.arena = arena
        self.listening = listening
        exports = tempfile.mkdtemp(prefix="arena-exports-")
        atexit.register(shutil.rmtree, exports, ignore_errors=True)
        self.exports = ScratchFolder(exports, max_age_s=3600.0)

    # ------------------------------------------------------------------ visitors (browser and API)

    @_user_errors
    def next(self, visitor: str | None, request: gr.Request = None) -> dict:
        """The next pair for ``visitor`` (empty: a new visitor, whose token is in the reply's ``visitor``)."""
        return self.arena.next(visitor, client_id(request)).payload(file_data)

    @_user_errors
    def played(self, visitor: str | None, token: str | None, slot: str | None, seconds: float | None,
               request: gr.Request = None) -> dict:
        """Report that version ``slot`` (A or B) of the pair ``token`` was heard for ``seconds``
        (within the client's ``played`` rate of :mod:`studio.peers`, as in listening tests)."""
        peers.limit("played", request)
        return self.arena.played(token, slot, float(seconds or 0.0), visitor=str(visitor or ""))

    @_user_errors
    def vote(self, visitor: str | None, token: str | None, choice: str | None, request: gr.Request = None) -> dict:
        """Vote ``A``, ``B`` or ``tie`` on the pair ``token``: the next pair, whose message reveals this one's systems."""
        return self.arena.vote(visitor, token, choice, client_id(request)).payload(file_data)

    @_user_errors
    def start(self, visitor: str | None, request: gr.Request = None):
        """The page's Start: the next pair of the visitor this browser remembers (a new one after a reset)."""
        view = self.next(visitor if self.arena.knows(visitor) else "", request)
        return view, view["visitor"]

    @_user_errors
    def vote_from_player(self, visitor: str | None, evt: gr.EventData, request: gr.Request = None):
        """The trial player's ``submit`` event ``{token, answer}``; answer ``none`` is a tie."""
        data = getattr(evt, "_data", None) or {}
        view = self.vote(visitor, data.get("token"), data.get("answer"), request)
        return view, view["visitor"]

    def played_from_player(self, report: dict, request: gr.Request | None = None) -> dict:
        """The player's play report ``{token, slot, seconds, position}`` (a component server function)."""
        return player_report(self.arena.played, report, request)

    # ------------------------------------------------------------------ leaderboard (public)

    @_user_errors
    def leaderboard(self):
        """Summary, table by system, table by clip and system, chart and CSV of every vote."""
        votes = self.arena.votes()
        board = leaderboard(votes)
        lines = [f"### Arena leaderboard: {board.votes} vote(s)", *[f"*{n}*" for n in board.notes]]
        if board.rows:
            lines.append("Score: Bradley-Terry strength on the Elo scale (1000 = average; +400 = preferred 10:1), "
                         "with its 95 % bootstrap interval.")
        csv = export_votes_csv(votes, self.exports.path("arena-votes.csv"))
        return ("\n\n".join(lines), _frame(board.rows), _frame(board.clips), board_figure(board), str(csv))

    # ------------------------------------------------------------------ operator

    @_user_errors
    def manage(self, action: str, password: str | None, tests: list[str] | None, confirm: bool,
               request: gr.Request = None):
        """Open, close, reset, add tests to the pool or remove them; returns the arena's status and the test list."""
        self.listening.check_admin(password, request)
        chosen = [t for t in (tests or []) if t]
        if action == "open":
            self.arena.set_open(True)
        elif action == "close":
            self.arena.set_open(False)
        elif action == "reset":
            if not confirm:
                raise gr.Error("tick 'really reset' first: resetting deletes every vote", print_exception=False)
            self.arena.reset()
        elif action == "add":
            self.arena.add_to_pool(chosen)
        else:
            self.arena.remove_from_pool(chosen)
        return self.status(), gr.Checkbox(value=False)

    def status(self) -> str:
        pool = self.arena.pool()
        names = ", ".join(f"{t.name} (`{t.id}`)" for t in pool) or "empty"
        pairs = sum(len(c.pairs()) for c in self.arena.contests())
        state = "open" if self.arena.is_open() else "closed"
        return f"The arena is **{state}**: {len(self.arena.votes())} vote(s); pool: {names}; {pairs} pair(s) to vote on."

    def test_choices(self):
        tests = [(f"{t.name} - {t.protocol}, {t.created_at[:16].replace('T', ' ')}", t.id)
                 for t in self.listening.store.list_tests() if t.status != "rendering"]
        return gr.Dropdown(choices=tests, value=[])


def _frame(rows: list[dict]):
    import pandas as pd

    return pd.DataFrame(rows).round(3) if rows else None


# ---------------------------------------------------------------------- layout


def add_components(h: ArenaHandlers) -> None:
    with gr.Tabs():
        with gr.Tab("Vote"):
            _vote_tab(h)
        with gr.Tab("Leaderboard"):
            _leaderboard_tab(h)
        with gr.Tab("Operate"):
            _operate_tab(h)


def _vote_tab(h: ArenaHandlers) -> None:
    gr.Markdown(_INTRO)
    visitor = gr.BrowserState("", storage_key="restoration-arena-visitor")  # kept across reloads
    start = gr.Button("Start", variant="primary", elem_id="arena-start")
    player = trial_player(h, elem_id="arena-player", label="Arena", value=_IDLE)
    # The scripted visitor's endpoints (hidden in the page): the browser uses the same Arena.
    with gr.Row(visible=False):
        visitor_box, token, choice, slot = (gr.Textbox(label=name) for name in ("visitor", "token", "choice", "slot"))
        seconds, played = gr.Number(label="seconds"), gr.JSON(label="played")
        next_api, played_api, vote_api = gr.Button("next"), gr.Button("played"), gr.Button("vote")
    start.click(h.start, visitor, [player, visitor], api_visibility="private", concurrency_limit=None)
    player.submit(h.vote_from_player, visitor, [player, visitor], api_visibility="private", concurrency_limit=None)
    next_api.click(h.next, visitor_box, player, api_name="arena_next", concurrency_limit=None)
    played_api.click(h.played, [visitor_box, token, slot, seconds], played, api_name="arena_played",
                     concurrency_limit=None)
    vote_api.click(h.vote, [visitor_box, token, choice], player, api_name="arena_vote", concurrency_limit=None)


def _leaderboard_tab(h: ArenaHandlers) -> None:
    refresh = gr.Button("Show the leaderboard", variant="primary", elem_id="arena-refresh")
    summary = gr.Markdown(elem_id="arena-summary")
    table = gr.Dataframe(interactive=False, label="Systems", elem_id="arena-table")
    clips = gr.Dataframe(interactive=False, label="By clip", elem_id="arena-clips")
    chart = gr.Plot(label="Scores with 95 % intervals")
    csv = gr.File(label="Every vote (CSV)", interactive=False, elem_id="arena-csv")
    refresh.click(h.leaderboard, None, [summary, table, clips, chart, csv], api_name="arena_leaderboard",
                  concurrency_limit=4)


def _operate_tab(h: ArenaHandlers) -> None:
    gr.Markdown("Build listening tests in *Listening test → Create test* (any protocol; bundled examples, uploads, "
                "MusicGen generations saved and uploaded, registry methods, chains, plugin methods), add them to "
                "the pool, then open the arena. MUSHRA's hidden reference and anchor are left out.")
    password = gr.Textbox(label="Admin password", type="password", visible=bool(h.listening.admin_password),
                          elem_id="arena-password")
    tests = gr.Dropdown(label="Listening tests", choices=[], multiselect=True, interactive=True, allow_custom_value=True,
                        elem_id="arena-tests")
    with gr.Row():
        refresh = gr.Button("Refresh list", elem_id="arena-refresh-tests")
        add = gr.Button("Add to pool", elem_id="arena-add")
        remove = gr.Button("Remove from pool", elem_id="arena-remove")
        open_ = gr.Button("Open", variant="primary", elem_id="arena-open")
        close = gr.Button("Close", elem_id="arena-close")
        confirm = gr.Checkbox(False, label="really reset", elem_id="arena-confirm-reset")
        reset = gr.Button("Reset (delete every vote)", variant="stop", elem_id="arena-reset")
    status = gr.Markdown(elem_id="arena-status")
    for action, button in {"add": add, "remove": remove, "open": open_, "close": close, "reset": reset}.items():
        button.click(functools.partial(h.manage, action), [password, tests, confirm], [status, confirm],
                     api_name=_ACTIONS[action])
    refresh.click(h.test_choices, None, tests, queue=False, api_visibility="private")
    root = gr.context.Context.root_block
    root.load(h.test_choices, None, tests, queue=False, api_visibility="private")
    root.load(h.status, None, status, queue=False, api_visibility="private")
