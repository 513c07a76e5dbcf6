"""Restoration studio: generate music with MusicGen, restore it, and compare before and after.

``python app.py [--host 127.0.0.1] [--port 7860] [--share] [--db PATH] [--models-dir DIR] [--max-duration S]
[--max-upload-mb MB] [--trusted-proxies LIST] [--rate-limits LIST] [--arena-min-vote-s S ...]`` (admin password: env
``RESTORATION_ADMIN_PASSWORD``)

``build_ui()`` builds the Gradio app without launching it; ``main()`` parses the flags, launches,
warms the app up in the background and prints where everything is. The UI lives in ``studio/``;
clients pick models by name from the operator's catalog and never name a server path (``studio.guard``).
"""

from __future__ import annotations

import argparse
import atexit
import os
import shutil
import signal
import sys
import tempfile

import gradio as gr

from restoration.listening.arena import ArenaRules
from restoration.models.catalog import ModelCatalog
from studio import STATIC, arena_tab, guard, models, peers
from studio.examples import example_rows
from studio.listening_tab import build_listening_tab
from studio.studio_tab import DEFAULT_METHOD, build_studio_tab
from studio.warmup import start_warm_up
from studio.workbench import Workbench

STYLESHEETS = [str(STATIC / "studio.css")]


def build_ui(*, db_path: str | None = None, admin_password: str | None = None,
             workdir: str | os.PathLike | None = None, catalog: ModelCatalog | None = None,
             limits: guard.Limits | None = None, workbench: Workbench | None = None,
             arena_rules: ArenaRules | None = None) -> gr.Blocks:
    """Build the app (nothing is launched, nothing runs). ``db_path`` and ``admin_password`` go to the
    listening test; ``workdir`` holds the files the handlers write (default: a new temporary folder);
    ``catalog`` is what clients may pick (default: the built-in models); ``limits`` bound each request.
    A ``workbench`` made by the caller brings its own folder, catalog and limits; ``arena_rules`` are the
    arena's vote rules (default: :class:`ArenaRules`)."""
    if workbench is None:
        if workdir is None:
            workdir = tempfile.mkdtemp(prefix="restoration-app-")
            atexit.register(shutil.rmtree, workdir, ignore_errors=True)
        workbench = Workbench(workdir, catalog=catalog, limits=limits)
    with gr.Blocks(title="MusicGen restoration studio", delete_cache=(3600, 3600)) as demo:
        gr.Markdown("# MusicGen restoration studio\nLoad a clip (or click an example), press **Restore**, and compare: "
                    "A/B player, spectrograms, spectra and the metrics that say whether it helped.")
        with gr.Tab("Studio"):
            build_studio_tab(workbench)
        with gr.Tab("Listening test"):
            listening = build_listening_tab(db_path=db_path, admin_password=admin_password)
        with gr.Tab("Arena"):
            arena_tab.build_arena_tab(listening, rules=arena_rules)
    workbench.blocks = demo
    return demo


def launch(demo: gr.Blocks, *, host: str = "127.0.0.1", port: int | None = 7860, share: bool = False,
           quiet: bool = False, limits: guard.Limits | None = None):
    """Queue and launch ``demo`` without blocking; returns gradio's ``(app, local_url, share_url)``.

    Uploads are capped at ``limits.max_upload_bytes`` (MB = 10^6 bytes, as the app's own check) and
    rate-limited per client (:class:`studio.peers.UploadLimit`); uvicorn's forwarded-header trust is
    off, so clients are told apart by :mod:`studio.peers` alone."""
    from starlette.middleware import Middleware

    guard.install_logging()
    peers.launch_settings()
    demo.queue(default_concurrency_limit=2)
    return demo.launch(server_name=host, server_port=port, share=share, prevent_thread_lock=True, ssr_mode=False,
                       quiet=quiet, show_error=False, css_paths=STYLESHEETS,
                       max_file_size=(limits or guard.Limits()).max_upload_bytes,
                       app_kwargs={"middleware": [Middleware(peers.UploadLimit)]})


def startup_lines(url: str, *, share_url: str | None, db_path: str | None, admin_password: str | None) -> list[str]:
    """What the console says at start: the address, the listening database, whether admin pages are protected."""
    from restoration.listening import default_db_path

    lines = ["MusicGen restoration studio", f"  open:          {url}"]
    if share_url:
        lines.append(f"  public link:   {share_url}")
    lines.append(f"  listening DB:  {os.path.abspath(db_path) if db_path else default_db_path()}")
    lines.append("  admin pages:   protected by a password" if admin_password else
                 "  admin pages:   NOT protected: anyone who can open the address can create tests and read results "
                 "(set --admin-password or RESTORATION_ADMIN_PASSWORD)")
    lines.append(f"  hub downloads: {models.downloads_state()}; the Studio tab lists the models ready here")
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
                        help="interface to listen on (0.0.0.0 for every interface)")
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", 7860)))
    parser.add_argument("--share", action="store_true", help="also open a public gradio.live link")
    parser.add_argument("--db", default=os.environ.get("RESTORATION_DB"),
                        help="SQLite file of the listening tests (env RESTORATION_DB)")
    parser.add_argument("--admin-password", default=os.environ.get("RESTORATION_ADMIN_PASSWORD"),
                        help="password of the listening-test admin tabs; prefer the env RESTORATION_ADMIN_PASSWORD "
                             "(a flag shows in the process list)")
    guard.add_arguments(parser)
    peers.add_arguments(parser)
    arena_tab.add_arguments(parser)
    args = parser.parse_args(argv)
    catalog, limits = guard.from_arguments(parser, args)
    peers.from_arguments(parser, args, limits.max_upload_mb)
    arena_rules = arena_tab.rules_from_arguments(parser, args)
    workdir = tempfile.mkdtemp(prefix="restoration-app-")
    atexit.register(shutil.rmtree, workdir, ignore_errors=True)
    workbench = Workbench(workdir, catalog=catalog, limits=limits)
    start_warm_up(workbench, examples=[row[0] for row in example_rows()], method=DEFAULT_METHOD)
    demo = build_ui(db_path=args.db, admin_password=args.admin_password, workbench=workbench, arena_rules=arena_rules)
    _, url, share_url = launch(demo, host=args.host, port=args.port, share=args.share, quiet=True, limits=limits)
    print("\n".join(startup_lines(url, share_url=share_url, db_path=args.db, admin_password=args.admin_password)),
          flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # a SIGTERM exits normally: scratch files go
    demo.block_thread()


if __name__ == "__main__":
    main()
