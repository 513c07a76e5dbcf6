"""Plots return Figures with the promised axes, limits, colour scales and legends, and save as PNG."""

import numpy as np
import pytest
from matplotlib.figure import Figure

from restoration.analysis import plots
from restoration.errors import BadInputError


def dashed_hlines(ax):
    return [line.get_ydata()[0] for line in ax.lines if line.get_linestyle() == "--"]


def save_png(figure, path):
    figure.savefig(path, dpi=60)
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 1000


def test_spectrogram_axes_limits_marker_and_png(music, tmp_path):
    y = music(sr=48000, seconds=1.0, channels=2)
    figure = plots.spectrogram(y, 48000, title="clip")
    assert isinstance(figure, Figure)
    ax, colorbar = figure.axes
    assert ax.get_ylim() == (0.0, 24.0) and ax.get_xlim() == pytest.approx((0.0, 1.0))
    assert "kHz" in ax.get_ylabel() and ax.get_title() == "clip"
    assert dashed_hlines(ax) == [16.0]
    image = ax.images[0]
    vmin, vmax = image.get_clim()
    assert vmax == pytest.approx(image.get_array().max()) and vmax - vmin == pytest.approx(90.0)
    assert "dB" in colorbar.get_ylabel()
    save_png(figure, tmp_path / "spec.png")


def test_spectrogram_into_given_axes_with_limits(music):
    figure = Figure()
    ax = figure.add_subplot()
    y32 = music(sr=32000, seconds=0.5, channels=1)
    assert plots.spectrogram(y32, 32000, ax=ax, vmin=-80, vmax=0) is figure
    assert ax.images[0].get_clim() == (-80.0, 0.0)
    assert ax.get_ylim() == (0.0, 16.0)
    assert dashed_hlines(ax) == []  # 16 kHz is the Nyquist frequency here


def test_spectrogram_pair_shares_scale_and_frequency_axis(music, tmp_path):
    reference = music(sr=48000, seconds=1.0, channels=2)
    degraded = music(sr=32000, seconds=1.0, channels=2) * 0.1
    figure = plots.spectrogram_pair(degraded, 32000, reference, 48000)
    left, right, colorbar = figure.axes
    assert [left.get_title(), right.get_title()] == ["Original", "Restored"]
    assert left.get_ylim() == right.get_ylim() == (0.0, 24.0)
    assert left.images[0].get_clim() == right.images[0].get_clim()
    assert left.images[0].get_extent()[3] == 16.0 and right.images[0].get_extent()[3] == 24.0
    assert colorbar.get_ylabel() == "Level (dB)"
    save_png(figure, tmp_path / "pair.png")


def test_difference_spectrogram_is_symmetric_and_signed(music):
    a = music(sr=48000, seconds=1.0, channels=1)
    figure = plots.difference_spectrogram(a, 48000, 2.0 * a, 48000)
    ax = figure.axes[0]
    image = ax.images[0]
    vmin, vmax = image.get_clim()
    assert vmin == -vmax and vmax >= 5.0
    assert image.get_cmap().name == "RdBu_r"
    assert np.median(np.asarray(image.get_array())) == pytest.approx(20 * np.log10(2.0), abs=0.1)  # b is 6 dB louder
    assert len(figure.axes) == 2  # image and colorbar


def test_psd_overlay_legend_and_log_axis(music, tmp_path):
    signals = {"reference": (music(sr=48000, seconds=1.0), 48000),
               "musicgen": (music(sr=32000, seconds=1.0, channels=1), 32000)}
    figure = plots.psd_overlay(signals)
    ax = figure.axes[0]
    assert ax.get_xscale() == "log"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["reference", "musicgen"]
    assert ax.get_xlim() == pytest.approx((20.0, 24000.0))
    curves = [line for line in ax.lines if line.get_label() in signals]
    assert curves[1].get_xdata().max() == pytest.approx(16000.0)
    save_png(figure, tmp_path / "psd.png")


def test_plot_bad_input():
    with pytest.raises(BadInputError, match="NaN"):
        plots.spectrogram(np.full((1, 4096), np.nan, np.float32), 48000)
    with pytest.raises(BadInputError, match="at least one"):
        plots.psd_overlay({})
