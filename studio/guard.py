"""The app's edge toward untrusted clients: models by name only, bounded inputs, path-free messages,
logged errors, throttled admin passwords and self-cleaning scratch files.

The library and the CLI trust their user; the app does not trust its clients. Every handler goes
through :func:`handled` (one log line per handled error, a traceback for unexpected ones, one
path-free line to the client), picks models through a :class:`~restoration.models.catalog.ModelCatalog`
(:func:`restore_params`, :func:`musicgen_source`, :func:`demucs_settings`) and reads clips with
:func:`read_clip` under :class:`Limits`.
"""

from __future__ import annotations

import argparse
import functools
import logging
import math
import os
import re
import shutil
import sys
import threading
import time
import traceback
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import gradio as gr
import numpy as np

from restoration import BadInputError, Param, RestorationError, load_audio, parse_chain
from restoration.audio import MAX_SAMPLE_RATE, MIN_SAMPLE_RATE
from restoration.models.catalog import (MODELS_DIR_ENV, SHIPPED_UNET, ModelCatalog, UnknownModelError,
                                        models_dirs_from_env)
from restoration.registry import split_params

from . import budget, peers

log = logging.getLogger("restoration.app")

#: Parameters that name a server path in the library; the app offers catalog names instead.
MODEL_PARAMS = {("demucs", "model"): "demucs", ("unet", "checkpoint"): "unet"}
#: Parameters a client may never set (the library's free paths).
PATH_PARAMS = {("demucs", "repo")}
_NO_PATHS = "model folders cannot be chosen from the app; pick a model by name ({})"


# ============================================================================== limits

@dataclass(frozen=True)
class Limits:
    """What one request may ask of the server: clip length (s), upload size (MB), chain stages, the
    rate clips are resampled down to when read (Hz), Demucs shifts, overlap and segment (s: its memory),
    and the estimated seconds of work one request may take (:mod:`studio.budget`)."""

    max_seconds: float = 900.0
    max_upload_mb: float = 300.0
    max_chain: int = 4
    max_rate: int = 48000
    max_shifts: int = 2
    max_overlap: float = 0.5
    max_segment_s: float = 7.8
    max_work_s: float = 120.0

    @property
    def max_upload_bytes(self) -> int:
        """The upload cap in bytes (MB = 10^6 bytes, here, in gradio's upload route and in the docs)."""
        return int(self.max_upload_mb * 1e6)

    def note(self) -> str:
        """The limits in one line of Markdown, shown next to the uploads."""
        return (f"Uploads: up to {self.max_upload_mb:g} MB and {_clock(self.max_seconds)} of audio, "
                f"{MIN_SAMPLE_RATE // 1000}–{MAX_SAMPLE_RATE // 1000} kHz (read at up to "
                f"{self.max_rate / 1000:g} kHz), mono or stereo.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The app's flags for models and limits; each has an environment variable (shown in its help)."""
    env = os.environ.get
    parser.add_argument("--models-dir", action="append", metavar="DIR",
                        help=f"folder of models clients may pick by name (repeatable; env {MODELS_DIR_ENV}, "
                             "':'-separated); layout in restoration/models/catalog.py")
    parser.add_argument("--max-duration", type=_positive, default=env("RESTORATION_MAX_DURATION_S", "900"),
                        metavar="S", help="longest clip accepted, seconds (env RESTORATION_MAX_DURATION_S; 900)")
    parser.add_argument("--max-upload-mb", type=_positive, default=env("RESTORATION_MAX_UPLOAD_MB", "300"),
                        metavar="MB", help="largest upload accepted, MB (env RESTORATION_MAX_UPLOAD_MB; 300)")
    parser.add_argument("--max-work-s", type=_positive, default=env("RESTORATION_MAX_WORK_S", "120"), metavar="S",
                        help="estimated seconds of work one request may ask for; a running one stops at twice "
                             "that (env RESTORATION_MAX_WORK_S; 120)")


def from_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> tuple[ModelCatalog, Limits]:
    """The catalog and limits the flags of :func:`add_arguments` ask for; a models folder that
    clients could write to stops the app with one line (exit status 2)."""
    limits = Limits(max_seconds=args.max_duration, max_upload_mb=args.max_upload_mb, max_work_s=args.max_work_s)
    try:
        catalog = ModelCatalog.build(args.models_dir or models_dirs_from_env(), forbidden=client_writable_folders())
    except RestorationError as exc:
        parser.exit(2, f"error: {exc}\n")
    return catalog, limits


def client_writable_folders() -> list[str]:
    """Folders remote clients can put files into: gradio's upload and cache folder."""
    from gradio.utils import get_upload_folder

    return [get_upload_folder()]


def _positive(text: str) -> float:
    """A limit given on the command line or in the environment: a number above zero."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if not 0 < value < math.inf:
        raise argparse.ArgumentTypeError(f"must be above zero, got {text!r}")
    return value


def _clock(seconds: float) -> str:
    return f"{int(seconds // 60)}:{int(seconds % 60):02d} min" if seconds >= 60 else f"{seconds:g} s"


def read_clip(path: str | None, what: str, limits: Limits) -> tuple[np.ndarray, int]:
    """Load an uploaded clip within ``limits`` (size and duration checked before decoding), resampled
    block by block down to ``limits.max_rate`` when its rate is higher (memory of the result only)."""
    if not path:
        raise BadInputError(f"no audio for {what}: upload or record a clip, generate one, or pick an example")
    size = Path(path).stat().st_size if Path(path).is_file() else 0
    if size > limits.max_upload_bytes:
        raise BadInputError(f"{Path(path).name} is {size / 1e6:.0f} MB; this server accepts at most "
                            f"{limits.max_upload_mb:g} MB")
    return load_audio(path, max_seconds=limits.max_seconds, max_sr=limits.max_rate)


# ============================================================================== models by name

def restore_params(catalog: ModelCatalog, method: str, params: dict, limits: Limits) -> dict:
    """``params`` for ``method`` with every model name replaced by what the loader takes.

    A Demucs ``model`` or U-Net ``checkpoint`` must be a catalog name (the U-Net's may be empty:
    the shipped weights); a Demucs ``repo`` may not be given at all. Anything else raises
    :class:`UnknownModelError` with the same line whatever the value was. Demucs ``shifts`` and
    ``overlap`` above ``limits`` raise :class:`studio.budget.OverBudgetError`; its ``segment`` is at
    most ``limits.max_segment_s`` (0, the model's own, becomes that).
    """
    chain = parse_chain(method)
    if len(chain) > limits.max_chain:
        raise BadInputError(f"a chain may have at most {limits.max_chain} stages, got {len(chain)}")
    per_stage = split_params(chain, params)
    for stage, values in zip(chain, per_stage):
        if stage.name == "demucs":
            if str(values.get("repo") or "").strip():
                raise UnknownModelError(_NO_PATHS.format(", ".join(catalog.names("demucs"))))
            shifts, overlap, segment = (stage.param(name).coerce(values.get(name, stage.param(name).default),
                                                                 method="demucs") for name in ("shifts", "overlap", "segment"))
            budget.check_demucs(shifts, overlap, limits)
            values["segment"] = budget.demucs_segment(segment, limits)
            values.update(demucs_settings(catalog, values.get("model", stage.param("model").default)))
        if stage.name == "unet":
            values["checkpoint"] = unet_source(catalog, values.get("checkpoint", ""))
    if len(chain) == 1:
        return per_stage[0]
    return {f"{stage.name}.{key}": value for stage, values in zip(chain, per_stage) for key, value in values.items()}


def demucs_settings(catalog: ModelCatalog, name: Any) -> dict:
    """``{"model": ..., "repo": ...}`` for the Demucs catalog name ``name`` (its models folder checked
    again now, as in :func:`unet_source` and :func:`musicgen_source`: the model is loaded next)."""
    entry = catalog.checked("demucs", name)
    return {"model": entry.source, "repo": entry.folder}


def unet_source(catalog: ModelCatalog, name: Any) -> str:
    """The checkpoint folder of the U-Net catalog name ``name`` ("" stays "": the shipped weights)."""
    if isinstance(name, str) and not name.strip():
        return ""
    return catalog.checked("unet", name).source


def musicgen_source(catalog: ModelCatalog, name: Any) -> str:
    """The hub id or folder of the MusicGen catalog name ``name``."""
    return catalog.checked("musicgen", name).source


def model_control(method: str, param: Param, catalog: ModelCatalog) -> gr.Dropdown | None:
    """A dropdown of the catalog's names for a parameter that names a model, else None."""
    kind = MODEL_PARAMS.get((method, param.name))
    if kind is None:
        return None
    # The shipped U-Net's value is "" (the library's default), so the app's command-line line works as is.
    choices = [(_model_label(catalog, kind, name), "" if kind == "unet" and name == SHIPPED_UNET else name)
               for name in catalog.names(kind)]
    values = [value for _, value in choices]
    chosen = param.default if param.default in values else next(iter(values), None)
    return gr.Dropdown(choices=choices, value=chosen, label=param.name, info=f"models this server offers ({kind})",
                       allow_custom_value=False)


def _model_label(catalog: ModelCatalog, kind: str, name: str) -> str:
    """``name``, marked when it cannot load here (a Demucs model neither here nor downloadable)."""
    from . import models

    if kind != "demucs":
        return name
    entry = catalog.get(kind, name)
    return models.choice_label(kind, name, models.demucs_ready(entry.source, entry.folder))


def offered(method: str, param: Param) -> bool:
    """Whether the app shows a control for ``param`` (never for free server paths)."""
    return (method, param.name) not in PATH_PARAMS


# ============================================================================== errors and logs

_ABSOLUTE_PATH = re.compile(r"(?<![\w.:/~-])/(?:[^\s/'\"():,;<>]+/)+([^\s/'\"():,;<>]*)")


def scrub(message: str) -> str:
    """``message`` with every absolute path replaced by its base name (clients never see server paths)."""
    return _ABSOLUTE_PATH.sub(lambda m: m.group(1) or "…", str(message))


def handled(endpoint: str) -> Callable[[Callable], Callable]:
    """Decorate a handler: a :class:`RestorationError` or ``gr.Error`` is logged as one line naming
    ``endpoint`` and shown to the client as one path-free line; anything else is logged with its
    traceback and the client gets a generic line."""
    def decorate(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            try:
                return fn(*args, **kwargs)
            except RestorationError as exc:
                message = scrub(str(exc) or type(exc).__name__)
                log.warning("%s refused: %s", endpoint, message)
                raise gr.Error(message, print_exception=False) from None
            except gr.Error as exc:
                exc.message = scrub(exc.message)
                exc.print_exception = False
                log.warning("%s refused: %s", endpoint, exc.message)
                raise
            except Exception:
                log.exception("%s failed", endpoint)
                raise gr.Error("the server failed on this request (it is logged there); please try again",
                               print_exception=False) from None
        return wrapper
    return decorate


def install_logging() -> None:
    """One log line per event on stderr; Python warnings (truncated files, rescaled samples) go to the
    log; gradio's own input errors (a number out of range) become one line instead of a traceback."""
    if not log.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        for name in ("restoration.app", "py.warnings"):
            logging.getLogger(name).addHandler(handler)
            logging.getLogger(name).setLevel(logging.INFO)
    logging.captureWarnings(True)
    import gradio.queueing

    gradio.queueing.traceback = _QuietGradioErrors()


class _QuietGradioErrors:
    """Stands in for the ``traceback`` module in ``gradio.queueing``: an ``Error`` gradio raised
    itself (input out of range, a choice not offered) is logged as one line and its message freed
    of paths before gradio sends it; all else prints as before."""

    def __getattr__(self, name: str):
        return getattr(traceback, name)

    def print_exc(self, *args, **kwargs) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, gr.Error):  # the client gets exc.message after this: scrub it here
            exc.message = scrub(str(exc.message).splitlines()[0]) if exc.message else ""
            log.warning("%s refused: %s", _gradio_endpoint(), exc.message)
        else:
            traceback.print_exc(*args, **kwargs)


def _gradio_endpoint() -> str:
    """The API name of the event gradio's queue is processing (found in its frame), or "request"."""
    frame = sys._getframe(2)
    while frame is not None:
        events = frame.f_locals.get("awake_events") or frame.f_locals.get("events")
        if events:
            fn = getattr(events[0], "fn", None)
            return f"/{getattr(fn, 'api_name', None) or getattr(fn, 'name', 'request')}"
        frame = frame.f_back
    return "request"


# ============================================================================== admin password

class Throttle:
    """Per-client slowdown of wrong guesses: after ``free`` failures a client is locked out for
    ``base_s``, doubling with each further failure up to ``max_s``; a success clears its record.
    Bounded memory: at most ``max_clients`` records (the oldest go first)."""

    def __init__(self, *, free: int = 5, base_s: float = 2.0, max_s: float = 600.0, max_clients: int = 10_000,
                 clock: Callable[[], float] = time.monotonic):
        self.free, self.base_s, self.max_s, self.max_clients, self.clock = free, base_s, max_s, max_clients, clock
        self._failures: dict[str, tuple[int, float]] = {}  # client -> (failures, locked until)
        self._lock = threading.Lock()

    def check(self, client: str) -> None:
        """Raise ``gr.Error`` while ``client`` is locked out."""
        with self._lock:
            _, until = self._failures.get(client, (0, 0.0))
        wait = until - self.clock()
        if wait > 0:
            raise gr.Error(f"too many wrong passwords; try again in {int(wait) + 1} s", print_exception=False)

    def failed(self, client: str) -> None:
        with self._lock:
            count = self._failures.pop(client, (0, 0.0))[0] + 1
            lockout = min(self.max_s, self.base_s * 2.0 ** min(count - self.free, 60)) if count >= self.free else 0.0
            until = self.clock() + lockout if lockout else 0.0
            self._failures[client] = (count, until)
            while len(self._failures) > self.max_clients:
                self._failures.pop(next(iter(self._failures)))
        log.warning("wrong admin password from %s (%d in a row)", client, count)

    def succeeded(self, client: str) -> None:
        with self._lock:
            self._failures.pop(client, None)


def client_id(request: gr.Request | None) -> str:
    """The address a request came from, forwarded headers believed only from trusted proxies
    (:func:`studio.peers.client_address`; "local" when there is no request, as in tests)."""
    return peers.client_address(request)


# ============================================================================== scratch files

class ScratchFolder:
    """Files the app hands to gradio (which serves its own copies): each in a fresh subfolder of
    ``folder`` under its own name; entries older than ``max_age_s`` go whenever a new one is made."""

    def __init__(self, folder: str | os.PathLike, *, max_age_s: float = 3600.0):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.max_age_s = max_age_s

    def path(self, name: str) -> Path:
        """A fresh path ending in ``name``; deletes expired entries first."""
        cutoff = time.time() - self.max_age_s
        for old in self.folder.iterdir():
            try:
                if old.stat().st_mtime < cutoff:
                    shutil.rmtree(old) if old.is_dir() else old.unlink()
            except OSError:
                pass  # another thread removed it
        fresh = self.folder / uuid.uuid4().hex[:12]
        fresh.mkdir()
        return fresh / name
