"""Clients told apart by their real address (forwarded headers only from trusted proxies), per-client
rate limits that refuse before anything is written, and bounded per-client records."""

import os
import sys
from pathlib import Path

import gradio as gr
import pytest

from restoration import BadInputError, save_audio

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from studio import errors, peers  # noqa: E402
from studio.workbench import Workbench  # noqa: E402


class Request:
    """What handlers read of a ``gr.Request``: the socket peer, the headers, the session."""

    def __init__(self, peer: str, headers: dict | None = None, session: str = "s"):
        self.client = type("Client", (), {"host": peer})()
        self.headers = headers or {}
        self.session_hash = session


@pytest.fixture
def trusted(monkeypatch):
    """Install trusted proxies for one test (the module setting is restored afterwards)."""
    def install(spec: str) -> None:
        monkeypatch.setattr(peers, "_trusted", peers.TrustedProxies(spec))
    return install


def test_forwarded_headers_count_only_from_a_trusted_peer(trusted):
    forged = {"X-Forwarded-For": "198.51.100.7", "Forwarded": "for=198.51.100.8", "X-Real-IP": "198.51.100.9"}
    assert peers.client_address(Request("127.0.0.1", forged)) == "127.0.0.1"  # default: nobody is trusted
    trusted("127.0.0.1, 10.0.0.0/8")
    assert peers.client_address(Request("203.0.113.5", forged)) == "203.0.113.5"  # not a trusted proxy
    # the right-most address that is not itself a trusted proxy; the client's own claims to its left are ignored
    chain = {"x-forwarded-for": "1.2.3.4, 198.51.100.7, 10.1.2.3"}
    assert peers.client_address(Request("127.0.0.1", chain)) == "198.51.100.7"
    assert peers.client_address(Request("10.9.9.9", {"x-forwarded-for": "10.1.1.1, 10.2.2.2"})) == "10.1.1.1"
    rfc7239 = {"forwarded": 'for=192.0.2.60;proto=http, for="[2001:db8:cafe::17]:4711"'}
    assert peers.client_address(Request("127.0.0.1", rfc7239)) == "2001:db8:cafe::17"
    assert peers.client_address(Request("127.0.0.1", {"x-real-ip": "192.0.2.1:5555"})) == "192.0.2.1"
    assert peers.client_address(Request("127.0.0.1")) == "127.0.0.1"  # a trusted peer that forwards nothing
    assert peers.client_address(None) == "local"


def test_bad_trusted_proxies_and_rates_are_one_line_errors():
    with pytest.raises(BadInputError, match="trusted proxy 'proxy.local' is not an IP address"):
        peers.TrustedProxies("10.0.0.1,proxy.local")
    with pytest.raises(BadInputError, match="must be ACTION=COUNT/SECONDS"):
        peers.parse_rates("restores=5/60", peers.default_rates())
    with pytest.raises(BadInputError, match="above zero"):
        peers.parse_rates("join=0/60", peers.default_rates())
    assert peers.parse_rates("join=5/10", peers.default_rates())["join"] == peers.Rate(5, 10.0)


def test_rate_limiter_refuses_over_the_burst_and_refills():
    now = [0.0]
    limiter = peers.RateLimiter({"join": peers.Rate(3, 30.0)}, clock=lambda: now[0])
    assert [limiter.take("join", "a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.take("join", "a") == pytest.approx(10.0)  # one token per 10 s
    assert limiter.take("join", "b") == 0.0  # another client has its own bucket
    now[0] += 10.0
    assert limiter.take("join", "a") == 0.0 and limiter.take("join", "a") > 0


def test_rate_limiter_and_error_cache_are_bounded(monkeypatch):
    limiter = peers.RateLimiter({"join": peers.Rate(1, 60.0)}, max_clients=100)
    for i in range(1000):
        limiter.take("join", f"10.0.{i // 256}.{i % 256}")
    assert len(limiter) == 100
    assert limiter.take("join", "10.0.3.231") > 0  # the most recent clients are still remembered

    monkeypatch.setattr(errors, "_last_error", type(errors._last_error)())
    monkeypatch.setattr(errors, "MAX_SESSIONS", 50)

    @errors.user_errors
    def fail(request=None):
        raise gr.Error("no")

    for i in range(500):
        with pytest.raises(gr.Error):
            fail(Request("1.1.1.1", session=f"session-{i}"))
    assert len(errors._last_error) == 50
    assert errors.last_error(Request("1.1.1.1", session="session-499")) == "no"
    assert errors.last_error(Request("1.1.1.1", session="session-0")) == ""


def test_a_refused_restore_writes_nothing(tmp_path, music, monkeypatch):
    monkeypatch.setattr(peers, "_limiter", peers.RateLimiter({"restore": peers.Rate(2, 600.0)}))
    bench = Workbench(tmp_path / "work")
    clip = str(save_audio(tmp_path / "clip.wav", music(32000, 1.0, 1), 32000))
    me, other = Request("192.0.2.1"), Request("192.0.2.2")
    for _ in range(2):
        bench.restore(clip, None, "passthrough", "{}", [], me)
    written = sorted((tmp_path / "work").rglob("*"))
    with pytest.raises(gr.Error) as info:
        bench.restore(clip, None, "passthrough", "{}", [], me)
    assert info.value.message.startswith("too many restorations from your address; try again in ")
    assert "\n" not in info.value.message
    assert sorted((tmp_path / "work").rglob("*")) == written  # nothing written
    bench.restore(clip, None, "passthrough", "{}", [], other)  # another client is served


def test_joins_and_play_reports_are_limited_per_client(tmp_path, monkeypatch):
    from restoration.listening import ListeningStore, build_test, bundled_clips
    from studio.listening_tab import ListeningHandlers

    store = ListeningStore(tmp_path / "t.sqlite")
    build_test(store, name="Rate", protocol="ab", clips=bundled_clips()[:1], methods=["passthrough", "sbr"],
               max_seconds=1.0)
    handlers = ListeningHandlers(store, None)
    monkeypatch.setattr(peers, "_limiter", peers.RateLimiter({"join": peers.Rate(2, 600.0),
                                                              "played": peers.Rate(3, 600.0)}))
    me = Request("192.0.2.1")
    token = handlers.join("Rate", "ann", me)["token"]
    handlers.join("Rate", "bob", me)
    with pytest.raises(gr.Error, match="too many joins from your address"):
        handlers.join("Rate", "cyd", me)
    report = {"token": token, "slot": "A", "seconds": 0.01}
    handlers.played(token, "A", 0.01, me)
    assert handlers.played_from_player(report, me)["played"]["A"] == pytest.approx(0.02)
    assert handlers.played_from_player(report, me)["played"]["A"] == pytest.approx(0.03)
    refused = handlers.played_from_player(report, me)
    assert list(refused) == ["error"] and refused["error"].startswith("too many play reports from your address")
    with pytest.raises(gr.Error, match="too many play reports"):
        handlers.played(token, "A", 0.01, me)
    assert store.played(token)["A"] == pytest.approx(0.03)  # the refused reports were not recorded
    assert handlers.played_from_player(report, Request("192.0.2.2"))["played"]["A"] == pytest.approx(0.04)


def test_launch_caps_uploads_in_the_unit_of_the_apps_own_check(monkeypatch):
    import app
    from studio import guard

    seen = {}

    class Demo:
        def queue(self, **kwargs):
            pass

        def launch(self, **kwargs):
            seen.update(kwargs)

    monkeypatch.delenv("FORWARDED_ALLOW_IPS", raising=False)
    app.launch(Demo(), limits=guard.Limits(max_upload_mb=300.0))
    assert seen["max_file_size"] == 300_000_000 < 301_000_000  # MB = 10^6 bytes, as read_clip counts
    assert [m.cls for m in seen["app_kwargs"]["middleware"]] == [peers.UploadLimit]
    assert os.environ["FORWARDED_ALLOW_IPS"] == ""  # uvicorn rewrites no client address
    monkeypatch.delenv("FORWARDED_ALLOW_IPS")  # undone with the rest at the end


@pytest.mark.parametrize("argv, message", [(["--trusted-proxies", "10.0.0.1,proxy.local"], "is not an IP address"),
                                           (["--rate-limits", "restore=ten/60"], "must be ACTION=COUNT/SECONDS")])
def test_bad_proxy_or_rate_flags_stop_the_app_with_one_line(argv, message, monkeypatch, capsys):
    import app

    monkeypatch.setattr(app, "launch", lambda *a, **k: pytest.fail("launched"))
    monkeypatch.setattr(app, "start_warm_up", lambda *a, **k: pytest.fail("warmed up"))
    with pytest.raises(SystemExit) as info:
        app.main(argv)
    lines = capsys.readouterr().err.strip().splitlines()
    assert info.value.code == 2 and message in lines[-1] and lines[-1].startswith("error: ")
