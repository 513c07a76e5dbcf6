"""The running app tells clients apart by the socket peer (forwarded headers only from trusted
proxies), caps uploads in MB (10^6 bytes) at the upload itself and rate-limits them per client."""

import json
from pathlib import Path

import httpx
import pytest

from app_server import running_app

pytestmark = pytest.mark.slow


def wrong_password(url: str, forwarded_for: str) -> str:
    """Ask for results with a wrong admin password through the HTTP API; the error line the app answers."""
    headers = {"X-Forwarded-For": forwarded_for, "Forwarded": f"for={forwarded_for}", "X-Real-IP": forwarded_for}
    call = httpx.post(f"{url}gradio_api/call/listening_results", json={"data": ["guess", None, False]},
                      headers=headers, timeout=30)
    call.raise_for_status()
    stream = httpx.get(f"{url}gradio_api/call/listening_results/{call.json()['event_id']}", headers=headers, timeout=30)
    events = stream.text.split("\n\n")
    error = next(e for e in events if e.startswith("event: error"))
    return json.loads(error.split("data:", 1)[1])["error"]


def test_forged_forwarded_headers_do_not_escape_the_lockout(tmp_path):
    with running_app(tmp_path, db=str(tmp_path / "t.sqlite"), admin_password="pw") as url:
        answers = [wrong_password(url, f"198.51.100.{i}") for i in range(30)]
    assert answers[0] == "wrong admin password"
    # one client (127.0.0.1): locked after five guesses; the lockout doubles, so few more guesses get through
    assert answers[:5] == ["wrong admin password"] * 5 and "too many wrong passwords" in answers[5]
    assert sum("too many wrong passwords" in a for a in answers) >= 20


def test_a_trusted_proxy_keys_the_lockout_per_forwarded_address(tmp_path):
    with running_app(tmp_path, db=str(tmp_path / "t.sqlite"), admin_password="pw", trusted_proxies="127.0.0.1") as url:
        answers = [wrong_password(url, f"198.51.100.{i}") for i in range(30)]
        same = [wrong_password(url, "203.0.113.5") for _ in range(6)]
    assert answers == ["wrong admin password"] * 30  # thirty clients, one guess each
    assert same[:5] == ["wrong admin password"] * 5 and "too many wrong passwords" in same[5]


def test_upload_cap_in_megabytes_and_upload_rate(tmp_path):
    cache = tmp_path / "gradio-cache"

    def upload(url: str, size: int) -> httpx.Response:
        return httpx.post(f"{url}gradio_api/upload", files={"files": ("clip.wav", b"\0" * size)}, timeout=60)

    def stored() -> list[Path]:
        return sorted(p for p in cache.rglob("*") if p.is_file())

    with running_app(tmp_path, db=str(tmp_path / "t.sqlite"), max_upload_mb=1,
                     env={"RESTORATION_RATE_LIMITS": "upload=3/600,upload_mb=100/600"}) as url:
        assert upload(url, 1_000_000).status_code == 200  # 1 MB is 10^6 bytes: allowed
        too_big = upload(url, 1_000_001)
        assert too_big.status_code == 413 and "maximum allowed size" in too_big.text
        assert upload(url, 1000).status_code == 200
        before = stored()
        refused = upload(url, 1000)
        assert refused.status_code == 429
        assert refused.text.startswith("too many uploads from your address; try again in ") and "\n" not in refused.text
        assert stored() == before  # nothing written
