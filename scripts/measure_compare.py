"""Time "click Restore → everything shown" through gradio_client against a running app.

``python scripts/measure_compare.py [--url http://127.0.0.1:7860/ | --start] [--method sbr] [--repeats 5]``

One ``/restore`` call returns everything the Studio tab shows first: the restored audio, the
spectrogram pair, the difference, the PSD, the core metrics and the A/B player's two files; the
time includes fetching all six files in parallel, as a browser does. Clips: ``assets/train_tune.flac`` made stereo
(right channel 0.8×) and tiled to 10 s and to 3 minutes at 32 kHz. With ``--start`` the app is
launched here and the first request is sent as soon as the server answers (the "first request
after start"). Prints a Markdown table of medians and the load average during the run.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from restoration import load_audio, save_audio  # noqa: E402


def make_clip(folder: Path, seconds: float) -> str:
    """A stereo 32 kHz clip of ``seconds`` made from the bundled example (a MusicGen-like degradation)."""
    y, sr = load_audio(ROOT / "assets" / "train_tune.flac")
    mono = y.mean(axis=0)
    n = int(seconds * sr)
    tiled = np.tile(mono, int(np.ceil(n / mono.size)))[:n]
    return str(save_audio(folder / f"clip_{int(seconds)}s.wav", np.stack([tiled, 0.8 * tiled]), sr))


def start_app(folder: Path) -> tuple[str, subprocess.Popen]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1", "MPLBACKEND": "Agg",
           "GRADIO_TEMP_DIR": str(folder / "gradio")}
    log = open(folder / "app.log", "wb")
    process = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "--port", str(port),
                                "--db", str(folder / "listening.sqlite")], cwd=ROOT, env=env, stdout=log,
                               stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    for _ in range(600):
        try:
            with urllib.request.urlopen(url + "config", timeout=2):
                return url, process
        except OSError:
            if process.poll() is not None:
                break
            time.sleep(0.2)
    process.kill()
    raise SystemExit(f"the app did not start; see {folder / 'app.log'}")


def _urls(value) -> list[str]:
    """Every file URL in an output value (a file, or a dict holding files)."""
    if isinstance(value, dict):
        if value.get("url"):
            return [value["url"]]
        return [url for item in value.values() for url in _urls(item)]
    if isinstance(value, (list, tuple)):
        return [url for item in value for url in _urls(item)]
    return []


def _fetch(url: str) -> int:
    with urllib.request.urlopen(url, timeout=120) as response:
        return len(response.read())


def restore_once(client, clip: str, method: str, pool) -> float:
    """Seconds for one ``/restore`` round trip with every file it returns fetched (in parallel, as a
    browser does); checks that everything came back."""
    from gradio_client import handle_file

    start = time.perf_counter()
    result = client.predict(audio=handle_file(clip), reference=None, method=method, params="{}", api_name="/restore")
    sizes = list(pool.map(_fetch, _urls(result)))
    seconds = time.perf_counter() - start
    restored, _, *rest = result
    pictures = [r for r in rest if isinstance(r, dict) and str(r.get("path", "")).endswith(".png")]
    player = next(r for r in rest if isinstance(r, dict) and "a" in r and "b" in r)
    table = next(r for r in rest if isinstance(r, dict) and "data" in r)
    if len(pictures) != 3 or len(sizes) != 6 or min(sizes) == 0 or not player["a"] or not table["data"]:
        raise SystemExit(f"/restore did not return everything: {result!r}")
    return seconds


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a running app (default: --start one)")
    parser.add_argument("--start", action="store_true", help="launch app.py here and time its first request too")
    parser.add_argument("--method", default="sbr")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--long-repeats", type=int, default=3, help="repeats of the 3-minute clip")
    args = parser.parse_args(argv)
    from gradio_client import Client

    folder = Path(tempfile.mkdtemp(prefix="measure-compare-"))
    clips = {"10 s stereo 32 kHz": make_clip(folder, 10.0), "3 min stereo 32 kHz": make_clip(folder, 180.0)}
    process = None
    rows = []
    load_before = os.getloadavg()[0]
    try:
        url = args.url
        if not url:
            url, process = start_app(folder)
        client = Client(url, download_files=False, verbose=False)
        pool = ThreadPoolExecutor(max_workers=6)
        if process is not None:
            first = restore_once(client, clips["10 s stereo 32 kHz"], args.method, pool)
            rows.append(("first request after start, 10 s", 1, first, first, 3.0))
        for (name, clip), repeats, target in zip(clips.items(), (args.repeats, args.long_repeats), (1.0, 10.0)):
            restore_once(client, clip, args.method, pool)  # warm (caches, first allocation)
            times = [restore_once(client, clip, args.method, pool) for _ in range(repeats)]
            rows.append((f"warm, {name}", repeats, statistics.median(times), max(times), target))
    finally:
        if process is not None:
            process.terminate()
            process.wait(timeout=20)
    load_after = os.getloadavg()[0]
    print(f"method {args.method}; {os.cpu_count()} CPUs; load average (1 min) {load_before:.2f} before, "
          f"{load_after:.2f} after\n")
    print("| Click Restore → everything shown | runs | median (s) | max (s) | target (s) |")
    print("|---|---|---|---|---|")
    for name, runs, median, worst, target in rows:
        print(f"| {name} | {runs} | {median:.2f} | {worst:.2f} | ≤ {target:g} |")


if __name__ == "__main__":
    main()
