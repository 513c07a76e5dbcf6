"""Start ``python app.py`` on a free localhost port for browser and client tests.

>>> url = start_app(tmp_path, db=str(tmp_path / "listening.sqlite"), admin_password="pw")
>>> ...                      # drive http://127.0.0.1:PORT/ with Playwright or gradio_client
>>> stop_app(url)            # or let the interpreter's exit stop it; ``running_app`` does both

Each server is a subprocess with its own gradio cache under ``tmp_path``; its log is
``tmp_path/app-PORT.log`` and is quoted when the app fails to start.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STARTUP_TIMEOUT_S = 180.0
_servers: dict[str, subprocess.Popen] = {}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_app(tmp_path: str | os.PathLike, *, env: dict[str, str] | None = None, **flags) -> str:
    """Launch the app and wait until it answers; returns its base URL (ending in ``/``).

    ``flags`` become command-line options: ``db="x.sqlite"`` -> ``--db x.sqlite``,
    ``admin_password="pw"`` -> ``--admin-password pw``; ``True`` gives a bare flag. ``env`` adds
    environment variables (e.g. ``MUSICGEN_MODEL``). Raises RuntimeError with the log's tail when the
    process exits or does not answer within three minutes.
    """
    tmp_path = Path(tmp_path)
    tmp_path.mkdir(parents=True, exist_ok=True)
    port = free_port()
    args = [sys.executable, str(ROOT / "app.py"), "--host", "127.0.0.1", "--port", str(port)]
    for name, value in flags.items():
        if value is None or value is False:
            continue
        args.append("--" + name.replace("_", "-"))
        if value is not True:
            args.append(str(value))
    environment = {**os.environ, "GRADIO_TEMP_DIR": str(tmp_path / "gradio-cache"), "GRADIO_ANALYTICS_ENABLED": "False",
                   "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "MPLBACKEND": "Agg", **(env or {})}
    log_path = tmp_path / f"app-{port}.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(args, cwd=ROOT, env=environment, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    _servers[url] = process
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            with urllib.request.urlopen(url + "config", timeout=5) as response:
                if response.status == 200:
                    return url
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.5)
    stop_app(url)
    tail = log_path.read_text(errors="replace")[-3000:]
    raise RuntimeError(f"the app did not start on {url} (exit code {process.returncode}); log:\n{tail}")


def pid_of(url: str) -> int:
    """The process id of the server started for ``url`` (a test may kill it with SIGKILL)."""
    return _servers[url].pid


def stop_app(url: str) -> None:
    """Stop the server started for ``url`` (terminate, then kill after 10 s); unknown URLs are ignored."""
    process = _servers.pop(url, None)
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


@contextlib.contextmanager
def running_app(tmp_path: str | os.PathLike, **flags):
    """``with running_app(tmp_path) as url:`` starts the app and stops it afterwards."""
    url = start_app(tmp_path, **flags)
    try:
        yield url
    finally:
        stop_app(url)


@atexit.register
def _stop_all() -> None:
    for url in list(_servers):
        stop_app(url)
