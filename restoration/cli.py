"""Command line: ``python -m restoration {methods,restore,analyze,degrade,bench,score,train,batch}``.

Every user error is one line on stderr and exit status 2; no traceback, no output file left.
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import json
import logging
import sys
import warnings
from pathlib import Path
from typing import Sequence

from .errors import RestorationError

#: Subcommands whose arguments and behaviour live in their own module:
#: each module has ``add_arguments(parser)`` and ``run(args) -> int`` and imports nothing heavy at import time.
DELEGATED = {
    "degrade": ("restoration.degrade", "simulate MusicGen-like degradation of clean audio"),
    "bench": ("restoration.bench", "benchmark every method on clean/degraded pairs"),
    "score": ("restoration.score", "score files made anywhere (<clip>.<condition>.<ext>) per condition, paired"),
    "train": ("restoration.training.train", "train the spectral U-Net"),
    "batch": ("restoration.batch", "restore a folder or manifest of files on Ray, resumably"),
    "listen": ("restoration.listen", "blind listening tests of your own files: create, results"),
}


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line on stderr (exit status 2), without the usage text;
    a misspelt option is named (with the closest known one) rather than reported as a missing required one.

    Subcommand parsers inherit the class (``add_subparsers`` uses the parent's type)."""

    def parse_known_args(self, args=None, namespace=None):
        self.arguments = list(sys.argv[1:] if args is None else args)
        return super().parse_known_args(args, namespace)

    def error(self, message: str):
        unknown = self.unknown_option()
        if unknown and message.startswith("the following arguments are required"):
            message = unknown
        self.exit(2, f"error: {self.prog.split()[-1] if ' ' in self.prog else self.prog}: {message}"
                     f" (see --help)\n")

    def unknown_option(self) -> str | None:
        """``unrecognized option --x (did you mean --y?)`` for the first option this parser does not know."""
        known = self._option_string_actions
        for token in getattr(self, "arguments", []):
            if token == "--":
                break
            name = token.split("=", 1)[0]
            if (not token.startswith("-") or token == "-" or self._negative_number_matcher.match(token)
                    or name in known or (name.startswith("--") and any(o.startswith(name) for o in known))
                    or (not name.startswith("--") and name[:2] in known)):  # -mVALUE
                continue
            close = difflib.get_close_matches(name, [o for o in known if o.startswith("--")], n=1)
            return f"unrecognized option {name}" + (f" (did you mean {close[0]}?)" if close else "")
        return None


def program_name() -> str:
    """How the user started the command line: ``python -m restoration`` or the ``restoration`` script."""
    return "python -m restoration" if Path(sys.argv[0]).name == "__main__.py" else "restoration"


def plain(text: str) -> str:
    """``text`` without reStructuredText's double backquotes (for --help)."""
    return text.replace("``", "")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog=program_name(), description="Restore MusicGen audio, measure it, degrade clean "
                           "audio, benchmark the methods, train the U-Net and restore folders in batch.")
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("methods", help="list the methods and their parameters")

    restore = sub.add_parser("restore", help="restore an audio file")
    restore.add_argument("input", help="audio file to restore (WAV, FLAC, OGG, MP3)")
    restore.add_argument("output", help="file to write (.wav or .flac)")
    restore.add_argument("--method", "-m", required=True, help="method name or chain such as spectral_gating+sbr")
    restore.add_argument("--set", dest="settings", action="append", default=[], metavar="KEY=VALUE",
                         help="method parameter (method.key=value in a chain); repeatable")
    restore.add_argument("--sample-rate", type=int, default=None, help="resample the output to this rate, Hz")
    restore.add_argument("--format", default="pcm16", choices=("pcm16", "pcm24", "float"), help="sample format")
    restore.add_argument("--quiet", action="store_true", help="no progress bar")

    analyze = sub.add_parser("analyze", help="print metrics of an audio file")
    analyze.add_argument("input", help="audio file to measure")
    analyze.add_argument("--reference", help="clean reference file for the two-signal metrics")
    analyze.add_argument("--json", action="store_true", help="print JSON instead of a table")
    analyze.add_argument("--no-visqol", action="store_true", help="skip ViSQOL (the slowest metric)")

    for name, (module, help_text) in DELEGATED.items():
        importlib.import_module(module).add_arguments(sub.add_parser(name, help=help_text))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    warnings.showwarning = _warning_line
    _log_warnings_as_lines()
    try:
        if args.command == "methods":
            return _methods()
        if args.command == "restore":
            return _restore(args)
        if args.command == "analyze":
            return _analyze(args)
        return importlib.import_module(DELEGATED[args.command][0]).run(args)
    except RestorationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except MemoryError:
        print("error: out of memory; try a shorter file", file=sys.stderr)
        return 1
    except OSError as exc:  # the environment: permissions, full disk, too long a name, a vanished file
        where = f": {exc.filename}" if getattr(exc, "filename", None) else ""
        print(f"error: {(exc.strerror or str(exc)).lower()}{where}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # e.g. piped into head
        sys.stderr.close()
        return 0


def _warning_line(message, category, filename, lineno, file=None, line=None) -> None:
    """Warnings (truncated file, rescaled float samples) as one ``warning: ...`` line on stderr."""
    print(f"warning: {str(message).splitlines()[0] if str(message) else category.__name__}", file=sys.stderr)


class _WarningLines(logging.Handler):
    """The library's logged warnings (a plugin method skipped) as ``warning: ...`` lines on stderr."""

    def emit(self, record: logging.LogRecord) -> None:
        _warning_line(record.getMessage(), UserWarning, "", 0)


def _log_warnings_as_lines() -> None:
    logger = logging.getLogger("restoration")
    if not any(isinstance(h, _WarningLines) for h in logger.handlers):
        logger.addHandler(_WarningLines(logging.WARNING))


def parse_settings(settings: Sequence[str]) -> dict[str, str]:
    """``["a=1", "unet.strength=0.5"]`` -> dict; malformed items raise BadParameterError."""
    from .errors import BadParameterError

    values: dict[str, str] = {}
    for item in settings:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise BadParameterError(f"--set expects KEY=VALUE, got {item!r}")
        values[key.strip()] = value.strip()
    return values


def tqdm_progress(description: str, *, disable: bool = False):
    """A ``progress(done, total)`` callback drawing a tqdm bar on stderr (only on a terminal, and
    only once work starts, so an early error stays one line), and a ``close()`` for the bar."""
    from tqdm import tqdm

    bars = []

    def progress(done: int, total: int) -> None:
        if not bars:
            bars.append(tqdm(total=total, desc=description, disable=True if disable else None,
                             leave=False, unit="step"))
        bars[0].total = total
        bars[0].n = done
        bars[0].refresh()

    def close() -> None:
        for bar in bars:
            bar.close()

    return progress, close


def _methods() -> int:
    from .registry import list_methods

    for method in list_methods():
        rate = f"{method.output_sr} Hz" if method.output_sr else "input rate"
        origin = f", plugin from {method.source}" if method.source else ""
        print(f"{method.name}  ({rate}{', neural' if method.neural else ''}{origin})\n    {method.description}")
        for p in method.params:
            bounds = f" {{{', '.join(map(str, p.choices))}}}" if p.choices else (
                f" [{p.low:g}, {p.high:g}]" if p.low is not None else "")
            print(f"    --set {p.name}={p.default}  ({p.kind}{bounds}) {p.help}")
    return 0


def _restore(args: argparse.Namespace) -> int:
    from .arguments import check_writable
    from .pipeline import restore_file
    from .registry import parse_chain, split_params

    check_writable(args.output)
    settings = parse_settings(args.settings)
    chain = parse_chain(args.method)
    for method, params in zip(chain, split_params(chain, settings)):
        method.resolve(params)  # bad names and values fail before any work or progress bar
    progress, close_bar = tqdm_progress(args.method, disable=args.quiet)
    try:
        report = restore_file(args.input, args.output, args.method, settings,
                              sample_rate=args.sample_rate, subtype=args.format, progress=progress)
    finally:
        close_bar()
    print(report.line())
    return 0


def _json_number(value):
    """NaN and infinities (metrics that do not apply) become null, so the output is strict JSON."""
    return None if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))) else value


def _analyze(args: argparse.Namespace) -> int:
    from .analysis.metrics import analyze_files

    values = analyze_files(args.input, reference=args.reference, visqol=not args.no_visqol)
    if args.json:
        print(json.dumps({k: _json_number(v) for k, v in values.items()}, indent=2, allow_nan=False))
    else:
        width = max(map(len, values))
        for name, value in values.items():
            shown = (value if not isinstance(value, float) else f"{value:.4f}" if _json_number(value) is not None
                     else "n/a")  # a metric that does not apply, as the app says it
            print(f"{name:<{width}}  {shown}")
    return 0
