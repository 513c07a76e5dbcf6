"""The playback engine both Web Audio players share (``static/sync_player.js``: one AudioContext, the
decoded stimuli started together, switched at the same position, looped; ``window.SyncPlayer``).

Each player's ``gr.HTML`` passes :func:`sync_player_head` as its ``head``: gradio runs an inline head
script once per page (it skips a script whose text is already in the document) and before the
component's ``js_on_load``, so the engine is there whichever tab a page opens, and defined only once.
"""

from __future__ import annotations

from functools import lru_cache

from . import static_text


@lru_cache(maxsize=1)
def sync_player_head() -> str:
    """``<script>`` with the engine, for ``gr.HTML(head=...)``."""
    script = static_text("sync_player.js")
    if "</script" in script.lower():
        raise ValueError("static/sync_player.js may not contain '</script': it is inlined in a <script> tag")
    return f"<script>\n{script}</script>"
