"""``python -m restoration train``: train the spectral U-Net on corpus pairs, resumably, with validation.

The run folder (``--out``) holds ``state.pt`` (model + optimizer + data state, for ``--resume``;
never shipped), ``log.jsonl`` (one JSON object per logged step or validation), and ``best/`` — the
checkpoint (``model.safetensors`` + ``config.json``) with the lowest validation LSD above 16 kHz on
the real recordings of ``--data/real`` degraded by the simulator. Copy ``best/`` to
``restoration/data/unet/`` (``checkpoint.DEFAULT_CHECKPOINT``) to ship it. Torch is imported inside the functions, so the CLI starts fast.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import BadInputError

#: Model sizes selectable with ``--size``: keyword arguments of UNetConfig.
SIZES = {
    "default": {},
    "small": {"channels": (48, 64, 96)},
    "tiny": {"channels": (16, 24), "shifts": (64, 128, 192, 256)},
}
VALID_SEED = 10_000
HF_HZ = 16000.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", default="data/corpus", help="corpus folder with train/ and real/ clips (48 kHz)")
    parser.add_argument("--out", default="runs/unet", help="run folder: state.pt, log.jsonl, best/")
    parser.add_argument("--steps", type=int, default=3000, help="total optimizer steps")
    parser.add_argument("--resume", action="store_true", help="continue from OUT/state.pt")
    parser.add_argument("--size", choices=tuple(SIZES), default="default", help="model size")
    parser.add_argument("--batch-size", type=int, default=8, help="segments per step")
    parser.add_argument("--segment-s", type=float, default=1.0, help="segment length, seconds")
    parser.add_argument("--lr", type=float, default=2e-3, help="peak Adam learning rate (cosine decay)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the model, the batches and the degradation")
    parser.add_argument("--seeds-per-clip", type=int, default=2, help="degradations drawn per training clip")
    parser.add_argument("--val-clips", type=int, default=8, help="real recordings used for validation")
    parser.add_argument("--val-every", type=int, default=200, help="validate and save every N steps")
    parser.add_argument("--refresh-every", type=int, default=400, help="add newly arrived corpus clips every N steps")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"), help="training device")
    parser.add_argument("--cache", default="data/unet_pairs", help="folder of cached degraded pairs")
    parser.add_argument("--evaluate", metavar="CHECKPOINT", default=None,
                        help="only evaluate this checkpoint folder against passthrough and sbr on --val-clips "
                             "real recordings (and on the clean clips: do no harm), print JSON and exit")
    parser.add_argument("--visqol", action="store_true", help="include ViSQOL in --evaluate (slow)")
    parser.add_argument("--codecs", default="", help="comma-separated codecs the degradation may draw "
                        "(from restoration.degrade.CODECS; empty = the chain's default mix)")


def run(args: argparse.Namespace) -> int:
    import torch

    from ..models.checkpoint import save_checkpoint
    from ..models.unet import SpectralUNet, UNetConfig
    from .data import Batches, cached_pairs, clip_files
    from .losses import RestorationLoss

    if args.evaluate:
        return evaluate(args)
    if args.steps <= 0 or args.batch_size <= 0 or args.segment_s <= 0:
        raise BadInputError("--steps, --batch-size and --segment-s must be positive")
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    device = "cuda" if args.device == "auto" and torch.cuda.is_available() else args.device.replace("auto", "cpu")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    log = RunLog(out / "log.jsonl")

    model = SpectralUNet(UNetConfig(**SIZES[args.size])).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    step, best, data_seed = 0, math.inf, args.seed
    if args.resume and (out / "state.pt").exists():
        state = torch.load(out / "state.pt", map_location=device, weights_only=True)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        step, best, data_seed = int(state["step"]), float(state["best"]), int(state["data_seed"]) + 1
        if state.get("val_key") != _val_key(args):  # other validation data: scores not comparable
            best = math.inf
        log.write({"event": "resume", "step": step, "best": best})

    degrade_config = degradation(args.codecs)

    def pairs_for(files, seeds):
        return cached_pairs(files, seeds=seeds, cache=args.cache, config=degrade_config, progress=log.progress("pairs"))

    seeds = [args.seed * 100 + k for k in range(args.seeds_per_clip)]
    train_files = clip_files(args.data, "train")
    train_pairs = pairs_for(train_files, seeds)
    real = clip_files(args.data, "real")
    val_files = real[:: max(1, len(real) // args.val_clips)][: args.val_clips]
    val_pairs = [p for i, f in enumerate(val_files) for p in pairs_for([f], [VALID_SEED + i])]
    baselines = validation_baselines(val_pairs, out / f"baselines-{args.codecs.replace(',', '-') or 'default'}.json")
    log.write({"event": "data", "train_clips": len(train_files), "pairs": len(train_pairs),
               "val_clips": [p.name for p in val_pairs], "baselines": baselines})

    segment = int(round(args.segment_s * 48000))
    batches = Batches(train_pairs, segment=segment, batch_size=args.batch_size, seed=data_seed)
    loss_fn = RestorationLoss().to(device)
    recipe = {key: value for key, value in vars(args).items() if key != "func"}

    def on_step(i: int, loss: float) -> None:
        nonlocal best, batches, train_files
        if i % 20 == 0:
            log.write({"step": i, "loss": loss, **loss_fn.parts, "lr": optimizer.param_groups[0]["lr"]})
        if i % args.refresh_every == 0:
            now = clip_files(args.data, "train")
            if len(now) > len(train_files):
                train_files = now
                batches = Batches(pairs_for(now, seeds), segment=segment, batch_size=args.batch_size,
                                  seed=data_seed + i)
                log.write({"event": "refresh", "step": i, "train_clips": len(now)})
        if i % args.val_every == 0 or i == args.steps:
            scores = validate(model, val_pairs, device=device)
            improved = scores["lsd_hf"] < best
            if improved:
                best = scores["lsd_hf"]
                save_checkpoint(model, out / "best", training={
                    "recipe": recipe, "step": i, "train_clips": len(train_files),
                    "degradation_seeds": seeds, "validation": scores, "baselines": baselines})
            log.write({"event": "validation", "step": i, **scores, "best": improved})
            torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": i,
                        "best": best, "data_seed": data_seed, "val_key": _val_key(args)}, out / ".state.tmp")
            (out / ".state.tmp").replace(out / "state.pt")

    fit(model, lambda: next(batches), loss_fn, optimizer, steps=args.steps, start=step, lr=args.lr,
        device=device, on_step=on_step)
    print(f"trained to step {args.steps}; best validation LSD above 16 kHz {best:.3f} dB; checkpoint {out / 'best'}")
    return 0


def degradation(codecs: str):
    """The :class:`~restoration.degrade.DegradeConfig` drawing only from ``codecs`` (comma-separated),
    with the default weights renormalised; None for the default chain when ``codecs`` is empty."""
    from dataclasses import replace

    from ..degrade import CODECS, DegradeConfig

    names = [c.strip() for c in codecs.split(",") if c.strip()]
    if not names:
        return None
    unknown = sorted(set(names) - set(CODECS))
    if unknown:
        raise BadInputError(f"unknown codec(s) {', '.join(unknown)}; choose from {', '.join(CODECS)}")
    base = DegradeConfig()
    weights = {c: base.codec_weights.get(c, 0.0) or 0.1 for c in names}
    total = sum(weights.values())
    return replace(base, codec_weights={c: w / total for c, w in weights.items()},
                   rvq_after_codec=base.rvq_after_codec if "rvq" in names else 0.0)


def fit(model, next_batch: Callable[[], tuple[np.ndarray, np.ndarray]], loss_fn, optimizer, *, steps: int,
        start: int = 0, lr: float = 1e-3, warmup: int = 100, device: str = "cpu",
        on_step: Callable[[int, float], None] | None = None) -> list[float]:
    """Optimise from step ``start`` to ``steps`` with a warm-up then cosine learning rate; returns the losses.

    ``next_batch()`` gives ``(inputs, targets)`` float32 ``(batch, samples)``; ``on_step(step, loss)``
    runs after every step (logging, validation, saving).
    """
    import torch

    losses = []
    model.train()
    for step in range(start + 1, steps + 1):
        scale = min(1.0, step / warmup) * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * step / steps)))
        for group in optimizer.param_groups:
            group["lr"] = lr * scale
        inputs, targets = (torch.from_numpy(a).to(device) for a in next_batch())
        loss = loss_fn(model(inputs), targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        losses.append(float(loss.detach()))
        if on_step is not None:
            model.eval()
            on_step(step, losses[-1])
            model.train()
    model.eval()
    return losses


def validate(model, pairs, *, device: str = "cpu") -> dict[str, float]:
    """Mean metrics of the model's output against the clean clip over ``pairs``, plus do-no-harm on clean input.

    Keys: those of :func:`spectral_scores` for the restoration, and ``clean_lsd``, ``clean_si_sdr``,
    ... of the model applied to the clean clip itself (``clean_lsd_hf`` and ``clean_hf_env_corr`` left out).
    """
    import torch

    rows = []
    with torch.inference_mode():
        for pair in pairs:
            clean, degraded = pair.clean, pair.degraded
            restored = model(torch.from_numpy(degraded).to(device)).cpu().numpy()
            kept = model(torch.from_numpy(clean).to(device)).cpu().numpy()
            rows.append({**spectral_scores(clean, restored),
                         **{f"clean_{k}": v for k, v in spectral_scores(clean, kept).items()
                            if k in ("lsd", "si_sdr", "mrstft")}})
    return {key: float(np.mean([r[key] for r in rows])) for key in rows[0]}


def validation_baselines(pairs, path: Path) -> dict[str, dict[str, float]]:
    """:func:`method_scores` of ``passthrough`` and ``sbr`` on the validation pairs, cached in ``path``.

    A method whose module is not importable (not written yet) is left out and tried again next time.
    """
    result = json.loads(path.read_text()) if path.exists() else {}
    for name in ("passthrough", "sbr"):
        if name not in result and _importable(name):
            result[name] = method_scores(pairs, name)
    path.write_text(json.dumps(result, indent=2))
    return result


def method_scores(pairs, name: str, params: dict | None = None, *, clean_input: bool = False,
                  visqol: bool = False) -> dict[str, float]:
    """Mean :func:`spectral_scores` of registered method ``name`` over ``pairs``.

    The method gets each degraded clip at 32 kHz (``clean_input``: the clean clip at 48 kHz, to measure
    that it does no harm); its output is resampled to 48 kHz and compared with the clean clip.
    """
    from ..audio import resample
    from ..pipeline import restore
    from .data import DEGRADED_SR, SR

    rows = []
    for pair in pairs:
        clean, degraded = pair.clean, pair.degraded
        source, rate = (clean, SR) if clean_input else (resample(degraded, SR, DEGRADED_SR), DEGRADED_SR)
        out, _ = restore(source, rate, name, params, sample_rate=SR)
        rows.append(spectral_scores(clean, out, visqol=visqol))
    return {key: float(np.mean([r[key] for r in rows])) for key in rows[0]}


def evaluate(args: argparse.Namespace) -> int:
    """``--evaluate CHECKPOINT``: scores of the U-Net, passthrough and sbr on real recordings, as JSON."""
    from .data import cached_pairs, clip_files

    real = clip_files(args.data, "real")
    files = real[:: max(1, len(real) // args.val_clips)][: args.val_clips]
    config = degradation(args.codecs)
    pairs = [p for i, f in enumerate(files) for p in
             cached_pairs([f], seeds=[VALID_SEED + i], cache=args.cache, config=config)]
    unet = {"checkpoint": str(Path(args.evaluate).resolve())}
    report = {"clips": [p.name for p in pairs], "degraded": {}, "clean_input": {}}
    for name in ("passthrough", "sbr", "unet"):
        if _importable(name):
            params = unet if name == "unet" else None
            report["degraded"][name] = method_scores(pairs, name, params, visqol=args.visqol)
            report["clean_input"][name] = method_scores(pairs, name, params, clean_input=True, visqol=args.visqol)
    print(json.dumps(report, indent=2))
    return 0


def spectral_scores(clean: np.ndarray, out: np.ndarray, sr: int = 48000, *, visqol: bool = False) -> dict[str, float]:
    """LSD (full band and above 16 kHz, dB), SI-SDR (dB), MR-STFT, HF envelope correlation (and ViSQOL)
    of ``out`` against ``clean`` (both at ``sr``), from :func:`restoration.analysis.metrics.reference_metrics`."""
    from ..analysis.metrics import reference_metrics

    values = reference_metrics(out, sr, clean, sr, visqol=visqol)
    keys = ("lsd", "lsd_hf", "si_sdr", "mrstft", "hf_env_corr") + (("visqol",) if visqol else ())
    return {key: float(values[key]) for key in keys}


def _val_key(args: argparse.Namespace) -> str:
    """What the validation scores depend on besides the model: the data, the clips and the chain."""
    return f"{Path(args.data).resolve()}|{args.val_clips}|{args.codecs}|float32"


def _importable(name: str) -> bool:
    from ..registry import get_method

    try:
        get_method(name).function()
    except ImportError:
        return False
    return True


class RunLog:
    """Append-only JSON-lines log with a wall-clock time stamp; also echoes each record to stdout."""

    def __init__(self, path: Path) -> None:
        self.path, self.start = path, time.time()

    def write(self, record: dict) -> None:
        record = {"time_s": round(time.time() - self.start, 1), **record}
        line = json.dumps(record, default=_plain)
        with self.path.open("a") as handle:
            handle.write(line + "\n")
        print(line, flush=True)

    def progress(self, what: str) -> Callable[[int, int], None]:
        def report(done: int, total: int) -> None:
            if done == total or done % 10 == 0:
                self.write({"event": what, "done": done, "total": total})
        return report


def _plain(value):
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, (Path, tuple, set)):
        return str(value) if isinstance(value, Path) else list(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
