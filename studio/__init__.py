"""The Gradio app's side of the project: the UI (one module per tab, and the pieces they share) and its
guard toward untrusted clients (:mod:`studio.guard`).

``app.py`` builds it with :func:`studio.studio_tab.build_studio_tab` and the listening-test tab;
everything here calls only the public API of :mod:`restoration`.
"""

from pathlib import Path

#: The UI's own files: the A/B player's and the metrics table's HTML, CSS and JavaScript, the stylesheet.
STATIC = Path(__file__).resolve().parent / "static"


def static_text(name: str) -> str:
    """The text of ``static/name``."""
    return (STATIC / name).read_text(encoding="utf-8")
