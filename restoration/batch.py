"""Restore many files on Ray: ``restoration batch IN OUT -m METHOD``.

``IN`` is a folder (searched recursively) or a CSV/JSONL manifest of files; ``OUT`` mirrors the
input names with the output suffix. Work runs on Ray actors, one per CPU (one per GPU for neural
methods on a cluster with GPUs), so models load once per worker. The driver streams: at most
:data:`TASKS_PER_WORKER` files per worker are in flight and no audio passes through it (workers
read and write the files themselves, so on a cluster IN and OUT must be on a shared filesystem).
Outputs are written atomically (:func:`restoration.audio.save_audio`), so a second run skips the
outputs that exist. ``OUT/results.csv`` and ``OUT/results.parquet`` get one row per input: status
(ok, skipped, error), the one-line error, duration, real-time factor and the requested metrics.
Ray and pyarrow are imported only when a batch runs (``pip install ".[batch]"``).
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import logging
import math
import os
import re
import socket
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import Iterator

from .bench import AUDIO_SUFFIXES, NO_REFERENCE_METRICS, REFERENCE_METRICS
from .children import pythonpath_with_package
from .errors import BadInputError, RestorationError, first_line

#: Tasks queued on each worker, so that a worker never waits for the driver between files.
TASKS_PER_WORKER = 2
#: Most workers (``--workers``) one batch starts.
MAX_WORKERS = 1024
MANIFEST_SUFFIXES = (".csv", ".jsonl")
OUTPUT_FORMATS = {"flac": "pcm24", "wav": "pcm24"}  # container -> sample format of the outputs
#: What a run's outputs depend on; a second run into the same OUT must match it.
RUN_FILE = "batch.json"
BASE_COLUMNS = ("input", "output", "status", "error", "duration_s", "seconds", "rtf", "cpu_s", "input_sr",
                "output_sr", "reference")
INT_COLUMNS = ("input_sr", "output_sr")
TEXT_COLUMNS = ("input", "output", "status", "error", "reference")


@dataclass(frozen=True)
class Job:
    """One input: the file to read, its output name relative to OUT, its reference file (or None),
    and an error that makes it a failed row without any work (a bad manifest line)."""

    source: str
    name: str
    reference: str | None = None
    error: str = ""


@dataclass(frozen=True)
class Settings:
    """What every worker needs: the method (chain) and its parameters, the output format, the metrics."""

    method: str
    params: dict = field(default_factory=dict)
    fmt: str = "flac"
    metrics: bool = False
    visqol: bool = True

    def columns(self) -> tuple[str, ...]:
        """Columns of the results table."""
        extra = (*NO_REFERENCE_METRICS, *REFERENCE_METRICS) if self.metrics else ()
        return (*BASE_COLUMNS, *extra)


# ---------------------------------------------------------------------------------------------
# Inputs


def iter_jobs(source: Path, out: Path, fmt: str, reference_dir: Path | None = None) -> Iterator[Job]:
    """The inputs of ``source`` (a folder or a .csv/.jsonl manifest), one at a time, in a fixed order."""
    if source.is_dir():
        rows = ((os.path.abspath(path), _relative_name(path, source), None, "")
                for path in _walk_audio(source, skip=out))
    else:
        rows = _manifest_rows(source)
    for path, relative, reference, error in rows:
        name = str(PurePosixPath(relative).with_suffix(f".{fmt}")) if relative else ""
        if reference is None and reference_dir is not None and relative:
            reference = _find_reference(reference_dir.absolute(), relative)
        yield Job(source=path, name=name, reference=reference, error=error)


def count_jobs(source: Path, out: Path) -> int:
    """How many inputs :func:`iter_jobs` yields (a second cheap pass, for the progress bar)."""
    if source.is_dir():
        return sum(1 for _ in _walk_audio(source, skip=out))
    with open(source, encoding="utf-8", errors="replace") as handle:
        lines = sum(1 for line in handle if line.strip())
    return lines - 1 if source.suffix.lower() == ".csv" else lines


def _walk_audio(folder: Path, *, skip: Path) -> Iterator[Path]:
    """Audio files under ``folder``, sorted, leaving out hidden files (temporaries) and the ``skip`` tree."""
    skip = skip.resolve()
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and (Path(root) / d).resolve() != skip)
        for name in sorted(files):
            if not name.startswith(".") and Path(name).suffix.lower() in AUDIO_SUFFIXES:
                yield Path(root) / name


def _relative_name(path: Path, base: Path) -> str:
    """``path`` relative to ``base`` when inside it, else its absolute path without the root: never leaves OUT."""
    path = Path(os.path.abspath(path))
    try:
        return path.relative_to(os.path.abspath(base)).as_posix()
    except ValueError:
        return PurePosixPath(*path.parts[1:]).as_posix()


def _manifest_rows(manifest: Path) -> Iterator[tuple[str, str, str | None, str]]:
    """``(path, output name, reference, error)`` per manifest entry; relative paths are relative to the manifest."""
    base = manifest.absolute().parent
    with open(manifest, newline="", encoding="utf-8", errors="replace") as handle:
        if manifest.suffix.lower() == ".csv":
            reader = csv.DictReader(handle)  # validate() checked the 'path' column
            entries = ((reader.line_num, row) for row in reader)
        else:
            entries = ((number, line) for number, line in enumerate(handle, 1) if line.strip())
        for number, entry in entries:
            try:
                path, reference = _manifest_entry(entry)
            except ValueError as exc:
                yield f"{manifest.name} line {number}", "", None, f"bad manifest line {number}: {exc}"
                continue
            full = base / path
            yield (str(full), _relative_name(full, base),
                   str(base / reference) if reference else None, "")


def _manifest_entry(entry) -> tuple[str, str | None]:
    """``(path, reference)`` of a CSV row (dict) or a JSONL line (a JSON string or object)."""
    if isinstance(entry, str):
        try:
            entry = json.loads(entry)
        except json.JSONDecodeError as exc:
            raise ValueError(f"not JSON ({exc.msg})") from None
        if isinstance(entry, str):
            entry = {"path": entry}
    if not isinstance(entry, dict) or not isinstance(entry.get("path"), str) or not entry["path"].strip():
        raise ValueError("expected a 'path'")
    reference = entry.get("reference")
    if reference is not None and not isinstance(reference, str):
        raise ValueError("'reference' must be a path")
    return entry["path"].strip(), (reference or "").strip() or None


def _find_reference(folder: Path, relative: str) -> str | None:
    """The file in ``folder`` with the same relative name as the input, any audio suffix."""
    stem = folder / PurePosixPath(relative).with_suffix("")
    for suffix in (PurePosixPath(relative).suffix, *AUDIO_SUFFIXES):
        candidate = stem.with_suffix(suffix)
        if candidate.is_file():
            return str(candidate)
    return None


# ---------------------------------------------------------------------------------------------
# One file (runs in a worker)


def empty_row(job: Job, columns: tuple[str, ...], **values) -> dict:
    """A results row for ``job`` (output: its name relative to OUT) with every measurement missing."""
    row = {c: math.nan for c in columns}
    row.update(input=job.source, output=job.name, status="ok", error="", input_sr=None, output_sr=None,
               reference=job.reference or "")
    row.update(values)
    return row


def process(job: Job, out: Path, settings: Settings) -> dict:
    """Restore one file into ``out / job.name`` and measure it; any failure is an ``error`` row."""
    from .audio import load_audio, save_audio
    from .pipeline import restore

    row = empty_row(job, settings.columns())
    cpu_started = time.process_time()
    try:
        y, sr = load_audio(job.source)
        row.update(duration_s=y.shape[-1] / sr, input_sr=sr)
        started = time.perf_counter()
        restored, rate = restore(y, sr, settings.method, settings.params)
        seconds = time.perf_counter() - started
        target = out / job.name
        target.parent.mkdir(parents=True, exist_ok=True)
        save_audio(target, restored, rate, subtype=OUTPUT_FORMATS[settings.fmt], source=job.source)
        row.update(seconds=seconds, rtf=seconds / row["duration_s"], output_sr=rate,
                   cpu_s=time.process_time() - cpu_started)
    except RestorationError as exc:
        return {**row, "status": "error", "error": first_line(exc)}
    except Exception as exc:  # a broken method or file is one row, never a crashed batch
        return {**row, "status": "error", "error": f"{type(exc).__name__}: {first_line(exc)}"}
    if settings.metrics:
        try:
            row.update(measure(restored, rate, job.reference, visqol=settings.visqol))
        except Exception as exc:  # the output is written and good: keep it, say why metrics are missing
            row["error"] = f"metrics: {first_line(exc)}"
    return row


def measure(y, sr: int, reference: str | None, *, visqol: bool) -> dict:
    """No-reference metrics of the output and, with a reference file, the metrics against it."""
    from .analysis.metrics import reference_metrics
    from .audio import load_audio
    from .bench import no_reference_values

    values = no_reference_values(y, sr)
    if reference:
        ref, ref_sr = load_audio(reference)
        scored = reference_metrics(y, sr, ref, ref_sr, visqol=visqol)
        values.update({k: scored[k] for k in REFERENCE_METRICS})
    return values


def warm_up(settings: Settings) -> None:
    """Run the method once on 1 s of quiet stereo noise at 32 kHz, so that imports and model loading
    happen before the first file (and do not count in its real-time factor)."""
    import numpy as np

    from .pipeline import restore

    noise = 0.01 * np.random.default_rng(0).standard_normal((2, 32000)).astype(np.float32)
    try:
        restore(noise, 32000, settings.method, settings.params)
    except Exception:  # noqa: BLE001 - a method that cannot run fails again on each file, with the file's row
        pass


class Worker:
    """A Ray actor: restores files with one method, keeping its models loaded between files."""

    def __init__(self, out: str, settings: Settings):
        self.out, self.settings = Path(out), settings
        warm_up(settings)

    def ready(self) -> bool:
        return True

    def process(self, job: Job) -> dict:
        return process(job, self.out, self.settings)


# ---------------------------------------------------------------------------------------------
# Results


class ResultsTable:
    """Rows streamed to ``results.csv`` and ``results.parquet`` under temporary names, renamed on close."""

    PARQUET_ROWS = 512  # rows buffered per Parquet row group

    def __init__(self, out: Path, columns: tuple[str, ...]):
        import pyarrow as pa
        import pyarrow.parquet as pq

        self.out, self.columns, self.buffer = out, columns, []
        self.schema = pa.schema([(c, pa.string() if c in TEXT_COLUMNS else pa.int64() if c in INT_COLUMNS
                                  else pa.float64()) for c in columns])
        self.csv_tmp, self.parquet_tmp = out / ".results.csv.partial", out / ".results.parquet.partial"
        self.csv_file = open(self.csv_tmp, "w", newline="", encoding="utf-8")
        self.csv = csv.DictWriter(self.csv_file, fieldnames=columns)
        self.csv.writeheader()
        self.parquet = pq.ParquetWriter(self.parquet_tmp, self.schema)

    def add(self, row: dict) -> None:
        row = {c: row.get(c) for c in self.columns}
        self.csv.writerow({c: _csv_value(v) for c, v in row.items()})
        self.buffer.append(row)
        if len(self.buffer) >= self.PARQUET_ROWS:
            self._flush()

    def close(self) -> None:
        self._flush()
        self.parquet.close()
        self.csv_file.close()
        os.replace(self.csv_tmp, self.out / "results.csv")
        os.replace(self.parquet_tmp, self.out / "results.parquet")

    def _flush(self) -> None:
        import pyarrow as pa

        if self.buffer:
            rows = [{c: (None if isinstance(v, float) and math.isnan(v) else v) for c, v in r.items()}
                    for r in self.buffer]
            self.parquet.write_table(pa.Table.from_pylist(rows, schema=self.schema))
            self.buffer = []


def _csv_value(value):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return f"{value:.6g}" if isinstance(value, float) else value


def previous_rows(out: Path) -> dict[str, dict]:
    """Rows of an earlier run's ``results.csv`` that produced their output, keyed by output name
    (their measurements are carried over to the rows of skipped files)."""
    try:
        with open(out / "results.csv", newline="", encoding="utf-8") as handle:
            return {row["output"]: row for row in csv.DictReader(handle)
                    if row.get("status") in ("ok", "skipped") and row.get("output")}
    except (OSError, KeyError, csv.Error):
        return {}


def skipped_row(job: Job, out: Path, settings: Settings, previous: dict[str, dict]) -> dict | None:
    """The row of an input whose output already exists and is readable audio, or None."""
    import soundfile as sf

    target = out / job.name
    if not target.is_file():
        return None
    try:
        info = sf.info(str(target))
    except (sf.LibsndfileError, RuntimeError):
        return None
    row = empty_row(job, settings.columns(), status="skipped", output_sr=info.samplerate,
                    duration_s=info.frames / info.samplerate)
    for column, value in previous.get(job.name, {}).items():
        if column in row and column not in TEXT_COLUMNS and value != "":
            row[column] = int(float(value)) if column in INT_COLUMNS else float(value)
    return row


def check_run_file(out: Path, settings: Settings, *, write: bool = True) -> None:
    """Record what the outputs depend on in ``OUT/batch.json`` (unless ``write`` is false); refuse an OUT
    made by another method."""
    record = {k: v for k, v in asdict(settings).items() if k in ("method", "params", "fmt")}
    path = out / RUN_FILE
    if path.is_file():
        try:
            earlier = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            earlier = None
        if earlier != record:
            raise BadInputError(f"{out} holds outputs of another run ({_describe(earlier)}); "
                                f"use another output folder or delete {path.name} to mix them")
        return
    if write:
        path.write_text(json.dumps(record, indent=1) + "\n")


def _describe(record) -> str:
    if not isinstance(record, dict):
        return f"unreadable {RUN_FILE}"
    params = " ".join(f"--set {k}={v}" for k, v in (record.get("params") or {}).items())
    return f"-m {record.get('method')} {params} --format {record.get('fmt')}".replace("  ", " ")


# ---------------------------------------------------------------------------------------------
# The driver


@dataclass
class Summary:
    """Counts and times of a finished batch."""

    total: int = 0
    ok: int = 0
    skipped: int = 0
    errors: int = 0
    audio_s: float = 0.0
    wall_s: float = 0.0
    workers: int = 0

    def line(self) -> str:
        rate = (self.ok + self.errors) / self.wall_s if self.wall_s else 0.0
        speed = f", {self.audio_s / self.wall_s:.1f}x real time" if self.wall_s and self.audio_s else ""
        return (f"{self.total} files: {self.ok} restored, {self.skipped} skipped (already complete), "
                f"{self.errors} failed; {self.wall_s:.1f} s on {self.workers} workers ({rate:.2f} files/s{speed})")


def run_batch(source: str | os.PathLike, out: str | os.PathLike, method: str, params: dict | None = None, *,
              fmt: str = "flac", metrics: bool = False, reference_dir: str | os.PathLike | None = None,
              visqol: bool = True, address: str | None = None, workers: int | None = None,
              progress: bool = True, log=lambda line: None) -> Summary:
    """Restore every input of ``source`` into ``out`` on Ray and write the results table.

    Starts a local Ray instance (or connects to ``address``) unless Ray is already initialized,
    and shuts down what it started. ``workers`` defaults to the cluster's CPUs (GPUs for a neural
    method when the cluster has any). Argument errors raise :class:`BadInputError` before any work.
    """
    source, out = Path(source), Path(out)
    settings = Settings(method=method, params=dict(params or {}), fmt=fmt, metrics=metrics, visqol=visqol)
    reference = Path(reference_dir) if reference_dir else None
    neural = validate(source, out, settings, reference)
    check_run_file(out, settings, write=False)  # another run's OUT is refused before Ray starts

    import ray

    started_ray = not ray.is_initialized()
    if started_ray:
        start_ray(address)
    try:  # OUT is made once Ray runs: a cluster that cannot be reached leaves no empty folder
        out.mkdir(parents=True, exist_ok=True)
        check_run_file(out, settings)
        previous = previous_rows(out)
        total = count_jobs(source, out)
        return _drive(source, out, settings, reference, previous, total, neural=neural, workers=workers,
                      progress=progress, log=log)
    finally:
        if started_ray:
            ray.shutdown()


def start_ray(address: str | None = None, **options) -> None:
    """``ray.init`` for a batch: connect to ``address``, or start a local instance whose workers import
    this copy of the package (from a source checkout too) and run at normal priority (Ray's default
    niceness of 15 lets any other work on the machine starve them; ``RAY_worker_niceness`` overrides).
    A cluster that cannot be reached is a one-line :class:`BadInputError`."""
    import ray

    if address is not None:
        check_reachable(address)
    saved = {k: os.environ.get(k) for k in ("PYTHONPATH", "RAY_worker_niceness")}
    if address is None:
        os.environ["PYTHONPATH"] = pythonpath_with_package(saved["PYTHONPATH"])
        os.environ.setdefault("RAY_worker_niceness", "0")
        # a new local instance enables token authentication (Ray >= 2.52) and says so in a WARNING line
        # on every run: the choice is right for an instance only this run uses, the line is noise
        logging.getLogger("ray._private.authentication.authentication_token_setup").setLevel(logging.ERROR)
    try:
        # "local": always a new instance here, never one that happens to run on this machine
        ray.init(address=address or "local", include_dashboard=False, log_to_driver=False, logging_level="warning",
                 configure_logging=True, **options)
    except Exception as exc:  # a wrong address or a cluster that is down
        raise BadInputError(f"cannot start or reach Ray{' at ' + address if address else ''}: "
                            f"{first_line(exc)}") from None
    finally:  # the started processes keep what they inherited; this process gets its environment back
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def check_reachable(address: str, *, timeout_s: float = 5.0) -> None:
    """A one-line :class:`BadInputError` when ``address`` (``HOST:PORT`` or ``ray://HOST:PORT``) does not
    accept a TCP connection within ``timeout_s``; Ray itself would retry for minutes and print a line
    per attempt. ``auto`` and addresses of another form are left to Ray."""
    host, sep, port = address.split("://", 1)[-1].rpartition(":")
    if not sep or not host or not port.isdigit():
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s).close()
    except OSError as exc:
        raise BadInputError(f"cannot reach Ray at {address}: {(exc.strerror or str(exc) or 'timed out').lower()}") from None


def validate(source: Path, out: Path, settings: Settings, reference: Path | None) -> bool:
    """A one-line :class:`RestorationError` for bad arguments or a missing Ray/pyarrow, before any work;
    returns whether the chain has a neural method."""
    from .registry import parse_chain, split_params

    missing = [name for name in ("ray", "pyarrow") if importlib.util.find_spec(name) is None]
    if missing:
        raise RestorationError(f"restoration batch needs {' and '.join(missing)}: "
                               "pip install 'musicgen-restoration[batch]' (or pip install -e \".[batch]\" in a clone)")
    if not source.exists():
        raise BadInputError(f"no such folder or manifest: {source}")
    if source.is_file() and source.suffix.lower() not in MANIFEST_SUFFIXES:
        raise BadInputError(f"{source.name} is neither a folder nor a manifest ({', '.join(MANIFEST_SUFFIXES)})")
    if source.is_file() and source.suffix.lower() == ".csv":
        with open(source, newline="", encoding="utf-8", errors="replace") as handle:
            header = next(csv.reader(handle), [])
        if "path" not in header:
            raise BadInputError(f"manifest {source.name} has no 'path' column (found: {', '.join(header) or 'nothing'})")
    if out.exists() and not out.is_dir():
        raise BadInputError(f"output is not a folder: {out}")
    if source.is_dir() and out.resolve() == source.resolve():
        raise BadInputError("the output folder must differ from the input folder")
    if settings.fmt not in OUTPUT_FORMATS:
        raise BadInputError(f"unknown output format {settings.fmt!r}; choose from {', '.join(OUTPUT_FORMATS)}")
    if reference is not None and not settings.metrics:
        raise BadInputError("--reference-dir needs --metrics")
    if reference is not None and not reference.is_dir():
        raise BadInputError(f"no such reference folder: {reference}")
    chain = parse_chain(settings.method)
    for stage, values in zip(chain, split_params(chain, settings.params)):
        stage.resolve(values)
    return any(stage.neural for stage in chain)


def _drive(source: Path, out: Path, settings: Settings, reference: Path | None, previous: dict, total: int, *,
           neural: bool, workers: int | None, progress: bool, log) -> Summary:
    import ray
    from ray.exceptions import RayActorError, RayError
    from tqdm import tqdm

    resources = ray.cluster_resources()
    cpus, gpus = resources.get("CPU", 1.0), (resources.get("GPU", 0.0) if neural else 0.0)
    count = workers or max(1, int(gpus) or int(cpus))
    # more workers than the cluster has CPUs (GPUs) share them, rather than wait forever to be placed
    actor_class = ray.remote(num_cpus=min(1.0, cpus / count), num_gpus=min(1.0, gpus / count) if gpus else 0,
                             max_restarts=2)(Worker)
    started = time.perf_counter()  # wall time counts worker start and model loading
    actors = [actor_class.remote(str(out.resolve()), settings) for _ in range(count)]
    try:
        ray.get([actor.ready.remote() for actor in actors])
    except RayError as exc:  # e.g. the package is not installed on the cluster's nodes
        for actor in actors:
            ray.kill(actor)
        raise RestorationError(f"Ray workers could not start ({root_cause(exc)}); every node needs this "
                               "package and its [batch] extra, with the same Python") from None
    load = {i: 0 for i in range(count)}
    pending: dict = {}  # object ref -> (job, actor index)
    seen: set[str] = set()
    summary = Summary(total=total, workers=count)
    columns = settings.columns()
    table = ResultsTable(out, columns)
    bar = tqdm(total=total, unit="file", desc=settings.method, disable=not progress or None, dynamic_ncols=True)

    def record(row: dict) -> None:
        status = row["status"]
        if status == "error":  # the table lists only outputs that were written
            row = {**row, "output": ""}
            log(f"failed: {row['input']}: {row['error']}")
        summary.ok += status == "ok"
        summary.skipped += status == "skipped"
        summary.errors += status == "error"
        if status == "ok":
            summary.audio_s += row["duration_s"]
        table.add(row)
        bar.update(1)
        elapsed = time.perf_counter() - started
        bar.set_postfix(failed=summary.errors, skipped=summary.skipped,
                        speed=f"{summary.audio_s / elapsed:.1f}x" if elapsed else "-", refresh=False)

    def collect() -> None:
        """Wait for one task, then record it and every other finished one."""
        ready, waiting = ray.wait(list(pending), num_returns=1)
        if waiting:
            ready += ray.wait(waiting, num_returns=len(waiting), timeout=0)[0]
        for ref in ready:
            job, index = pending.pop(ref)
            load[index] -= 1
            try:
                row = ray.get(ref)
            except RayActorError as exc:  # the worker died (e.g. out of memory): this file fails
                row = empty_row(job, columns, status="error", error=f"worker died: {first_line(exc)}")
            except RayError as exc:
                row = empty_row(job, columns, status="error", error=f"{type(exc).__name__}: {first_line(exc)}")
            record(row)

    try:
        for job in iter_jobs(source, out, settings.fmt, reference):
            if job.error:
                record(empty_row(job, columns, status="error", error=job.error))
                continue
            if job.name in seen:
                record(empty_row(job, columns, status="error", output="",
                                 error=f"output name {job.name} collides with an earlier input"))
                continue
            seen.add(job.name)
            row = skipped_row(job, out, settings, previous)
            if row is not None:
                record(row)
                continue
            while len(pending) >= TASKS_PER_WORKER * count:
                collect()
            index = min(load, key=load.get)
            pending[actors[index].process.remote(job)] = (job, index)
            load[index] += 1
        while pending:
            collect()
    finally:
        summary.wall_s = time.perf_counter() - started
        bar.close()
        table.close()
        for actor in actors:
            ray.kill(actor)
    if summary.skipped:
        log(f"resumed: {summary.skipped} of {summary.total} outputs were already complete and were skipped")
    return summary


def root_cause(exc: BaseException) -> str:
    """The innermost ``SomethingError: message`` line of a Ray error's traceback text (colour codes removed)."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc))
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [line for line in lines if re.match(r"^[\w.]*(Error|Exception)\b", line)]
    return (errors or lines or [type(exc).__name__])[-1]


# ---------------------------------------------------------------------------------------------
# Command line


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", help="folder of audio files (searched recursively) or a .csv/.jsonl manifest "
                                      "with a 'path' (and optional 'reference') per file")
    parser.add_argument("output", help="output folder; mirrors the input names (created if missing)")
    parser.add_argument("--method", "-m", required=True, help="method name or chain such as spectral_gating+sbr")
    parser.add_argument("--set", dest="settings", action="append", default=[], metavar="KEY=VALUE",
                        help="method parameter (method.key=value in a chain); repeatable")
    parser.add_argument("--format", dest="fmt", default="flac", choices=tuple(OUTPUT_FORMATS),
                        help="output container (24-bit samples; default flac)")
    parser.add_argument("--metrics", action="store_true", help="measure every output (no-reference metrics)")
    parser.add_argument("--reference-dir", default=None, metavar="DIR",
                        help="clean references with the same relative names (any audio suffix): "
                             "adds LSD, SI-SDR, ViSQOL... (needs --metrics)")
    parser.add_argument("--no-visqol", action="store_true", help="skip ViSQOL (the slowest metric)")
    parser.add_argument("--address", default=None,
                        help="address of an existing Ray cluster (e.g. auto, or ray://head:10001); "
                             "default: start Ray on this machine")
    parser.add_argument("--workers", type=int, default=None, help="number of workers (default: one per CPU, "
                                                                  "or per GPU for neural methods)")
    parser.add_argument("--allow-failures", action="store_true",
                        help="exit with status 0 even when some files failed (they are error rows of the table)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    """The ``batch`` command. Exit status: 0 when every file was restored (or skipped), 1 when some failed
    (each named with its reason on stderr; 0 with ``--allow-failures``), 2 for bad arguments."""
    from tqdm import tqdm

    from .cli import parse_settings

    if args.workers is not None and not 1 <= args.workers <= MAX_WORKERS:
        raise BadInputError(f"--workers must be at least 1 and at most {MAX_WORKERS}, got {args.workers}")
    summary = run_batch(args.input, args.output, args.method, parse_settings(args.settings), fmt=args.fmt,
                        metrics=args.metrics, reference_dir=args.reference_dir, visqol=not args.no_visqol,
                        address=args.address, workers=args.workers, progress=not args.quiet,
                        log=lambda line: tqdm.write(line, file=sys.stderr))
    out = Path(args.output)
    print(f"{summary.line()}; wrote {out / 'results.csv'} and {out / 'results.parquet'}")
    return 1 if summary.errors and not args.allow_failures else 0
