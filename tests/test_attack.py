"""Issue 10's attack, replayed through the real HTTP API of a running ``python app.py``.

An anonymous client uploads a pickle whose ``__reduce__`` creates a marker file, named the way
demucs's local repo loads it (``htdemucs.th``), then names the upload folder as the Demucs repo,
the Demucs model, the U-Net checkpoint and the MusicGen model. The server must refuse every call
with the same path-free line, log it, and never create the marker.
"""

import json
import pathlib
import re
import urllib.request
import uuid

import numpy as np
import pytest

from app_server import running_app
from restoration import save_audio

pytestmark = pytest.mark.slow
PASSWORD = "correct horse"


class Payload:
    """Unpickling this touches ``marker`` (what a shell command would do, without a shell)."""

    def __init__(self, marker: pathlib.Path):
        self.marker = marker

    def __reduce__(self):
        return pathlib.Path.touch, (self.marker,)


def upload(url: str, *paths: pathlib.Path) -> list[str]:
    """``POST /gradio_api/upload`` as any browser would; returns the server paths gradio answers with."""
    boundary = uuid.uuid4().hex
    body = b""
    for path in paths:
        body += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"{path.name}\"\r\n"
                 "Content-Type: application/octet-stream\r\n\r\n").encode() + path.read_bytes() + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    request = urllib.request.Request(url + "gradio_api/upload", data=body,
                                     headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def call(url: str, api_name: str, *data) -> tuple[str, object]:
    """``POST /gradio_api/call/<api_name>`` then read its event stream: ``(event, data)`` of the last event."""
    request = urllib.request.Request(url + f"gradio_api/call/{api_name}", data=json.dumps({"data": list(data)}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        event_id = json.loads(response.read())["event_id"]
    with urllib.request.urlopen(url + f"gradio_api/call/{api_name}/{event_id}", timeout=300) as response:
        stream = response.read().decode()
    events = re.findall(r"^event: (\w+)\ndata: (.*)$", stream, re.MULTILINE)
    event, payload = events[-1]
    return event, json.loads(payload)


def file_data(path: str) -> dict:
    return {"path": path, "meta": {"_type": "gradio.FileData"}}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("attack")
    with running_app(folder, db=str(folder / "listening.sqlite"), max_upload_mb=1,
                     env={"RESTORATION_ADMIN_PASSWORD": PASSWORD}) as url:
        yield url, folder


@pytest.fixture(scope="module")
def planted(server, tmp_path_factory):
    """The attacker's uploads: the pickle as ``htdemucs.th`` (and the U-Net/MusicGen file names
    beside it) and a clip; returns the upload folder, the clip's server path and the marker."""
    import torch

    url, _ = server
    local = tmp_path_factory.mktemp("attacker")
    marker = local / "owned"
    control = local / "control"
    torch.save(Payload(control), local / "control.th")
    torch.load(local / "control.th", weights_only=False)  # the payload is live: loading it runs it
    assert control.exists()
    torch.save(Payload(marker), local / "htdemucs.th")
    (local / "config.json").write_text("{}")
    clip = save_audio(local / "clip.wav", np.sin(np.arange(44100) * 0.05)[None] * 0.3, 44100)
    weights, _, clip_path = upload(url, local / "htdemucs.th", local / "config.json", clip)
    folder = str(pathlib.Path(weights).parent)
    assert pathlib.Path(weights).name == "htdemucs.th" and pathlib.Path(weights).is_file()
    return folder, clip_path, marker


def refusal(event: str, payload) -> str:
    assert event == "error", payload
    return payload if isinstance(payload, str) else json.dumps(payload)


def test_a_client_cannot_make_the_server_load_its_pickle(server, planted):
    url, log_folder = server
    folder, clip, marker = planted
    audio = file_data(clip)
    replies = {
        "separate model=upload folder": call(url, "separate", audio, folder, 0, 0.25, 0, "cpu"),
        "separate model=upload file": call(url, "separate", audio, folder + "/htdemucs", 0, 0.25, 0, "cpu"),
        "restore demucs repo": call(url, "restore", audio, None, "demucs", json.dumps({"repo": folder})),
        "restore demucs repo+model": call(url, "restore", audio, None, "demucs",
                                          json.dumps({"repo": folder, "model": "htdemucs"})),
        "restore demucs model=path": call(url, "restore", audio, None, "demucs", json.dumps({"model": folder})),
        "restore chain demucs.repo": call(url, "restore", audio, None, "passthrough+demucs",
                                          json.dumps({"demucs.repo": folder})),
        "restore unet checkpoint": call(url, "restore", audio, None, "unet", json.dumps({"checkpoint": folder})),
        "generate model=path": call(url, "generate", "a song", folder, 1.0, 3.0, 1.0, 250, 0),
    }
    assert not marker.exists()
    messages = {case: refusal(*reply) for case, reply in replies.items()}
    for case, message in messages.items():
        assert any(why in message for why in ("not offered by this server", "cannot be chosen from the app",
                                              "is not in the list of choices")), (case, message)
        assert "/tmp" not in message and folder not in message and "\n" not in message, (case, message)
    log = next(log_folder.glob("app-*.log")).read_text()
    assert log.count("/restore refused:") >= 5 and log.count("/separate refused:") >= 2
    assert "/generate refused:" in log and "Traceback" not in log


def test_the_same_line_whether_a_path_exists_or_not(server, planted):
    url, _ = server
    folder, clip, marker = planted
    lines = {refusal(*call(url, "restore", file_data(clip), None, "demucs", json.dumps({"model": path})))
             for path in (folder, "/root/.ssh", "/nonexistent/folder", "/etc")}
    assert len(lines) == 1
    lines = {refusal(*call(url, "restore", file_data(clip), None, "demucs", json.dumps({"repo": path})))
             for path in (folder, "/root/.ssh", "/nonexistent/folder")}
    assert len(lines) == 1
    assert not marker.exists()


def test_the_endpoints_take_no_server_paths(server):
    from gradio_client import Client

    url, _ = server
    endpoints = Client(url, verbose=False).view_api(print_info=False, return_format="dict")["named_endpoints"]
    separate = [p["parameter_name"] for p in endpoints["/separate"]["parameters"]]
    assert "repo" not in separate and separate[:2] == ["audio", "model"]


def test_a_named_model_still_works_and_a_range_error_logs_one_line(server, planted):
    url, log_folder = server
    _, clip, _ = planted
    event, data = call(url, "separate", file_data(clip), "demucs_unittest", 0, 0.25, 0, "cpu")
    assert event == "complete" and len(data) == 6
    event, data = call(url, "generate", "a song", "facebook/musicgen-small", 100.0, 3.0, 1.0, 250, 0)  # 1..30 s
    assert event == "error"
    log = next(log_folder.glob("app-*.log")).read_text()
    assert "refused: Value 100.0 is greater than maximum value 30" in log and "Traceback" not in log


def test_uploads_over_the_limit_are_refused(server, tmp_path):
    import urllib.error

    url, _ = server
    big = tmp_path / "big.wav"
    big.write_bytes(b"\0" * 1_500_000)  # the server was started with --max-upload-mb 1
    with pytest.raises(urllib.error.HTTPError) as info:
        upload(url, big)
    assert info.value.code == 413


def test_wrong_admin_passwords_are_locked_out(server):
    url, _ = server
    replies = [refusal(*call(url, "listening_results", "guess", None, False)) for _ in range(7)]
    assert all("wrong admin password" in r for r in replies[:5])
    assert all("too many wrong passwords" in r for r in replies[5:])
