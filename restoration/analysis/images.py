"""Screen-resolution comparison pictures drawn straight from the shared STFT (no matplotlib figures).

Each picture is a PIL image with its axes drawn by PIL: a spectrogram pair on one colour scale,
the difference spectrogram, and the long-term spectra overlay. They are made from the
:class:`~restoration.analysis.compare.SignalView` powers pooled to the pixel grid, so a picture
costs a few milliseconds whatever the clip's length. Levels are in dB relative to a full-scale
sine, as in :mod:`restoration.analysis.plots`.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from .compare import SignalView
from .metrics import HF_HZ, N_FFT
from .plots import DIFF_CMAP, DIFF_MAX_DB, FLOOR_DB, PSD_LOW_HZ, PSD_RANGE_DB, RANGE_DB, SPEC_CMAP

#: Pixels of one spectrogram panel (plot area, without axes).
PANEL_W, PANEL_H = 420, 220
#: Margins around a panel for ticks and labels, pixels: left, top, right, bottom.
MARGIN = (44, 20, 8, 30)
#: Width of the colour bar and its labels, pixels.
COLORBAR_W = 56
#: Line colours of the spectra overlay, one per signal.
LINE_COLOURS = ((31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40))
_BG, _INK, _GRID = (255, 255, 255), (30, 30, 30), (225, 225, 225)
#: One-sided magnitude of a full-scale sine in a Hann-windowed frame: sum(window) / 2.
_SINE_MAG = N_FFT / 4


@functools.lru_cache(maxsize=4)
def _font(size: int = 11):
    from PIL import ImageFont

    return ImageFont.load_default(size=size)


def _pool(power: np.ndarray, n: int, axis: int) -> np.ndarray:
    """Mean of ``power`` over ``n`` equal groups along ``axis`` (nearest element when it is shorter)."""
    length = power.shape[axis]
    starts = (np.arange(n) * length) // n
    if length < n:
        return np.take(power, starts, axis=axis)
    counts = np.diff(np.append(starts, length)).astype(np.float64)
    shape = [1] * power.ndim
    shape[axis] = n
    return np.add.reduceat(power, starts, axis=axis) / counts.reshape(shape)


def level_grid(view: SignalView, top_hz: float, *, width: int = PANEL_W, height: int = PANEL_H) -> np.ndarray:
    """dB levels of ``view``'s mono power on a ``(height, width)`` grid: rows 0..``top_hz`` (bottom row
    first), columns over the clip. Rows above the signal's Nyquist are NaN (no content there).
    Kept in ``view.cache``, so the pair and the difference share it."""
    key = ("level_grid", top_hz, width, height)
    if key not in view.cache:
        view.cache[key] = _level_grid(view, top_hz, width, height)
    return view.cache[key]


def _level_grid(view: SignalView, top_hz: float, width: int, height: int) -> np.ndarray:
    power = _pool(view.mono_power, width, axis=1)
    bins = power.shape[0]
    row_hz = (np.arange(height) + 0.5) * top_hz / height
    inside = row_hz <= view.sr / 2
    grid = np.full((height, width), np.nan)
    # each row averages the bins between its lower and upper edge (at least one bin)
    edges = ((np.arange(height + 1) * top_hz / height) / (view.sr / 2) * (bins - 1)).astype(int)
    lo = np.minimum(edges[:-1][inside], bins - 1)
    hi = np.minimum(np.maximum(edges[1:][inside], lo + 1), bins)
    cumulative = np.vstack([np.zeros((1, width)), np.cumsum(power, axis=0)])
    rows = (cumulative[hi] - cumulative[lo]) / (hi - lo)[:, None]
    grid[inside] = np.maximum(10.0 * np.log10(rows / _SINE_MAG ** 2 + 1e-30), FLOOR_DB)
    return grid


def _colour(values: np.ndarray, cmap: str, vmin: float, vmax: float) -> np.ndarray:
    """RGB uint8 ``(h, w, 3)`` of ``values`` (top row = highest frequency); NaN is the map's lowest colour
    for a spectrogram and white for a difference."""
    import matplotlib

    colormap = matplotlib.colormaps[cmap]
    scaled = np.clip((values - vmin) / (vmax - vmin), 0.0, 1.0)
    nan = np.isnan(values)
    rgb = colormap(np.where(nan, 0.0 if cmap == SPEC_CMAP else 0.5, scaled)[::-1], bytes=True)[..., :3]
    return np.ascontiguousarray(rgb)


class _Canvas:
    """A white image with plot panels placed left to right (``stacked``: top to bottom) and a colour
    bar or legend on the right."""

    def __init__(self, panels: int, *, right: int = COLORBAR_W, panel_w: int = PANEL_W, panel_h: int = PANEL_H,
                 stacked: bool = False):
        from PIL import Image, ImageDraw

        left, top, gap, bottom = MARGIN
        self.panel_w, self.panel_h, self.stacked = panel_w, panel_h, stacked
        across, down = (1, panels) if stacked else (panels, 1)
        self.width = across * (left + panel_w + gap) + right
        self.height = down * (top + panel_h + bottom)
        self.image = Image.new("RGB", (self.width, self.height), _BG)
        self.draw = ImageDraw.Draw(self.image)

    def origin(self, index: int) -> tuple[int, int]:
        left, top, gap, bottom = MARGIN
        if self.stacked:
            return left, index * (top + self.panel_h + bottom) + top
        return index * (left + self.panel_w + gap) + left, top

    def paste(self, index: int, rgb: np.ndarray) -> None:
        from PIL import Image

        self.image.paste(Image.fromarray(rgb), self.origin(index))

    def text(self, xy, text: str, *, anchor: str = "la", size: int = 11, fill=_INK) -> None:
        self.draw.text(xy, text, fill=fill, font=_font(size), anchor=anchor)

    def frame(self, index: int, *, title: str, x_ticks: list[tuple[float, str]], y_ticks: list[tuple[float, str]],
              x_label: str, y_label: str) -> None:
        """Box, ticks at fractions of the panel (0 = left/bottom), labels and the title."""
        x0, y0 = self.origin(index)
        x1, y1 = x0 + self.panel_w, y0 + self.panel_h
        self.draw.rectangle((x0 - 1, y0 - 1, x1, y1), outline=_INK)
        for fraction, label in x_ticks:
            x = x0 + fraction * self.panel_w
            self.draw.line((x, y1, x, y1 + 3), fill=_INK)
            self.text((x, y1 + 4), label, anchor="ma", size=10)
        for fraction, label in y_ticks:
            y = y1 - fraction * self.panel_h
            self.draw.line((x0 - 4, y, x0 - 1, y), fill=_INK)
            self.text((x0 - 6, y), label, anchor="rm", size=10)
        self.text(((x0 + x1) / 2, y1 + 16), x_label, anchor="ma", size=10)
        self.text((x0 - MARGIN[0] + 2, y0 - 16), y_label, size=10)
        self.text(((x0 + x1) / 2, y0 - 16), title, anchor="ma", size=12)

    def colorbar(self, cmap: str, vmin: float, vmax: float, label: str) -> None:
        x0 = self.width - COLORBAR_W + 6
        y0, h = MARGIN[1], self.height - MARGIN[1] - MARGIN[3]  # from the first panel's top to the last's bottom
        ramp = np.linspace(vmax, vmin, h)[:, None].repeat(10, axis=1)
        self.paste_at((x0, y0), _colour(ramp[::-1], cmap, vmin, vmax))
        self.draw.rectangle((x0 - 1, y0 - 1, x0 + 10, y0 + h), outline=_INK)
        for value in (vmax, (vmin + vmax) / 2, vmin):
            y = y0 + (vmax - value) / (vmax - vmin) * h
            self.text((x0 + 13, y), f"{value:+.0f}" if cmap == DIFF_CMAP else f"{value:.0f}", anchor="lm", size=10)
        self.text((x0 + 13, y0 + h + 16), label, anchor="ma", size=10)

    def paste_at(self, xy, rgb: np.ndarray) -> None:
        from PIL import Image

        self.image.paste(Image.fromarray(rgb), xy)

    def hline(self, index: int, fraction: float, *, fill, dash: int = 4) -> None:
        x0, y0 = self.origin(index)
        y = y0 + self.panel_h - fraction * self.panel_h
        for x in range(x0, x0 + self.panel_w, 2 * dash):
            self.draw.line((x, y, min(x + dash, x0 + self.panel_w - 1), y), fill=fill)


def _time_ticks(duration_s: float) -> list[tuple[float, str]]:
    step = _nice_step(duration_s / 5)
    return [(t / duration_s, f"{t:g}") for t in np.arange(0.0, duration_s + 1e-9, step)]


def _khz_ticks(top_hz: float) -> list[tuple[float, str]]:
    step = _nice_step(top_hz / 1000 / 5)
    return [(f * 1000 / top_hz, f"{f:g}") for f in np.arange(0.0, top_hz / 1000 + 1e-9, step)]


def _nice_step(raw: float) -> float:
    power = 10.0 ** math.floor(math.log10(max(raw, 1e-9)))
    return next(power * k for k in (1, 2, 5, 10) if power * k >= raw)


def spectrogram_pair(original: SignalView, restored: SignalView, *, titles=("Original", "Restored"),
                     stacked: bool = False):
    """Two spectrograms on one colour scale (90 dB below the louder maximum) and one frequency axis
    (0 to the higher Nyquist, so a band a signal lacks shows as empty), a dashed line at 16 kHz;
    side by side, or the original above the restored one (``stacked``: half as wide, for narrow screens)."""
    top_hz = max(original.sr, restored.sr) / 2
    grids = [level_grid(view, top_hz) for view in (original, restored)]
    vmax = max(float(np.nanmax(g)) for g in grids)
    vmin = vmax - RANGE_DB
    canvas = _Canvas(2, stacked=stacked)
    for index, (grid, view, title) in enumerate(zip(grids, (original, restored), titles)):
        canvas.paste(index, _colour(grid, SPEC_CMAP, vmin, vmax))
        canvas.frame(index, title=f"{title} ({view.sr / 1000:g} kHz)", x_ticks=_time_ticks(view.duration_s),
                     y_ticks=_khz_ticks(top_hz), x_label="time (s)", y_label="kHz")
        if HF_HZ < top_hz:
            canvas.hline(index, HF_HZ / top_hz, fill=(255, 255, 255))
    canvas.colorbar(SPEC_CMAP, vmin, vmax, "dB")
    return canvas.image


def difference_spectrogram(original: SignalView, restored: SignalView):
    """Restored minus original in dB on the common grid, each floored 90 dB below the pair's maximum;
    symmetric limits at the 99th percentile of ``|difference|`` rounded up to 5 dB (5..40 dB). Red: louder."""
    top_hz = max(original.sr, restored.sr) / 2
    grid_a, grid_b = (level_grid(view, top_hz) for view in (original, restored))
    floor = max(float(np.nanmax(grid_a)), float(np.nanmax(grid_b))) - RANGE_DB
    diff = np.maximum(np.nan_to_num(grid_b, nan=floor), floor) - np.maximum(np.nan_to_num(grid_a, nan=floor), floor)
    limit = float(np.clip(5.0 * np.ceil(np.percentile(np.abs(diff), 99) / 5.0), 5.0, DIFF_MAX_DB))
    canvas = _Canvas(1)
    canvas.paste(0, _colour(diff, DIFF_CMAP, -limit, limit))
    canvas.frame(0, title="Restored - Original", x_ticks=_time_ticks(restored.duration_s),
                 y_ticks=_khz_ticks(top_hz), x_label="time (s)", y_label="kHz")
    if HF_HZ < top_hz:
        canvas.hline(0, HF_HZ / top_hz, fill=(0, 0, 0))
    canvas.colorbar(DIFF_CMAP, -limit, limit, "dB")
    return canvas.image


def spectrum_density(view: SignalView) -> tuple[np.ndarray, np.ndarray]:
    """``(frequencies in Hz, power spectral density in dB re 1 FS²/Hz)`` of the mono downmix from its
    long-term spectrum (Hann 2048, hop 512; DC left out); a Welch estimate with 75 % overlap."""
    freqs = np.fft.rfftfreq(N_FFT, 1.0 / view.sr)[1:]
    density = view.ltas[1:] * 2.0 / (view.sr * 0.375 * N_FFT)  # one-sided; sum(hann**2) = 0.375 n_fft
    return freqs, 10.0 * np.log10(density + 1e-20)


def _per_pixel(freq: np.ndarray, level_db: np.ndarray, span: float, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Average the density (in power) of the bins that fall on each pixel column of a log axis."""
    keep = freq >= PSD_LOW_HZ
    column = np.minimum((np.log10(freq[keep] / PSD_LOW_HZ) / span * width).astype(int), width - 1)
    counts = np.bincount(column, minlength=width)
    power = np.bincount(column, weights=10.0 ** (level_db[keep] / 10.0), minlength=width)
    centres = np.bincount(column, weights=freq[keep], minlength=width)
    used = counts > 0
    return centres[used] / counts[used], 10.0 * np.log10(power[used] / counts[used] + 1e-20)


def psd_overlay(views: dict[str, SignalView]):
    """Long-term spectra of the signals on a log-frequency axis (20 Hz to the highest Nyquist,
    120 dB below the highest density), a legend, and a dashed line at 16 kHz."""
    curves = {label: spectrum_density(view) for label, view in views.items()}
    high = max(view.sr / 2 for view in views.values())
    top = max(float(level.max()) for _, level in curves.values()) + 5.0
    bottom = top - PSD_RANGE_DB - 5.0
    canvas = _Canvas(1, right=COLORBAR_W + 90)  # room for the legend's labels
    x0, y0 = canvas.origin(0)
    w, h = canvas.panel_w, canvas.panel_h
    span = math.log10(high / PSD_LOW_HZ)

    def xy(freq: np.ndarray, level: np.ndarray) -> list[tuple[float, float]]:
        x = x0 + np.log10(np.maximum(freq, PSD_LOW_HZ) / PSD_LOW_HZ) / span * w
        y = y0 + h - (np.clip(level, bottom, top) - bottom) / (top - bottom) * h
        return list(zip(x.tolist(), y.tolist()))

    decades = [f for f in (20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000) if f <= high]
    levels = [v for v in range(int(math.ceil(bottom / 20) * 20), int(top) + 1, 20)]
    for f in decades:
        x = x0 + math.log10(f / PSD_LOW_HZ) / span * w
        canvas.draw.line((x, y0, x, y0 + h), fill=_GRID)
    for v in levels:
        y = y0 + h - (v - bottom) / (top - bottom) * h
        canvas.draw.line((x0, y, x0 + w, y), fill=_GRID)
    if HF_HZ < high:
        x = x0 + math.log10(HF_HZ / PSD_LOW_HZ) / span * w
        for y in range(y0, y0 + h, 8):
            canvas.draw.line((x, y, x, y + 4), fill=(128, 128, 128))
    for colour, (freq, level) in zip(LINE_COLOURS, curves.values()):
        canvas.draw.line(xy(*_per_pixel(freq, level, span, w)), fill=colour, width=2)
    canvas.frame(0, title="Power spectral density", y_label="dB/Hz", x_label="frequency (Hz)",
                 x_ticks=[(math.log10(f / PSD_LOW_HZ) / span, f"{f / 1000:g}k" if f >= 1000 else str(f))
                          for f in decades],
                 y_ticks=[((v - bottom) / (top - bottom), str(v)) for v in levels])
    legend_x = x0 + w + 14
    for row, (colour, label) in enumerate(zip(LINE_COLOURS, curves)):
        y = y0 + 8 + 18 * row
        canvas.draw.line((legend_x, y, legend_x + 14, y), fill=colour, width=3)
        canvas.text((legend_x + 18, y), label if len(label) <= 22 else label[:21] + "…", anchor="lm", size=10)
    return canvas.image


def save_png(image, path) -> str:
    """Write ``image`` as PNG (fast compression) and return the path as a string."""
    image.save(path, format="PNG", compress_level=1)
    return str(path)
