"""Peak memory one app request adds, per method and for the analysis, on long and high-rate uploads.

Each case runs in a fresh process through the functions the app's handlers are (``Workbench.restore``:
read the upload at the app's edge, restore, write the result, first comparison; ``Workbench.analyze``:
the "measure again" analysis with its detailed metrics), under the app's default limits. The process
first runs the same case on a 2 s clip (imports, model loading, caches), then resets its peak RSS
(``/proc/self/clear_refs``) and reports ``VmHWM - VmRSS`` across the measured request.

    nice python scripts/measure_memory.py                 # both inputs, every method and the analysis
    nice python scripts/measure_memory.py --inputs hi-rate --cases sbr analysis

Inputs (generated into a temporary folder): ``hi-rate``, 60 s of 384 kHz stereo FLAC (target: at most
600 MB added); ``long``, 15 min of 48 kHz stereo WAV (target: at most 1500 MB). A case the app refuses
(the work budget of ``studio.budget``) is listed with its one-line refusal.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: name -> (seconds, rate, suffix, target MB)
INPUTS = {"hi-rate": (60.0, 384000, ".flac", 600), "long": (900.0, 48000, ".wav", 1500)}
#: Parameters per method (Demucs: the tiny random model, as everywhere without weights).
PARAMS = {"demucs": {"model": "demucs_unittest"}}


def write_input(path: Path, seconds: float, rate: int) -> None:
    """Music-like stereo audio: a 10 s synthetic segment (resampled to ``rate`` with a little noise above
    20 kHz) repeated with a slowly changing gain, written block by block."""
    import numpy as np
    import soundfile as sf

    from restoration.audio import resample
    from restoration.synth import make_music

    segment = resample(make_music(48000, 10.0, 2, seed=7), 48000, rate)
    rng = np.random.default_rng(7)
    segment = segment + np.float32(0.002) * rng.standard_normal(segment.shape).astype(np.float32)
    total = int(seconds * rate)
    with sf.SoundFile(str(path), "w", samplerate=rate, channels=2,
                      subtype="PCM_24" if path.suffix == ".flac" else "PCM_16") as handle:
        for k, start in enumerate(range(0, total, segment.shape[-1])):
            block = segment[:, :min(segment.shape[-1], total - start)] * np.float32(0.6 + 0.4 * np.sin(k))
            handle.write(np.ascontiguousarray(block.T))


def _status() -> dict[str, int]:
    """VmRSS and VmHWM of this process, kB."""
    fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
    return {key: int(fields[key].split()[0]) for key in ("VmRSS", "VmHWM")}


def _run_case(studio, case: str, path: str):
    if case == "analysis":
        return studio.analyze(path, path, None, False)
    return studio.restore(path, None, case, json.dumps(PARAMS.get(case, {})), [])


def child(case: str, path: str, warm: str, workdir: str) -> dict:
    """Run ``case`` once on ``warm``, then measure it on ``path``; the result as a dict."""
    import gc

    import gradio as gr

    from studio.workbench import Workbench

    studio = Workbench(workdir)
    try:
        _run_case(studio, case, warm)
    except gr.Error:
        pass
    gc.collect()
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS
    before = _status()["VmRSS"]
    start = time.perf_counter()
    outcome = "ok"
    try:
        _run_case(studio, case, path)
    except gr.Error as exc:
        outcome = f"refused: {exc.message}"
    seconds = time.perf_counter() - start
    return {"added_mb": (_status()["VmHWM"] - before) / 1024, "seconds": seconds, "outcome": outcome}


def main() -> None:
    from restoration import list_methods

    methods = [m.name for m in list_methods()]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", nargs="+", choices=list(INPUTS), default=list(INPUTS))
    parser.add_argument("--cases", nargs="+", choices=[*methods, "analysis"], default=[*methods, "analysis"])
    parser.add_argument("--child", nargs=4, metavar=("CASE", "PATH", "WARM", "WORKDIR"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(*args.child)))
        return
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
           "HF_HUB_OFFLINE": "1"}
    rows = []
    with tempfile.TemporaryDirectory(prefix="measure_memory.") as tmp:
        for name in args.inputs:
            seconds, rate, suffix, target = INPUTS[name]
            path, warm = Path(tmp) / f"{name}{suffix}", Path(tmp) / f"{name}.warm{suffix}"
            write_input(path, seconds, rate)
            write_input(warm, 2.0, rate)
            for case in args.cases:
                done = subprocess.run([sys.executable, __file__, "--child", case, str(path), str(warm),
                                       str(Path(tmp) / "work")], env=env, capture_output=True, text=True)
                if done.returncode:
                    result = {"added_mb": float("nan"), "seconds": float("nan"),
                              "outcome": f"failed: {(done.stderr.strip().splitlines() or ['?'])[-1]}"}
                else:
                    result = json.loads(done.stdout.strip().splitlines()[-1])
                ok = result["added_mb"] <= target if result["outcome"] == "ok" else result["outcome"].startswith("refused")
                rows.append((f"{seconds / 60:g} min {rate / 1000:g} kHz stereo {suffix[1:].upper()}", case,
                             result["added_mb"], result["seconds"], target, "yes" if ok else "**no**", result["outcome"]))
                print(" | ".join(map(str, rows[-1])), file=sys.stderr, flush=True)
    print("| input | case | peak RSS added, MB | wall s | target MB | within | outcome |")
    print("|---|---|---|---|---|---|---|")
    for source, case, added, wall, target, ok, outcome in rows:
        print(f"| {source} | {case} | {added:.0f} | {wall:.1f} | ≤ {target} | {ok} | {outcome} |")


if __name__ == "__main__":
    main()
