"""Scores of restorations made anywhere: ``restoration score DIR|MANIFEST.csv``.

The files are outside conditions (:mod:`restoration.conditions`): ``<clip>.<condition>.<ext>`` beside
``<clip>.reference.<ext>``, a ``--reference-dir`` of ``<clip>.<ext>``, or a CSV manifest. Each file is
scored with the benchmark's metrics (:mod:`restoration.bench`): against its clean reference when it has
one (:data:`~restoration.bench.REFERENCE_METRICS`: LSD, LSD above 16 kHz, ViSQOL, SI-SDR, MR-STFT,
log-mel, HF envelope correlation) and always reference-free
(:data:`~restoration.bench.NO_REFERENCE_METRICS`). Per condition: each metric's mean and 95 %
t-interval over its clips. For two conditions: a paired comparison on the clips both have
(:func:`restoration.analysis.paired.paired`).

A file that cannot be scored is listed with one reason and the rest is scored: unreadable or undecodable,
silent, shorter than one STFT frame, more than two channels, a length more than
:data:`LENGTH_TOLERANCE_S` from its reference's, or other music than its reference (content correlation
under :data:`MIN_CONTENT_CORRELATION`). Rate and channel differences are aligned as the benchmark does.
Files longer than :data:`MAX_SECONDS` are scored on their first :data:`MAX_SECONDS` (so is their
reference). Exit status: 0 when every file was scored, 1 when some were skipped (the rest is scored and
reported), 2 when the command is wrong, a report cannot be written, or nothing could be scored.
"""

from __future__ import annotations

import argparse
import itertools
import math
import shlex
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .bench import (NO_REFERENCE_METRICS, REFERENCE_METRICS, cell, csv_text, metric_digits, metric_title,
                    no_reference_values, summary_cell)
from .conditions import Collection, ConditionFile, Skipped, collect
from .errors import BadInputError, OutputError, RestorationError, first_line

#: Longer files (and their references) are scored on their first this many seconds: memory and time stay
#: bounded (scoring a 60 s stereo pair at 48 kHz peaks at about 0.85 GB for the whole process).
MAX_SECONDS = 60.0
#: A file and its reference may differ in length by this much (codec padding, resampling); more is skipped.
LENGTH_TOLERANCE_S = 0.2
#: Below this :func:`~restoration.analysis.metrics.content_correlation`, a file is other music than its
#: reference (one clip's restorations score above 0.8, different music below 0.2 on real clips).
MIN_CONTENT_CORRELATION = 0.5
#: Intervals from this many clips on (t-intervals over few clips are wide, and say so).
MIN_INTERVAL_CLIPS = 2


@dataclass(frozen=True)
class Audio:
    """A decoded file: ``y`` float32 ``(channels, samples)`` at ``sr``; ``seconds``, the whole file's length."""

    y: np.ndarray
    sr: int
    seconds: float

    @property
    def cut(self) -> bool:
        return self.seconds > self.y.shape[-1] / self.sr + 1e-6


@dataclass
class FileScore:
    """One scored file: its condition entry, length in s, whether it was cut, and its metric values
    (the :data:`REFERENCE_METRICS` keys when it had a reference, the :data:`NO_REFERENCE_METRICS` keys always)."""

    item: ConditionFile
    seconds: float
    cut: bool
    values: dict[str, float]

    @property
    def has_reference(self) -> bool:
        return any(key in self.values for key in REFERENCE_METRICS)


@dataclass
class Scores:
    """Every scored file and every skipped one (the collection's own skips first)."""

    files: list[FileScore] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    visqol: bool = True

    def conditions(self) -> list[str]:
        return sorted({f.item.condition for f in self.files})

    def reference_keys(self) -> list[str]:
        return [k for k in REFERENCE_METRICS if self.visqol or k != "visqol"]

    def by_condition(self) -> dict[str, dict[str, FileScore]]:
        """``{condition: {clip: score}}``."""
        table: dict[str, dict[str, FileScore]] = {}
        for score in self.files:
            table.setdefault(score.item.condition, {})[score.item.clip] = score
        return table


# ---------------------------------------------------------------------------------------------
# Scoring files


def read(path: Path) -> Audio:
    """The first :data:`MAX_SECONDS` of ``path``, checked (decodable, not silent, long enough, finite)."""
    from .audio import check_signal, load_audio, probe_audio

    info = probe_audio(path)
    y, sr = load_audio(path, first_seconds=MAX_SECONDS)
    check_signal(y, sr)
    held = y.shape[-1] / sr
    return Audio(y, sr, info.frames / info.samplerate if held >= MAX_SECONDS - 1e-6 else held)


def mismatch(audio: Audio, reference: Audio, reference_name: str) -> str | None:
    """Why ``audio`` cannot be scored against ``reference`` (another length, other music), or None."""
    from .analysis.metrics import content_correlation

    if abs(audio.seconds - reference.seconds) > LENGTH_TOLERANCE_S:
        return (f"{audio.seconds:.2f} s long, its reference {reference_name} {reference.seconds:.2f} s "
                f"(more than {LENGTH_TOLERANCE_S:g} s apart): another clip, or cut or padded")
    similarity = content_correlation(audio.y, audio.sr, reference.y, reference.sr)
    if similarity < MIN_CONTENT_CORRELATION:
        return (f"other music than its reference {reference_name} (content correlation {similarity:.2f}, "
                f"under {MIN_CONTENT_CORRELATION:g}), or shifted in time")
    return None


def score_file(item: ConditionFile, reference: Audio | None, *, visqol: bool) -> FileScore:
    """The metrics of one file (against ``reference`` when given); :class:`BadInputError` when it cannot be scored."""
    from .analysis.metrics import reference_metrics

    audio = read(item.path)
    values: dict[str, float] = {}
    if reference is not None:
        problem = mismatch(audio, reference, item.reference.name)
        if problem:
            raise BadInputError(problem)
        measured = reference_metrics(audio.y, audio.sr, reference.y, reference.sr, visqol=visqol)
        values.update({key: measured[key] for key in REFERENCE_METRICS})
    values.update(no_reference_values(audio.y, audio.sr))
    return FileScore(item, audio.seconds, audio.cut, values)


def score_collection(collection: Collection, *, visqol: bool = True, progress=None) -> Scores:
    """Score every file of ``collection`` (clip by clip, one reference decoded at a time); what cannot be
    scored joins the collection's skipped entries with one reason. ``progress(done, total)`` after each file."""
    scores = Scores(skipped=list(collection.skipped), visqol=visqol)
    loaded: dict[Path, Audio | str] = {}
    for done, item in enumerate(collection.files, start=1):
        reference: Audio | str | None = None
        if item.reference is not None:
            if item.reference not in loaded:
                loaded.clear()  # files come clip by clip: keep only the current reference in memory
                loaded[item.reference] = _read_or_reason(item.reference)
            reference = loaded[item.reference]
        if isinstance(reference, str):
            reason = f"its reference {item.reference.name} cannot be used: {reference}"
            scores.skipped.append(Skipped(item.path.name, reason))
        else:
            try:
                scores.files.append(score_file(item, reference, visqol=visqol))
            except Exception as exc:  # one odd file is reported, not a crashed run
                scores.skipped.append(Skipped(item.path.name, _reason(exc)))
        if progress is not None:
            progress(done, len(collection.files))
    return scores


def _read_or_reason(path: Path) -> Audio | str:
    try:
        return read(path)
    except Exception as exc:
        return _reason(exc)


def _reason(exc: Exception) -> str:
    """Why a file cannot be scored, one line: a library error's own message, any other error with its type."""
    if isinstance(exc, RestorationError):
        return first_line(exc)
    return f"could not be scored: {type(exc).__name__}: {first_line(exc)}"


# ---------------------------------------------------------------------------------------------
# Statistics


def condition_summary(scores: Scores) -> dict[str, dict[str, dict]]:
    """``{condition: {metric: summary cell}}``: mean, 95 % t-interval and clip count of each metric
    (reference metrics over the clips with a reference, reference-free ones over all)."""
    summary = {}
    for condition, clips in scores.by_condition().items():
        metrics = {}
        for key in [*scores.reference_keys(), *NO_REFERENCE_METRICS]:
            values = [s.values[key] for s in clips.values() if key in s.values]
            if values:
                metrics[key] = summary_cell(values, min_interval_clips=MIN_INTERVAL_CLIPS)
        summary[condition] = metrics
    return summary


def compare(scores: Scores, a: str, b: str) -> tuple[str, list[dict]]:
    """Paired comparison of conditions ``a`` and ``b`` on the clips both have, metric by metric.

    Uses the reference metrics when the two share a clip with a reference, else the reference-free ones;
    returns ``("reference" | "reference-free", rows)``, each row :func:`paired`'s result plus ``metric``
    and ``better``, ``worse`` (from ``a``'s side; None for reference-free metrics, which have no better side).
    """
    from .analysis.paired import paired

    table = scores.by_condition()
    common = sorted(set(table.get(a, {})) & set(table.get(b, {})))
    with_reference = [c for c in common if table[a][c].has_reference and table[b][c].has_reference]
    section, clips, keys = (("reference", with_reference, scores.reference_keys()) if with_reference
                            else ("reference-free", common, list(NO_REFERENCE_METRICS)))
    rows = []
    for key in keys:
        pairs = [(table[a][c].values[key], table[b][c].values[key]) for c in clips]
        pairs = [(x, y) for x, y in pairs if math.isfinite(x) and math.isfinite(y)]
        if not pairs:
            continue
        result = paired(np.array([x for x, _ in pairs]), np.array([y for _, y in pairs]))
        better, worse = None, None
        if key in REFERENCE_METRICS:  # wins count higher scores of a; lower is better for distances
            higher_is_better = REFERENCE_METRICS[key][1]
            better, worse = ((result["wins"], result["losses"]) if higher_is_better
                             else (result["losses"], result["wins"]))
        rows.append({"metric": key, **result, "better": better, "worse": worse})
    return section, rows


def chosen_pairs(conditions: list[str], requested: list[str] | None) -> list[tuple[str, str]]:
    """Every pair of ``conditions`` (sorted), or the ``A,B`` pairs of ``--compare``, checked."""
    if not requested:
        return list(itertools.combinations(conditions, 2))
    pairs = []
    for text in requested:
        names = [n.strip() for n in text.split(",")]
        if len(names) != 2 or not all(names):
            raise BadInputError(f"--compare expects two conditions as A,B, got {text!r}")
        unknown = [n for n in names if n not in conditions]
        if unknown:
            raise BadInputError(f"--compare {text}: no condition {', '.join(unknown)} "
                                f"(the files have: {', '.join(conditions) or 'none'})")
        if names[0] == names[1]:
            raise BadInputError(f"--compare {text}: a condition against itself")
        pairs.append((names[0], names[1]))
    return pairs


def only_conditions(collection: Collection, wanted: str | None) -> Collection:
    """``collection`` restricted to the ``--conditions a,b`` (all without it); unknown names are an error."""
    if not wanted:
        return collection
    names = [n.strip() for n in wanted.split(",") if n.strip()]
    unknown = [n for n in names if n not in collection.conditions()]
    if not names or unknown:
        raise BadInputError(f"--conditions: no condition {', '.join(unknown) or repr(wanted)} "
                            f"(the files have: {', '.join(collection.conditions()) or 'none'})")
    return Collection([f for f in collection.files if f.condition in names], collection.skipped)


# ---------------------------------------------------------------------------------------------
# Reports: a list of blocks, rendered as terminal text or Markdown


def build_report(scores: Scores, pairs: list[tuple[str, str]]) -> list[tuple]:
    """The report as blocks: ``("heading", text)``, ``("text", text)``, ``("table", header, rows)``,
    ``("list", items)``: per-condition tables, notes, one paired comparison per pair, the skipped files."""
    summary = condition_summary(scores)
    table = scores.by_condition()
    conditions = scores.conditions()
    blocks: list[tuple] = []
    referenced = {c: sum(s.has_reference for s in table[c].values()) for c in conditions}
    if any(referenced.values()):
        blocks += [("heading", "Against the reference"),
                   ("table", ["metric", *(f"{c} ({referenced[c]} clips)" for c in conditions)],
                    _summary_rows(summary, conditions, scores.reference_keys(), referenced))]
    blocks += [("heading", "Reference-free"),
               ("table", ["metric", *(f"{c} ({len(table[c])} clips)" for c in conditions)],
                _summary_rows(summary, conditions, list(NO_REFERENCE_METRICS), {c: len(table[c]) for c in conditions}))]
    notes = ["Cells: mean [95 % t-interval] over clips (the mean alone for one clip); n=k where a metric "
             "covers fewer clips than its column. Arrows: ↑ higher is better, ↓ lower is better."]
    partial = [c for c in conditions if 0 < referenced[c] < len(table[c])]
    if partial:
        notes.append("Some clips have no reference (" + ", ".join(f"{c}: {referenced[c]} of {len(table[c])}"
                     for c in partial) + "): the reference metrics cover the clips with one, the "
                     "reference-free metrics all of them.")
    if not scores.visqol:
        notes.append("ViSQOL not computed (--no-visqol).")
    cut = [s.item.path.name for s in scores.files if s.cut]
    if cut:
        notes.append(f"Scored on their first {MAX_SECONDS:g} s (longer files): {', '.join(cut)}.")
    blocks += [("text", " ".join(notes))]
    for a, b in pairs:
        blocks += _comparison_blocks(scores, a, b)
    if scores.skipped:
        blocks += [("heading", f"Skipped ({len(scores.skipped)})"), ("list", [str(s) for s in scores.skipped])]
    return blocks


def summary_line(scores: Scores) -> str:
    """One line: files scored, clips, conditions, how many with a reference, how many skipped."""
    conditions = scores.conditions()
    return (f"{len(scores.files)} file(s) scored: {len({s.item.clip for s in scores.files})} clip(s) × "
            f"{len(conditions)} condition(s) ({', '.join(conditions)}), {sum(s.has_reference for s in scores.files)} "
            f"against a reference; {len(scores.skipped)} skipped.")


def _summary_rows(summary: dict, conditions: list[str], keys: list[str], clips: dict[str, int]) -> list[list[str]]:
    rows = []
    for key in keys:
        cells = []
        for condition in conditions:
            row = summary[condition].get(key)
            text = cell(row, metric_digits(key))
            if row is not None and 0 < row["n"] < clips[condition]:
                text += f" n={row['n']}"
            cells.append(text)
        if any(text != "–" for text in cells):
            rows.append([metric_title(key), *cells])
    return rows


def _comparison_blocks(scores: Scores, a: str, b: str) -> list[tuple]:
    section, rows = compare(scores, a, b)
    heading = ("heading", f"{a} vs {b}, paired on common clips ({section} metrics)")
    if not rows:
        return [heading, ("text", "No clip in common.")]
    counts = (f"{a} better / worse / tied" if section == "reference" else f"{a} higher / lower / equal")
    out = []
    for r in rows:
        digits = metric_digits(r["metric"])
        interval = "" if not math.isfinite(r["low"]) else f" [{r['low']:+.{digits}f}, {r['high']:+.{digits}f}]"
        tally = (r["better"], r["worse"]) if r["better"] is not None else (r["wins"], r["losses"])
        out.append([metric_title(r["metric"]), str(r["clips"]), f"{r['a']:.{digits}f}", f"{r['b']:.{digits}f}",
                    f"{r['difference']:+.{digits}f}{interval}", f"{tally[0]} / {tally[1]} / {r['ties']}",
                    "–" if not math.isfinite(r["p"]) else f"{r['p']:.3g}"])
    header = ["metric", "clips", a, b, f"{a} − {b} [95 % bootstrap]", counts, "Wilcoxon p"]
    return [heading, ("table", header, out)]


def _text_table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "  ".join(text.ljust(width) for text, width in zip(cells, widths)).rstrip()

    return [line(header), "  ".join("-" * w for w in widths), *map(line, rows)]


def _markdown_table(header: list[str], rows: list[list[str]]) -> list[str]:
    def line(cells: list[str]) -> str:
        return "| " + " | ".join(_markdown_escape(text) for text in cells) + " |"

    return [line(header), "|" + "---|" * len(header), *map(line, rows)]


def _markdown_escape(text: str) -> str:
    """Text shown as written in a Markdown table or list (``|`` splits cells, ``<clip>`` reads as a tag)."""
    return text.replace("|", "\\|").replace("<", "&lt;")


#: How each kind of block becomes lines: for a terminal (aligned columns) and in Markdown.
TEXT_STYLE = {"heading": lambda text: ["", text, "=" * len(text)], "text": lambda text: ["", text],
              "list": lambda items: [f"  {item}" for item in items], "table": _text_table}
MARKDOWN_STYLE = {"heading": lambda text: ["", f"## {text}", ""], "text": lambda text: ["", text],
                  "list": lambda items: [f"- {_markdown_escape(item)}" for item in items],
                  "table": _markdown_table}


def render(blocks: list[tuple], style: dict) -> list[str]:
    """The lines of ``blocks`` (see :func:`build_report`) in ``style`` (:data:`TEXT_STYLE`, :data:`MARKDOWN_STYLE`)."""
    return [line for kind, *content in blocks for line in style[kind](*content)]


def render_text(blocks: list[tuple]) -> str:
    """The report for a terminal: aligned columns."""
    return "\n".join(render(blocks, TEXT_STYLE)).lstrip("\n") + "\n"


def render_markdown(blocks: list[tuple], *, title_lines: list[str]) -> str:
    """The report as Markdown, under ``title_lines`` (command, date, source)."""
    return "\n".join(["# Scores", "", *title_lines, *render(blocks, MARKDOWN_STYLE)]) + "\n"


#: Columns of ``--csv``: one row per scored file.
CSV_COLUMNS = ("clip", "condition", "file", "reference", "seconds", "cut", *REFERENCE_METRICS, *NO_REFERENCE_METRICS)


def csv_rows(scores: Scores) -> list[dict]:
    """``--csv`` rows: clip, condition, file, reference, length in s, whether cut, then every metric (empty
    where it does not apply: no reference, or ViSQOL not computed)."""
    rows = []
    for s in scores.files:
        values = {k: v for k, v in s.values.items() if scores.visqol or k != "visqol"}
        rows.append({"clip": s.item.clip, "condition": s.item.condition, "file": str(s.item.path),
                     "reference": str(s.item.reference) if s.has_reference else "", "seconds": float(s.seconds),
                     "cut": int(s.cut), **{k: float(v) for k, v in values.items()}})
    return rows


# ---------------------------------------------------------------------------------------------
# Command line


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = (f"Files longer than {MAX_SECONDS:g} s are scored on their first {MAX_SECONDS:g} s. Exit status: 0 "
                     "when every file was scored; 1 when some were skipped (each listed with its reason, the rest "
                     "scored); 2 for a wrong command, a report that cannot be written, or nothing scorable.")
    parser.add_argument("source", metavar="DIR|MANIFEST.csv",
                        help="folder of <clip>.<condition>.<ext> files (with <clip>.reference.<ext>), "
                             "or a CSV manifest clip,condition,path[,reference]")
    parser.add_argument("--reference-dir", default=None, metavar="REF",
                        help="folder of clean references <clip>.<ext> for the files that have none")
    parser.add_argument("--markdown", default=None, metavar="OUT.md", help="write a Markdown report here")
    parser.add_argument("--csv", default=None, metavar="OUT.csv", help="write one row per scored file here")
    parser.add_argument("--no-visqol", action="store_true", help="skip ViSQOL (the slowest metric)")
    parser.add_argument("--conditions", default=None, metavar="A,B,...", help="score only these conditions")
    parser.add_argument("--compare", action="append", default=None, metavar="A,B",
                        help="paired comparison of these two conditions (repeatable; default: every pair)")


def run(args: argparse.Namespace) -> int:
    from .arguments import check_writable
    from .cli import tqdm_progress

    outputs = [check_writable(p, what=flag) for p, flag in ((args.markdown, "--markdown"), (args.csv, "--csv")) if p]
    if len(outputs) == 2 and outputs[0].resolve() == outputs[1].resolve():
        raise BadInputError("--markdown and --csv name the same file")
    collection = only_conditions(collect(args.source, reference_dir=args.reference_dir), args.conditions)
    _refuse_overwriting(outputs, collection, Path(args.source))
    if not collection.files:
        _print_skipped(collection.skipped)
        collection.require_files()
    pairs = chosen_pairs(collection.conditions(), args.compare)
    progress, close_bar = tqdm_progress("score")
    try:
        scores = score_collection(collection, visqol=not args.no_visqol, progress=progress)
    finally:
        close_bar()
    if not scores.files:
        _print_skipped(scores.skipped)
        raise BadInputError(f"no file could be scored ({len(scores.skipped)} skipped, listed above)")
    if not args.compare:  # every pair of the conditions that kept a scored file
        pairs = chosen_pairs(scores.conditions(), None)
    blocks = build_report(scores, pairs)
    print(summary_line(scores))
    print(render_text(blocks), end="")
    if args.markdown:
        title = [f"Command: `{command_line(args)}`  ", f"Date: {time.strftime('%Y-%m-%d %H:%M')}  ",
                 f"Files: {summary_line(scores)}"]
        write_report(args.markdown, render_markdown(blocks, title_lines=title))
    if args.csv:
        write_report(args.csv, csv_text(csv_rows(scores), CSV_COLUMNS))
    if scores.skipped:
        print(f"warning: {len(scores.skipped)} file(s) skipped (listed above); exit status 1", file=sys.stderr)
        return 1
    return 0


def write_report(path: str, text: str) -> None:
    """Write ``text`` to ``path`` whole or not at all; a failure is an :class:`OutputError` (one line, exit 2)."""
    from .files import write_text_atomically

    try:
        write_text_atomically(path, text)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {(exc.strerror or str(exc)).lower()}") from None
    print(f"wrote {path}")


def _refuse_overwriting(outputs: list[Path], collection: Collection, source: Path) -> None:
    from .audio import same_file

    inputs = [source, *(f.path for f in collection.files), *collection.references().values()]
    for out in outputs:
        if out.exists() and any(same_file(out, p) for p in inputs):
            raise BadInputError(f"refusing to overwrite the input file {out}")


def _print_skipped(skipped: list[Skipped]) -> None:
    for entry in skipped:
        print(f"skipped: {entry}", file=sys.stderr)


def command_line(args: argparse.Namespace) -> str:
    """The command that made the report, from the parsed arguments."""
    parts = ["restoration", "score", args.source]
    for flag in ("reference_dir", "markdown", "csv", "conditions"):
        if getattr(args, flag):
            parts += [f"--{flag.replace('_', '-')}", getattr(args, flag)]
    for pair in args.compare or []:
        parts += ["--compare", pair]
    return shlex.join(parts + (["--no-visqol"] if args.no_visqol else []))
