"""How closely the training loss's ViSQOL surrogate follows ViSQOL on real clips.

    python research/visqol_surrogate_check.py REFERENCE.wav [ESTIMATE.wav ...]

With only a reference, the estimates are made from it: 6 kHz / 11 kHz / 14 kHz low-passes, added
hiss, and a brightened copy. Prints, per estimate, ViSQOL's MOS and the surrogate's, the median
gap between the two 32-band spectrograms (dB) and the correlation of the band similarities.
"""

from __future__ import annotations

import sys

import numpy as np
import torch
from scipy.signal import butter, sosfiltfilt


def variants(ref: np.ndarray, sr: int) -> dict[str, np.ndarray]:
    out = {}
    for hz in (6000, 11000, 14000):
        out[f"lowpass {hz} Hz"] = sosfiltfilt(butter(8, hz, fs=sr, output="sos"), ref)
    rng = np.random.default_rng(0)
    out["hiss -50 dB"] = ref + 10 ** (-50 / 20) * rng.standard_normal(ref.shape)
    high = sosfiltfilt(butter(4, 8000, "high", fs=sr, output="sos"), ref)
    out["+6 dB above 8 kHz"] = ref + high
    return out


def main(argv: list[str]) -> int:
    from visqol.analysis_window import AnalysisWindow
    from visqol.audio_utils import AudioSignal, scale_to_match_sound_pressure_level
    from visqol.gammatone import GammatoneSpectrogramBuilder

    sys.path.insert(0, ".")
    from restoration.analysis.metrics import visqol_moslqo
    from restoration.audio import load_audio
    from restoration.training.visqol_surrogate import BANDS, MIN_FREQ, VisqolSurrogate

    sr = 48000
    ref = load_audio(argv[0], sr=sr)[0].mean(axis=0).astype(np.float64)
    estimates = ({p: load_audio(p, sr=sr)[0].mean(axis=0).astype(np.float64) for p in argv[1:]}
                 or variants(ref, sr))
    surrogate = VisqolSurrogate(sr)
    builder = GammatoneSpectrogramBuilder(BANDS, MIN_FREQ, speech_mode=False)
    window = AnalysisWindow(sr, 0.25)
    true_ref = 10 * np.log10(builder.build(AudioSignal(ref, sr), window).data + 1e-20)
    ours_ref = surrogate.spectrogram(torch.tensor(ref, dtype=torch.float32)[None])[0].double().numpy()
    n = min(true_ref.shape[1], ours_ref.shape[1])
    gap = np.abs(true_ref[:, :n] - ours_ref[:, :n])
    print(f"reference spectrogram: median |gap| {np.median(gap):.2f} dB, 90th percentile {np.percentile(gap, 90):.2f} dB")
    for name, est in estimates.items():
        est = np.ascontiguousarray(est[: ref.shape[0]])
        true = visqol_moslqo(est, sr, ref[: est.shape[0]], sr)
        with torch.no_grad():
            ours = float(surrogate(torch.tensor(est, dtype=torch.float32)[None],
                                   torch.tensor(ref[: est.shape[0]], dtype=torch.float32)[None])[0])
        print(f"{name:24s} ViSQOL {true:.3f}  surrogate {ours:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
