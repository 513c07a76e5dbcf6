"""``python -m restoration train``: train the spectral U-Net on corpus pairs, resumably, with validation.

The run folder (``--out``) holds ``state.pt`` (model + optimizer + data state, for ``--resume``;
never shipped), ``log.jsonl`` (one JSON object per logged step or validation), and ``best/`` — the
checkpoint (``model.safetensors`` + ``config.json``) with the best validation score on held-out
real recordings (``--data/real``, spread over the genres of the corpus manifest) degraded by the
project's chain with low-pass cutoffs in ``--cutoffs``: the mean ViSQOL of the first
``--visqol-clips`` clips, or (with 0) the lowest LSD above 16 kHz. Copy ``best/`` to
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

from ..arguments import check_folder, finite_number, whole_number
from ..errors import BadInputError, CheckpointError

#: Model sizes selectable with ``--size``: keyword arguments of UNetConfig.
_SHIPPED = {"envelope_prior": True, "keep_below_cutoff": True}
SIZES = {
    "default": _SHIPPED,
    "wide": {**_SHIPPED, "channels": (128, 192, 256)},  # twice the width: level with default (docs/research/unet-log.md, session 11)
    "small": {"channels": (48, 64, 96)},
    "tiny": {"channels": (16, 24), "shifts": (64, 128, 192, 256)},
}
VALID_SEED = 10_000
#: ``--*-weight``: the weight of a loss term, 0 (off) or more.
WEIGHT = finite_number(0.0, 1e6)
#: Low-pass cutoff range of the degradation (``--cutoffs``: "LOW,HIGH" Hz), issue 11's 10 to 15.5 kHz.
DEFAULT_CUTOFFS = "10000,15500"
HF_HZ = 16000.0
#: Bands (Hz) of the level-bias report: the restored level against the clean clip's, dB.
BIAS_BANDS = ((12000, 14000), (14000, 16000), (16000, 18000), (18000, 20000), (20000, 22000))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", default="data/corpus", help="corpus folder with train/ and real/ clips (48 kHz)")
    parser.add_argument("--out", default="runs/unet", help="run folder: state.pt, log.jsonl, best/")
    parser.add_argument("--steps", type=whole_number(1, 10**9), default=3000, help="total optimizer steps")
    parser.add_argument("--resume", action="store_true", help="continue from OUT/state.pt")
    parser.add_argument("--size", choices=tuple(SIZES), default="default", help="model size")
    parser.add_argument("--batch-size", type=whole_number(1, 4096), default=8, help="segments per step")
    parser.add_argument("--segment-s", type=finite_number(0.0, 60.0, low_open=True), default=1.0,
                        help="segment length, seconds")
    parser.add_argument("--lr", type=finite_number(0.0, 1.0, low_open=True), default=2e-3,
                        help="peak Adam learning rate (cosine decay)")
    parser.add_argument("--seed", type=whole_number(0, 2**31 - 1), default=0,
                        help="seed of the model, the batches and the degradation")
    parser.add_argument("--seeds-per-clip", type=whole_number(1, 1000), default=2,
                        help="degradations drawn per training clip")
    parser.add_argument("--val-clips", type=whole_number(1, 100_000), default=16,
                        help="held-out real recordings used for validation "
                        "(spread over genres)")
    parser.add_argument("--visqol-clips", type=whole_number(0, 100_000), default=8,
                        help="validation clips also scored by ViSQOL, which "
                        "then selects the best checkpoint (0: select by LSD above 16 kHz)")
    parser.add_argument("--cutoffs", default=DEFAULT_CUTOFFS, help="low-pass cutoff range of the degradation, Hz "
                        "(LOW,HIGH; empty = the chain's default)")
    parser.add_argument("--init", metavar="CHECKPOINT", default=None, help="warm start: copy every weight of this "
                        "checkpoint whose shape matches (new replication shifts and the noise gain start at zero)")
    parser.add_argument("--fresh-head", action="store_true", help="with --init: copy the trunk only; the output "
                        "head starts at its initial values (with the envelope prior: the sbr rule, copies off)")
    parser.add_argument("--report", default=None, help="with --evaluate: also write the JSON report to this file")
    parser.add_argument("--val-every", type=whole_number(1, 10**9), default=200, help="validate and save every N steps")
    parser.add_argument("--refresh-every", type=whole_number(1, 10**9), default=400,
                        help="add newly arrived corpus clips every N steps")
    parser.add_argument("--new-pairs", type=whole_number(0, 10**9), default=0,
                        help="degrade at most this many new clips at the start "
                        "and at each refresh (0: all); the run starts sooner and the data grows as it trains")
    parser.add_argument("--threads", type=whole_number(1, 1024), default=2, help="torch CPU threads")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"), help="training device")
    parser.add_argument("--cache", default="data/unet_pairs", help="folder of cached degraded pairs")
    parser.add_argument("--evaluate", metavar="CHECKPOINT", default=None,
                        help="only evaluate this checkpoint folder against passthrough and sbr on --val-clips "
                             "real recordings (and on the clean clips: do no harm), print JSON and exit")
    parser.add_argument("--visqol", action="store_true", help="include ViSQOL in --evaluate (slow)")
    parser.add_argument("--split", default="real", choices=("real", "unseen"), help="with --evaluate: the held-out "
                        "tracks of the training packages (real) or the packages no model was trained or selected "
                        "on (unseen)")
    parser.add_argument("--methods", default="passthrough,sbr,unet", help="with --evaluate: the methods to score")
    parser.add_argument("--visqol-weight", type=WEIGHT, default=6.0, help="weight of the ViSQOL surrogate term "
                        "(5 - predicted MOS) in the loss; 0 trains on the spectral terms only")
    parser.add_argument("--adversarial-weight", type=WEIGHT, default=0.0, help="weight of the adversarial term "
                        "(multi-resolution spectrogram discriminator + feature matching); 0: none")
    parser.add_argument("--ema", type=finite_number(0.0, 1.0, high_open=True), default=0.998,
                        help="decay per step of the moving average of the "
                        "weights that is validated and saved (0: the raw weights)")
    parser.add_argument("--level-weight", type=WEIGHT, default=0.25, help="weight of the band-level term in the loss")
    parser.add_argument("--level-quantile", type=finite_number(0.0, 1.0, low_open=True, high_open=True), default=0.5,
                        help="quantile of the band-level term: 0.5 is the "
                        "plain L1 (the median level); below 0.5 a band too loud costs more than one too quiet, so where "
                        "the level is uncertain the model errs dark")
    parser.add_argument("--hf-weight", type=WEIGHT, default=2.0, help="extra weight of the bins above 11 kHz in the "
                        "log-magnitude terms of the multi-resolution STFT loss (each weighs 1 + this)")
    parser.add_argument("--packages", default="", help="comma-separated source packages whose training clips are used "
                        "(from the corpus manifest; empty = all)")
    parser.add_argument("--codecs", default="", help="comma-separated codecs the degradation may draw "
                        "(from restoration.degrade.CODECS; empty = the chain's default mix)")


def run(args: argparse.Namespace) -> int:
    import torch

    from ..models.checkpoint import save_checkpoint
    from ..models.unet import SpectralUNet, UNetConfig
    from .data import Batches, cached_pairs, clip_files, pair_path, take_files
    from .losses import RestorationLoss

    if args.evaluate:
        return evaluate(args)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    device = "cuda" if args.device == "auto" and torch.cuda.is_available() else args.device.replace("auto", "cpu")
    out = check_folder(args.out)
    # everything a user can get wrong is checked before OUT is made: nothing is left behind by a refused run
    degrade_config = degradation(args.codecs, args.cutoffs)
    training_files(args.data, args.packages)
    validation_files(args.data, args.val_clips)
    model = SpectralUNet(UNetConfig(**SIZES[args.size])).to(device)
    resuming = args.resume and (out / "state.pt").exists()
    copied = warm_start(model, args.init, head=not args.fresh_head) if args.init and not resuming else None
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    averaged = averaged_model(model, args.ema)
    step, best, data_seed = 0, -math.inf, args.seed
    if resuming:
        state = load_state(out / "state.pt", model, optimizer, averaged, device=device)
        step, best, data_seed = int(state["step"]), float(state["best"]), int(state["data_seed"]) + 1
        if state.get("val_key") != _val_key(args):  # other validation data: scores not comparable
            best = -math.inf
    out.mkdir(parents=True, exist_ok=True)
    log = RunLog(out / "log.jsonl")
    if copied is not None:
        log.write({"event": "init", "checkpoint": args.init, "tensors": copied})
    if resuming:
        log.write({"event": "resume", "step": step, "best": best})

    bandwidths = clip_bandwidths(args.data)

    def pairs_for(files, seeds):
        return cached_pairs(files, seeds=seeds, cache=args.cache, config=degrade_config, bandwidths=bandwidths,
                            progress=log.progress("pairs"))

    seeds = [args.seed * 100 + k for k in range(args.seeds_per_clip)]

    def available() -> list[Path]:
        return take_files(training_files(args.data, args.packages), limit=args.new_pairs, ready=lambda f: all(
            pair_path(f, seed=s, cache=args.cache, config=degrade_config).exists() for s in seeds))

    train_files = available()
    train_pairs = pairs_for(train_files, seeds)
    val_files = validation_files(args.data, args.val_clips)
    val_pairs = [p for i, f in enumerate(val_files) for p in pairs_for([f], [VALID_SEED + i])]
    baselines = validation_baselines(val_pairs, out / f"baselines-{_slug(args.codecs, args.cutoffs)}-{len(val_pairs)}.json",
                                     visqol_clips=args.visqol_clips)
    log.write({"event": "data", "train_clips": len(train_files), "pairs": len(train_pairs),
               "val_clips": [p.name for p in val_pairs], "baselines": baselines})

    segment = int(round(args.segment_s * 48000))
    batches = Batches(train_pairs, segment=segment, batch_size=args.batch_size, seed=data_seed)
    loss_fn = RestorationLoss(level_weight=args.level_weight, level_quantile=args.level_quantile,
                              hf_weight=args.hf_weight, visqol_weight=args.visqol_weight,
                              adversarial_weight=args.adversarial_weight).to(device)
    recipe = {key: value for key, value in vars(args).items() if key != "func"}

    def on_step(i: int, loss: float) -> None:
        nonlocal best, batches, train_files
        if averaged is not None:
            averaged.update_parameters(model)
        if i % 20 == 0:
            log.write({"step": i, "loss": loss, **loss_fn.parts, "lr": optimizer.param_groups[0]["lr"]})
        if i % args.refresh_every == 0:
            now = available()
            if len(now) > len(train_files):
                train_files = now
                batches = Batches(pairs_for(now, seeds), segment=segment, batch_size=args.batch_size,
                                  seed=data_seed + i)
                log.write({"event": "refresh", "step": i, "train_clips": len(now)})
        if i % args.val_every == 0 or i == args.steps:
            shipped = model if averaged is None else averaged.module  # what is validated is what is saved
            scores = validate(shipped, val_pairs, device=device, visqol_clips=args.visqol_clips)
            improved = scores["selection"] > best
            if improved:
                best = scores["selection"]
                save_checkpoint(shipped, out / "best", training={
                    "recipe": recipe, "step": i, "train_clips": len(train_files),
                    "degradation_seeds": seeds, "validation": scores, "baselines": baselines})
            log.write({"event": "validation", "step": i, **scores, "best": improved})
            torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": i,
                        "best": best, "data_seed": data_seed, "val_key": _val_key(args),
                        **({} if averaged is None else {"averaged": averaged.state_dict()})}, out / ".state.tmp")
            (out / ".state.tmp").replace(out / "state.pt")

    fit(model, lambda: next(batches), loss_fn, optimizer, steps=args.steps, start=step, lr=args.lr,
        device=device, on_step=on_step)
    print(f"trained to step {args.steps}; best validation score {best:.3f}; checkpoint {out / 'best'}")
    return 0


def load_state(path: Path, model, optimizer, averaged, *, device: str) -> dict:
    """Load a run's ``state.pt`` into ``model``, ``optimizer`` and ``averaged`` (if any); returns the state.
    :class:`CheckpointError` when it is unreadable or was saved for another model size."""
    import pickle

    import torch

    try:
        state = torch.load(path, map_location=device, weights_only=True)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        if averaged is not None and "averaged" in state:
            averaged.load_state_dict(state["averaged"])
        int(state["step"]), float(state["best"]), int(state["data_seed"])
    except (OSError, EOFError, RuntimeError, ValueError, KeyError, TypeError, pickle.UnpicklingError) as exc:
        raise CheckpointError(f"cannot resume from {path}: unreadable or saved for another --size "
                              f"({type(exc).__name__}); use another --out or leave out --resume") from None
    return state


def averaged_model(model, decay: float):
    """An exponential moving average of ``model``'s weights (``torch.optim.swa_utils.AveragedModel``) with
    ``decay`` per step, or None for ``decay`` 0; validated and saved instead of the raw weights."""
    if not decay:
        return None
    from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

    averaged = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay))
    averaged.module.eval()
    return averaged


def warm_start(model, folder: str, *, head: bool = True) -> int:
    """Copy the weights of checkpoint ``folder`` into ``model`` where they fit; returns the tensors copied.

    Tensors of the same name and shape are copied. The head (one row block of ``bands`` rows per
    output, :meth:`~restoration.models.unet.SpectralUNet.head_blocks`) is copied block by block for every
    output both models have (the mask, shared shifts, the noise gain, the prior's gain); the other
    blocks keep their initial values. ``head=False`` copies the trunk only: the head keeps its initial
    values (identity mask, copies and noise off, the envelope prior at 0 dB: the ``sbr`` rule).
    """
    import torch

    from ..models.checkpoint import load_checkpoint

    source = load_checkpoint(folder)
    old, new = source.state_dict(), model.state_dict()
    copied = 0
    with torch.no_grad():
        for name, tensor in new.items():
            if name.startswith("head.") or name not in old or old[name].shape != tensor.shape:
                continue
            tensor.copy_(old[name])
            copied += 1
        old_blocks = source.head_blocks()
        blocks = {old_blocks.index(name): i for i, name in enumerate(model.head_blocks()) if name in old_blocks}
        bands = model.bands
        if head and source.bands == bands and old["head.weight"].shape[1] == new["head.weight"].shape[1]:
            for src, dst in blocks.items():
                for key in ("head.weight", "head.bias"):
                    new[key][dst * bands:(dst + 1) * bands] = old[key][src * bands:(src + 1) * bands]
            copied += 2
    return copied


def write_report(path: str, text: str) -> None:
    """Write ``text`` (a JSON report) to ``path``, creating its folder."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(text)


def training_files(root: str, packages: str = "") -> list[Path]:
    """The training clips of ``root`` (``train/``), only those of the comma-separated source ``packages`` of the
    manifest when given; :class:`BadInputError` when a named package has no training clip there."""
    from .data import clip_files

    files = clip_files(root, "train")
    wanted = [p.strip() for p in packages.split(",") if p.strip()]
    if not wanted:
        return files
    source = manifest_field(root, "source_package")
    missing = sorted(set(wanted) - {source.get(f"train/{f.name}") for f in files})
    if missing:
        raise BadInputError(f"--packages: no training clips of {', '.join(missing)} in {root}")
    return [f for f in files if source.get(f"train/{f.name}") in wanted]


def validation_files(root: str, count: int, split: str = "real") -> list[Path]:
    """``count`` clips of ``root/split`` spread over the genres of the manifest (round robin, stable)."""
    from .data import clip_files

    files = clip_files(root, split)
    genres = clip_genres(root)
    by_genre: dict[str, list[Path]] = {}
    for f in files:
        by_genre.setdefault(genres.get(f"{split}/{f.name}", "other"), []).append(f)
    groups = [by_genre[g] for g in sorted(by_genre)]
    spread = [g[i] for i in range(max(len(g) for g in groups)) for g in groups if i < len(g)]
    return spread[:count]


def clip_genres(root: str) -> dict[str, str]:
    """``{"real/x.flac": genre}`` from ``root/manifest.json`` (empty when there is none)."""
    return manifest_field(root, "genre")


def clip_bandwidths(root: str) -> dict[str, float]:
    """``{"x.flac": bandwidth Hz}`` of every clip that ``root/manifest.json`` measured (empty when none)."""
    return {Path(name).name: float(v) for name, v in manifest_field(root, "bandwidth_hz").items()}


def manifest_field(root: str, field: str) -> dict:
    """``{file: entry[field]}`` over the clips of ``root/manifest.json`` that have ``field``."""
    path = Path(root) / "manifest.json"
    try:
        return {e["file"]: e[field] for e in json.loads(path.read_text())["clips"] if field in e}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def degradation(codecs: str, cutoffs: str = ""):
    """The :class:`~restoration.degrade.DegradeConfig` drawing only from ``codecs`` (comma-separated,
    default weights renormalised) with low-pass cutoffs drawn in ``cutoffs`` ("LOW,HIGH" Hz); None for
    the default chain when both are empty."""
    from dataclasses import replace

    from ..degrade import CODECS, DegradeConfig

    names = [c.strip() for c in codecs.split(",") if c.strip()]
    if not names and not cutoffs.strip():
        return None
    config = DegradeConfig()
    if cutoffs.strip():
        try:
            low, high = (float(v) for v in cutoffs.split(","))
        except ValueError:
            raise BadInputError(f"--cutoffs must be LOW,HIGH in Hz, got {cutoffs!r}") from None
        if not 0 < low <= high < 24000:
            raise BadInputError(f"--cutoffs must satisfy 0 < LOW <= HIGH < 24000 Hz, got {cutoffs!r}")
        config = replace(config, cutoff_hz=(low, high))
    if not names:
        return config
    unknown = sorted(set(names) - set(CODECS))
    if unknown:
        raise BadInputError(f"unknown codec(s) {', '.join(unknown)}; choose from {', '.join(CODECS)}")
    weights = {c: config.codec_weights.get(c, 0.0) or 0.1 for c in names}
    total = sum(weights.values())
    return replace(config, codec_weights={c: w / total for c, w in weights.items()},
                   rvq_after_codec=config.rvq_after_codec if "rvq" in names else 0.0)


def fit(model, next_batch: Callable[[], tuple[np.ndarray, np.ndarray]], loss_fn, optimizer, *, steps: int,
        start: int = 0, lr: float = 1e-3, warmup: int = 100, device: str = "cpu",
        on_step: Callable[[int, float], None] | None = None) -> list[float]:
    """Optimise from step ``start`` to ``steps`` with a warm-up then cosine learning rate; returns the losses.

    ``next_batch()`` gives ``(inputs, targets)`` float32 ``(batch, samples)``, optionally followed by
    the targets' bandwidths float32 ``(batch,)`` Hz (the loss is masked above them);
    ``on_step(step, loss)`` runs after every step (logging, validation, saving).
    """
    import torch

    losses = []
    model.train()
    for step in range(start + 1, steps + 1):
        scale = min(1.0, step / warmup) * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * step / steps)))
        for group in optimizer.param_groups:
            group["lr"] = lr * scale
        inputs, targets, *bandwidth = (torch.from_numpy(a).to(device) for a in next_batch())
        loss = loss_fn(model(inputs), targets, *bandwidth)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        if torch.isfinite(loss) and torch.isfinite(norm):  # one bad batch must not poison the weights
            optimizer.step()
        losses.append(float(loss.detach()))
        if on_step is not None:
            model.eval()
            on_step(step, losses[-1])
            model.train()
    model.eval()
    return losses


def validate(model, pairs, *, device: str = "cpu", visqol_clips: int = 0) -> dict[str, float]:
    """Mean metrics of the model's output against the clean clip over ``pairs``, plus do-no-harm on clean input.

    Keys: those of :func:`spectral_scores` for the restoration; ``clean_lsd``, ``clean_si_sdr``,
    ``clean_mrstft`` of the model applied to the clean clip itself; ``bias_<lo>_<hi>``, the median
    band-level bias in dB (:func:`band_bias_db`); with ``visqol_clips``, ``visqol`` (mean over the first
    ``visqol_clips`` pairs); and ``selection``, the score that picks the best checkpoint (higher is
    better): ``visqol``, or ``-lsd_hf`` without ViSQOL.
    """
    import torch

    rows, biases, visqol = [], [], []
    with torch.inference_mode():
        for i, pair in enumerate(pairs):
            clean, degraded = pair.clean, pair.degraded
            restored = model(torch.from_numpy(degraded).to(device)).cpu().numpy()
            kept = model(torch.from_numpy(clean).to(device)).cpu().numpy()
            rows.append({**spectral_scores(clean, restored),
                         **{f"clean_{k}": v for k, v in spectral_scores(clean, kept).items()
                            if k in ("lsd", "si_sdr", "mrstft")}})
            biases.append(band_bias_db(clean, restored, bandwidth=pair.bandwidth))
            if i < visqol_clips:
                from ..analysis.metrics import visqol_moslqo
                visqol.append(visqol_moslqo(restored, 48000, clean, 48000))
    scores = {key: float(np.mean([r[key] for r in rows])) for key in rows[0]}
    scores.update(median_bias(biases))
    if visqol:
        scores["visqol"] = float(np.mean(visqol))
    scores["selection"] = scores["visqol"] if visqol else -scores["lsd_hf"]
    return scores


def band_bias_db(clean: np.ndarray, out: np.ndarray, *, bandwidth: float, sr: int = 48000) -> dict[str, float]:
    """Level of ``out`` against ``clean`` (both ``(channels, n)`` at ``sr``) per band of :data:`BIAS_BANDS`, dB.

    Mean power over the whole clip (mono mix, Hann-windowed 2048-point frames); NaN for bands above
    the clean clip's own ``bandwidth`` (Hz), where there is no reference to compare with.
    """
    from scipy.signal import welch

    n = min(clean.shape[-1], out.shape[-1])
    freqs, p_clean = welch(np.mean(clean[..., :n], axis=0), sr, nperseg=2048)
    _, p_out = welch(np.mean(out[..., :n], axis=0), sr, nperseg=2048)
    result = {}
    for lo, hi in BIAS_BANDS:
        band = (freqs >= lo) & (freqs < hi)
        result[f"bias_{lo // 1000}_{hi // 1000}"] = (float(10 * np.log10((p_out[band].sum() + 1e-20) / (p_clean[band].sum() + 1e-20)))
                                                    if hi <= bandwidth else float("nan"))
    return result


def median_bias(rows: list[dict[str, float]]) -> dict[str, float]:
    """Median over clips of each ``bias_*`` value, NaNs (bands above a clip's bandwidth) left out."""
    keys = rows[0].keys() if rows else ()
    values = {k: [r[k] for r in rows if np.isfinite(r[k])] for k in keys}
    return {k: float(np.median(v)) if v else float("nan") for k, v in values.items()}


def validation_baselines(pairs, path: Path, *, visqol_clips: int = 0) -> dict[str, dict[str, float]]:
    """:func:`method_scores` of ``passthrough`` and ``sbr`` on the validation pairs, cached in ``path``;
    with ``visqol_clips``, their mean ViSQOL over the first ``visqol_clips`` pairs as ``visqol``.

    A method whose module is not importable (not written yet) is left out and tried again next time.
    """
    result = json.loads(path.read_text()) if path.exists() else {}
    for name in ("passthrough", "sbr"):
        if name not in result and _importable(name):
            result[name] = method_scores(pairs, name)
            if visqol_clips:
                result[name]["visqol"] = method_scores(pairs[:visqol_clips], name, visqol=True)["visqol"]
    path.write_text(json.dumps(result, indent=2))
    return result


def method_scores(pairs, name: str, params: dict | None = None, *, clean_input: bool = False,
                  visqol: bool = False) -> dict[str, float]:
    """Mean :func:`spectral_scores` of registered method ``name`` over ``pairs`` (see :func:`method_rows`)."""
    rows = method_rows(pairs, name, params, clean_input=clean_input, visqol=visqol)
    return {key: float(np.mean([r[key] for r in rows])) for key in rows[0] if key.startswith(SCORE_KEYS)}


SCORE_KEYS = ("lsd", "si_sdr", "mrstft", "hf_env_corr", "visqol")


def method_rows(pairs, name: str, params: dict | None = None, *, clean_input: bool = False,
                visqol: bool = False) -> list[dict[str, float]]:
    """Per pair: :func:`spectral_scores` and :func:`band_bias_db` of registered method ``name``.

    The method gets each degraded clip at 32 kHz (``clean_input``: the clean clip at 48 kHz, to measure
    that it does no harm); its output is resampled to 48 kHz and compared with the clean clip.
    """
    rows = []
    for pair in pairs:
        out = restored(pair, name, params, clean_input=clean_input)
        rows.append({**spectral_scores(pair.clean, out, visqol=visqol),
                     **band_bias_db(pair.clean, out, bandwidth=pair.bandwidth)})
    return rows


def restored(pair, name: str, params: dict | None = None, *, clean_input: bool = False) -> np.ndarray:
    """Registered method ``name``'s 48 kHz output ``(channels, samples)`` for ``pair``: from its degraded
    clip at 32 kHz, as MusicGen delivers it (``clean_input``: from its clean clip at 48 kHz)."""
    from ..audio import resample
    from ..pipeline import restore
    from .data import DEGRADED_SR, SR

    source, rate = (pair.clean, SR) if clean_input else (resample(pair.degraded, SR, DEGRADED_SR), DEGRADED_SR)
    out, _ = restore(source, rate, name, params, sample_rate=SR)
    return out


def evaluation_pairs(data: str, count: int, split: str = "real", *, cache: str, codecs: str = "",
                     cutoffs: str = DEFAULT_CUTOFFS) -> tuple[list, list[str]]:
    """The first ``count`` clips of ``split`` (``real``: held out; ``unseen``) degraded as in validation
    (seeds ``VALID_SEED + i``), from ``cache``, and each clip's genre from the corpus manifest."""
    from .data import cached_pairs

    files = validation_files(data, count, split)
    genres = clip_genres(data)
    config = degradation(codecs, cutoffs)
    bandwidths = clip_bandwidths(data)
    pairs = [p for i, f in enumerate(files) for p in
             cached_pairs([f], seeds=[VALID_SEED + i], cache=cache, config=config, bandwidths=bandwidths)]
    return pairs, [genres.get(f"{split}/{f.name}", "other") for f in files]


def evaluate(args: argparse.Namespace) -> int:
    """``--evaluate CHECKPOINT``: the methods or chains of ``--methods`` (default the U-Net, passthrough and
    sbr) on ``--val-clips`` held-out real recordings (``--split``: ``real`` or ``unseen``); a chain with the
    U-Net in it runs CHECKPOINT and is scored on clean input too.

    The clips are degraded as in validation (``--cutoffs``, ``--codecs``, seeds ``VALID_SEED + i``).
    The JSON report has per-method means, the median band-level bias, per-genre means, the same on
    the clean 48 kHz clips (do no harm), and every clip's row; printed, and written to ``--report``.
    """
    from ..arguments import check_folder, check_output_file
    from ..registry import parse_chain

    if args.report:  # refused before the evaluation, not after it (write_report makes its folder)
        check_folder(check_output_file(args.report, what="--report").parent, what="--report")
    pairs, clip_genre = evaluation_pairs(args.data, args.val_clips, args.split, cache=args.cache,
                                         codecs=args.codecs, cutoffs=args.cutoffs)
    unet = {"checkpoint": str(Path(args.evaluate).resolve())}
    report = {"split": args.split, "clips": [p.name for p in pairs], "genres": clip_genre, "cutoffs": args.cutoffs,
              "codecs": args.codecs, "degraded": {}, "clean_input": {}, "rows": {}}
    for name in [m.strip() for m in args.methods.split(",") if m.strip()]:
        if not _importable(name):
            continue
        params = unet if any(stage.name == "unet" for stage in parse_chain(name)) else None
        for part, clean_input in (("degraded", False), ("clean_input", True)):
            if clean_input and params is None:  # do no harm is the U-Net's target; the DSP rows are known
                continue
            where = "" if args.split == "real" else f"{args.split}-"
            cache = (Path(args.cache) / f"eval-{name}-{part}-{where}{len(pairs)}-{_slug(args.codecs, args.cutoffs)}"
                     f"{'-visqol' if args.visqol else ''}.json")
            if params is None and cache.exists():  # the DSP methods do not change between checkpoints
                rows = json.loads(cache.read_text())
            else:
                rows = method_rows(pairs, name, params, clean_input=clean_input, visqol=args.visqol)
                if params is None:
                    cache.write_text(json.dumps(rows, default=_plain))
            report[part][name] = summarise(rows, clip_genre)
            report["rows"][f"{part}/{name}"] = rows
    text = json.dumps(report, indent=2, default=_plain)
    if args.report:
        write_report(args.report, text + "\n")
    print(text)
    return 0


def summarise(rows: list[dict[str, float]], genres: list[str]) -> dict:
    """Means of the scores, median band biases, and the means per genre, of per-clip ``rows``."""
    def means(subset):
        return {k: float(np.nanmean([r[k] for r in subset])) for k in subset[0] if k.startswith(SCORE_KEYS)}

    summary = {**means(rows), **median_bias([{k: v for k, v in r.items() if k.startswith("bias_")} for r in rows])}
    summary["per_genre"] = {g: means([r for r, rg in zip(rows, genres) if rg == g]) for g in sorted(set(genres))}
    return summary


def spectral_scores(clean: np.ndarray, out: np.ndarray, sr: int = 48000, *, visqol: bool = False) -> dict[str, float]:
    """LSD (full band and above 16 kHz, dB), SI-SDR (dB), MR-STFT, HF envelope correlation (and ViSQOL)
    of ``out`` against ``clean`` (both at ``sr``), from :func:`restoration.analysis.metrics.reference_metrics`."""
    from ..analysis.metrics import reference_metrics

    values = reference_metrics(out, sr, clean, sr, visqol=visqol)
    keys = ("lsd", "lsd_hf", "si_sdr", "mrstft", "hf_env_corr") + (("visqol",) if visqol else ())
    return {key: float(values[key]) for key in keys}


def _val_key(args: argparse.Namespace) -> str:
    """What the validation scores depend on besides the model: the data, the clips, the chain, the score."""
    return f"{Path(args.data).resolve()}|{args.val_clips}|{args.visqol_clips}|{args.codecs}|{args.cutoffs}|v2"


def _slug(*parts: str) -> str:
    return "_".join(p.replace(",", "-") for p in parts if p) or "default"


def _importable(name: str) -> bool:
    """Whether every stage of the method or chain ``name`` can run here (its optional packages import)."""
    from ..registry import parse_chain

    try:
        for stage in parse_chain(name):
            stage.function()
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
