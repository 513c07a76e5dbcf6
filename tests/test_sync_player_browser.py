"""The Web Audio engine both players share (``studio/static/sync_player.js``), on its own in headless
Chromium: loading, one clock for all stimuli, switching at the same position, the loop, play-time
segments, and a superseded load. Plus how the players get it (``gr.HTML(head=...)``)."""

import io
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from studio.sync_player import sync_player_head

ROOT = Path(__file__).resolve().parents[1]
STATIC = ROOT / "studio" / "static"
CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--autoplay-policy=no-user-gesture-required"]
SITE = "http://player.test/"


def wav_bytes(seconds: float, sr: int = 48000) -> bytes:
    buffer = io.BytesIO()
    t = np.arange(int(seconds * sr)) / sr
    sf.write(buffer, (0.1 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), sr, format="WAV")
    return buffer.getvalue()


def test_both_players_get_the_one_engine_through_their_head(tmp_path):
    import app

    demo = app.build_ui(workdir=tmp_path / "work", db_path=str(tmp_path / "tests.sqlite"))
    players = {b.elem_id: b for b in demo.blocks.values() if getattr(b, "elem_id", None) in ("ab-player", "trial-player")}
    assert set(players) == {"ab-player", "trial-player"}
    engine = (STATIC / "sync_player.js").read_text(encoding="utf-8")
    for player in players.values():
        assert player.head == sync_player_head() and engine in player.head
        # The players are UIs over it: no Web Audio graph of their own.
        assert "createBufferSource" not in player.js_on_load and "decodeAudioData" not in player.js_on_load
        assert "new window.SyncPlayer(" in player.js_on_load


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium")
def test_the_engine_plays_switches_and_loops_on_one_clock():
    from playwright.sync_api import sync_playwright

    files = {"a.wav": wav_bytes(2.0), "b.wav": wav_bytes(1.5), "c.wav": wav_bytes(1.0)}
    fetched = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        try:
            page = browser.new_page()
            page.set_default_timeout(60_000)

            def serve(route):
                name = route.request.url.removeprefix(SITE)
                fetched.append(name)
                if name in files:
                    route.fulfill(status=200, body=files[name], content_type="audio/wav")
                elif name == "":
                    route.fulfill(status=200, body="<html><body></body></html>", content_type="text/html")
                else:
                    route.fulfill(status=404, body="")

            page.route(f"{SITE}**", serve)
            page.goto(SITE)
            page.add_script_tag(content=(STATIC / "sync_player.js").read_text(encoding="utf-8"))
            loaded = page.evaluate("""async () => {
                window.segments = [];
                const sp = window.sp = new window.SyncPlayer({ fade: 0.005, onSegment: (k, s) => segments.push([k, s]) });
                const ok = await sp.load([['A', 'a.wav'], ['B', 'b.wav']]);
                sp.current = 'A';
                return { ok, ready: sp.ready, keys: sp.keys, duration: sp.duration };
            }""")
            assert loaded["ok"] and loaded["ready"] and loaded["keys"] == ["A", "B"]
            assert loaded["duration"] == pytest.approx(1.5, abs=1e-3)  # the shorter stimulus

            # A file of the previous load is not fetched again (gradio's URLs name their content).
            fetched.clear()
            reloaded = page.evaluate("""async () => { const other = new window.SyncPlayer();
                await other.load([['A', 'a.wav'], ['B', 'b.wav']]); await other.load([['A', 'a.wav'], ['B', 'c.wav']]);
                return { ready: other.ready, duration: other.duration, a: other.buffers.A.duration }; }""")
            assert reloaded == {"ready": True, "duration": pytest.approx(1.0, abs=1e-3), "a": pytest.approx(2.0, abs=1e-3)}
            assert sorted(fetched) == ["a.wav", "b.wav", "c.wav"]

            # A missing file is an error that names it; the engine keeps nothing half-loaded.
            error = page.evaluate("""async () => { const other = new window.SyncPlayer();
                try { await other.load([['A', 'a.wav'], ['B', 'gone.wav']]); return 'loaded'; }
                catch (e) { return e.message + ' ready=' + other.ready; } }""")
            assert error == "HTTP 404 ready=false"

            # Both start on one clock; only the current one is audible; a switch keeps the position.
            page.evaluate("window.sp.setLevels({A: 0.5}); window.sp.playPause()")
            page.wait_for_function("window.sp.position() > 0.3")
            switch = page.evaluate("""() => { const before = sp.position(); sp.select('B');
                return { before, after: sp.position(), playing: sp.playing }; }""")
            assert switch["playing"] and 0 <= switch["after"] - switch["before"] < 0.05
            page.wait_for_function("sp.ctx.currentTime > sp.segStart + 0.05")
            gains = page.evaluate("({A: sp.gains.A.gain.value, B: sp.gains.B.gain.value})")
            assert gains == {"A": 0, "B": 1}  # B has no level of its own: unit gain
            key, seconds = page.evaluate("segments")[0]
            assert key == "A" and seconds == pytest.approx(switch["before"], abs=0.1)

            # The loop: playback from outside it starts at its start and wraps around within it.
            page.evaluate("sp.setLoop({on: true, start: 0.5, end: 0.8}); sp.seek(0.0)")
            assert page.evaluate("sp.offset") == pytest.approx(0.5)
            start = page.evaluate("sp.ctx.currentTime")
            page.wait_for_function(f"sp.ctx.currentTime > {start + 0.7}")
            assert 0.5 <= page.evaluate("sp.position()") < 0.8
            page.evaluate("sp.pause()")
            assert not page.evaluate("sp.playing") and 0.5 <= page.evaluate("sp.offset") < 0.8

            # A load superseded by clear() resolves false and leaves the engine empty.
            superseded = page.evaluate("""async () => { const pending = sp.load([['A', 'a.wav']]); sp.clear();
                return { ok: await pending, ready: sp.ready, duration: sp.duration }; }""")
            assert superseded == {"ok": False, "ready": False, "duration": 0}
        finally:
            browser.close()
