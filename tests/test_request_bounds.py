"""Bounded work per app request: uploads read at up to 48 kHz, Demucs caps, the estimated work refused
before it starts, the deadline while it runs."""

import os

import gradio as gr
import numpy as np
import pytest
import soundfile as sf

from restoration import RestorationError, parse_chain, save_audio
from restoration.models.catalog import ModelCatalog

os.environ.setdefault("HF_HUB_OFFLINE", "1")
from studio import budget, guard  # noqa: E402
from studio.jobs import OverTime, progress_callback  # noqa: E402
from studio.workbench import Workbench  # noqa: E402


@pytest.mark.parametrize("params,message", [({"shifts": 3}, "demucs shifts must be at most 2 on this server, got 3"),
                                            ({"overlap": 0.9}, "demucs overlap must be at most 0.5 on this server, got 0.9"),
                                            ({"demucs.shifts": "20"}, "shifts must be at most 2"),
                                            ({"segment": 30}, "demucs segment must be at most 7.8 s on this server, got 30")])
def test_restore_params_cap_demucs_work(params, message):
    catalog, limits = ModelCatalog.build([]), guard.Limits()
    method = "sbr+demucs" if any("." in key for key in params) else "demucs"
    with pytest.raises(budget.OverBudgetError, match=message):
        guard.restore_params(catalog, method, {"model": "demucs_unittest", **params} if method == "demucs" else params,
                             limits)
    allowed = guard.restore_params(catalog, "demucs", {"model": "demucs_unittest", "shifts": 2, "overlap": 0.5}, limits)
    assert allowed["shifts"] == 2 and allowed["overlap"] == 0.5
    assert allowed["segment"] == 7.8  # the model's own (40 s for hybrid models: 1.7 GB a segment) is not used
    assert guard.restore_params(catalog, "demucs", {"model": "demucs_unittest", "segment": 5}, limits)["segment"] == 5


def test_estimate_grows_with_stages_duration_and_demucs_settings():
    sbr, gating = parse_chain("sbr"), parse_chain("spectral_gating")
    assert budget.estimate_seconds(sbr, {}, 60.0, 48000) == pytest.approx(60 * budget.COSTS["sbr"])
    assert budget.estimate_seconds(sbr, {}, 120.0, 48000) == pytest.approx(2 * budget.estimate_seconds(sbr, {}, 60.0, 48000))
    # sbr outputs 48 kHz: a stage after it counts at 48 kHz even for a 24 kHz input
    chain = budget.estimate_seconds(parse_chain("sbr+spectral_gating"), {}, 60.0, 24000)
    assert chain == pytest.approx(30 * budget.COSTS["sbr"] + 60 * budget.COSTS["spectral_gating"])
    assert budget.estimate_seconds(gating, {}, 60.0, 48000) < chain
    demucs = parse_chain("demucs")
    base = budget.estimate_seconds(demucs, {}, 10.0, 48000)
    assert budget.estimate_seconds(demucs, {"shifts": 2, "overlap": 0.5}, 10.0, 48000) == pytest.approx(3 * base)
    assert budget.estimate_seconds(demucs, {}, 10.0, 48000, gpu=True) == pytest.approx(base / budget.GPU_SPEEDUP)


def test_restore_over_the_work_budget_is_refused_in_one_line(tmp_path, music):
    clip = save_audio(tmp_path / "clip.wav", music(48000, 3.0, 2), 48000)
    studio = Workbench(tmp_path / "work", catalog=ModelCatalog.build([]), limits=guard.Limits(max_work_s=0.1))
    with pytest.raises(gr.Error) as info:
        studio.restore(str(clip), None, "spectral_gating", "{}", [])
    assert info.value.message == ("restoring 3 s with spectral_gating would take about 0.2 s of work; this server "
                                  "gives one request at most 0.1 s: use a shorter clip, fewer stages or lighter settings")
    with pytest.raises(gr.Error, match="demucs shifts must be at most 2 on this server, got 5"):
        studio.separate(str(clip), "demucs_unittest", 5, 0.25, 0.0, "cpu")
    with pytest.raises(gr.Error, match="separating 3 s would take about 3.0 s of work"):
        studio.separate(str(clip), "demucs_unittest", 1, 0.25, 0.0, "cpu")


def test_a_running_job_stops_at_its_deadline():
    now = [100.0]
    report = progress_callback(None, "restoring", limit_s=30.0, clock=lambda: now[0])
    report(1, 10)  # the clock starts here
    now[0] += 29.0
    report(5, 10)
    now[0] += 2.0
    with pytest.raises(OverTime) as info:
        report(6, 10)
    assert isinstance(info.value, RestorationError)
    assert str(info.value) == "stopped after 31 s: this server gives one request at most 30 s (use a shorter clip or lighter settings)"


def test_a_high_rate_upload_is_restored_and_compared_at_48_khz(tmp_path, music):
    upload = tmp_path / "wide.flac"
    sf.write(upload, np.ascontiguousarray(music(48000, 2.0, 2).repeat(4, axis=-1).T), 192000, subtype="PCM_24")
    studio = Workbench(tmp_path / "work", catalog=ModelCatalog.build([]))
    out = studio.restore(str(upload), None, "passthrough", "{}", [])
    pair = out[-1]
    assert pair["a"]["sr"] == 48000 and pair["b"]["sr"] == 48000
    assert pair["a"]["path"] != str(upload)  # the browser gets the 48 kHz original, not the 192 kHz upload
    assert sf.info(pair["a"]["path"]).samplerate == sf.info(out[0]).samplerate == 48000
    assert sf.info(out[0]).frames == 96000
