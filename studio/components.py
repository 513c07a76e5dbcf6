"""Small variations of gradio components the Studio tab needs."""

from __future__ import annotations

from pathlib import Path

import gradio as gr
from gradio.data_classes import FileData


class WavAudio(gr.Audio):
    """An audio player for the WAV files this app writes itself (PCM, which every browser plays).

    Gradio probes every audio file it returns with an ``ffprobe`` subprocess to decide whether the
    browser can play it (0.1–0.3 s on a busy 2-core machine, on every restore); these files are
    served as they are. Anything else goes through :meth:`gr.Audio.postprocess` unchanged. The
    browser draws it with gradio's own audio player (``is_template``).
    """

    is_template = True

    def postprocess(self, value):
        if isinstance(value, (str, Path)) and Path(value).suffix.lower() == ".wav" and Path(value).is_file():
            return FileData(path=str(value), orig_name=Path(value).name)
        return super().postprocess(value)
