"""The neural methods once on a GPU, against the CPU, and the U-Net's speed there.

    python scripts/device_check.py [--device cuda] [--out DIR] [--repeats 5]

For a session lent a device machine (see docs/unet.md, "A GPU session"); on this machine
``--device cpu`` runs the same checks against itself. Each check is recorded even when another fails:

* ``unet``: ``assets/blupi_theme.flac`` (real music) made 10 s of stereo at 32 kHz (tiled; the second
  channel delayed by 0.5 s), as the speed target of issue 11 is stated, through ``pipeline.restore``
  on the device and on the CPU: the RMS of the difference relative to the CPU output's RMS (both
  float32: expect well under 1e-3), the first call (model load plus one clip) and the median of
  ``--repeats`` warm calls in seconds, and the warm real-time factor;
* ``demucs``: the offline ``demucs_unittest`` model on the device and on the CPU, same measures;
* ``musicgen``: a tiny randomly initialized MusicGen (saved as the tests do) generating 1 s on the
  device: the output's shape, rate and RMS;
* ``train``: ``python -m restoration train --device DEVICE`` for ``--train-steps`` steps of the shipped
  recipe's loss (ViSQOL surrogate included; full-size model, ``--train-batch`` one-second crops) on a
  small synthetic corpus (``restoration.synth``, no codec, so no ffmpeg is needed): seconds per step
  and whether every logged loss is finite and a checkpoint was written.

Writes ``device_check.json`` to ``--out`` (default ``$OUT`` when set, else ``bench-out``) and prints it.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import sys
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CLIP = ROOT / "assets" / "blupi_theme.flac"
RATE, SECONDS = 32000, 10.0


def stereo_clip() -> np.ndarray:
    """:data:`CLIP` as float32 ``(2, SECONDS * RATE)``: tiled, the right channel 0.5 s behind the left."""
    from restoration.audio import load_audio

    mono, _ = load_audio(CLIP, sr=RATE)
    mono = mono.mean(axis=0)
    n = int(SECONDS * RATE)
    left = np.resize(mono, n)
    return np.stack([left, np.roll(left, RATE // 2)]).astype(np.float32)


def timed(call, repeats: int) -> tuple[np.ndarray, float, float]:
    """``call()``'s output, the first call's seconds and the median of ``repeats`` more."""
    start = time.perf_counter()
    out = call()
    first = time.perf_counter() - start
    warm = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        warm.append(time.perf_counter() - start)
    return out, first, statistics.median(warm)


def against_cpu(method: str, params: dict, device: str, repeats: int) -> dict:
    """``method`` on ``device`` and on the CPU over the 32 kHz clip: their relative difference and timings."""
    from restoration.pipeline import restore

    clip = stereo_clip()
    seconds = clip.shape[-1] / RATE

    def run(where: str) -> np.ndarray:
        out, _ = restore(clip, RATE, method, {**params, "device": where})
        return out

    out, first, warm = timed(lambda: run(device), repeats)
    reference = run("cpu")
    n = min(out.shape[-1], reference.shape[-1])
    difference = float(np.sqrt(np.mean((out[..., :n] - reference[..., :n]) ** 2))
                       / (np.sqrt(np.mean(reference[..., :n] ** 2)) + 1e-12))
    return {"seconds_of_audio": round(seconds, 3), "relative_rms_difference_vs_cpu": difference,
            "first_call_s": round(first, 4), "warm_s": round(warm, 4), "real_time_factor": round(warm / seconds, 5),
            "output_shape": list(out.shape)}


def tiny_musicgen(device: str) -> dict:
    """A 1 s generation of a tiny random MusicGen (``tests/test_musicgen.save_tiny_musicgen``) on ``device``."""
    from restoration.models.musicgen import generate

    spec = importlib.util.spec_from_file_location("test_musicgen", ROOT / "tests" / "test_musicgen.py")
    helpers = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(helpers)
    with tempfile.TemporaryDirectory() as folder:
        helpers.save_tiny_musicgen(Path(folder) / "tiny")
        start = time.perf_counter()
        audio, rate = generate("a calm piano tune", model=str(Path(folder) / "tiny"), duration_s=1.0, device=device)
        elapsed = time.perf_counter() - start
    audio = np.asarray(audio)
    return {"shape": list(audio.shape), "sample_rate": rate, "rms": float(np.sqrt(np.mean(audio ** 2))),
            "finite": bool(np.all(np.isfinite(audio))), "seconds": round(elapsed, 3)}


def training(device: str, steps: int, batch: int) -> dict:
    """A short training run on ``device`` over a synthetic corpus: seconds per step, finite losses, checkpoint."""
    from restoration.audio import save_audio
    from restoration.cli import main as cli
    from restoration.synth import make_music

    with tempfile.TemporaryDirectory() as folder:
        corpus = Path(folder) / "corpus"
        for split, count in (("train", 6), ("real", 1)):
            (corpus / split).mkdir(parents=True)
            for i in range(count):
                save_audio(corpus / split / f"c{i}.flac", make_music(seconds=4.0, seed=i + 10 * (split == "real")), 48000)
        out = Path(folder) / "run"
        start = time.perf_counter()
        status = cli(["train", "--data", str(corpus), "--out", str(out), "--cache", str(Path(folder) / "cache"),
                      "--device", device, "--steps", str(steps), "--batch-size", str(batch), "--codecs", "none",
                      "--val-every", str(steps), "--val-clips", "1", "--visqol-clips", "0", "--visqol-weight", "6",
                      "--level-weight", "0.25", "--new-pairs", "0", "--threads", "4"])
        elapsed = time.perf_counter() - start
        records = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
        losses = [r["loss"] for r in records if "loss" in r]
        timed_steps = [(r["step"], r["time_s"]) for r in records if "loss" in r]
        per_step = ((timed_steps[-1][1] - timed_steps[0][1]) / (timed_steps[-1][0] - timed_steps[0][0])
                    if len(timed_steps) > 1 else None)
        return {"exit_status": status, "steps": steps, "wall_s": round(elapsed, 2), "s_per_step": per_step,
                "losses_finite": bool(losses) and all(np.isfinite(losses)),
                "checkpoint_written": (out / "best" / "model.safetensors").exists()}


def environment(device: str) -> dict:
    import torch

    info = {"python": sys.version.split()[0], "torch": torch.__version__, "cuda_available": torch.cuda.is_available(),
            "device": device}
    if device == "cuda" and torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda", choices=("cuda", "cpu"))
    parser.add_argument("--out", default=os.environ.get("OUT") or "bench-out")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--train-steps", type=int, default=60,
                        help="steps of the training check, 21 or more (the loss is logged every 20); 0 leaves it out")
    parser.add_argument("--train-batch", type=int, default=16, help="crops per step in the training check")
    args = parser.parse_args(argv)
    if 0 < args.train_steps < 21 or args.train_batch < 1 or args.repeats < 1:
        print("error: --train-steps must be 0 or at least 21, --train-batch and --repeats at least 1", file=sys.stderr)
        return 2
    checks = {
        "environment": lambda: environment(args.device),
        "unet": lambda: against_cpu("unet", {}, args.device, args.repeats),
        "demucs": lambda: against_cpu("demucs", {"model": "demucs_unittest"}, args.device, 1),
        "musicgen": lambda: tiny_musicgen(args.device),
        **({"train": lambda: training(args.device, args.train_steps, args.train_batch)} if args.train_steps > 0 else {}),
    }
    report = {}
    for name, check in checks.items():
        try:
            report[name] = {"ok": True, **check()}
        except Exception as error:  # noqa: BLE001 - every check is recorded, whatever breaks
            report[name] = {"ok": False, "error": f"{type(error).__name__}: {error}",
                            "trace": traceback.format_exc(limit=4)}
        print(json.dumps({name: report[name]}), flush=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "device_check.json").write_text(json.dumps(report, indent=1) + "\n")
    return 0 if all(item["ok"] for item in report.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
