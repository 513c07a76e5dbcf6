"""The Gradio app's side of the project: the UI (one module per tab, static JS/CSS under
``studio/static``) and its guard toward untrusted clients."""
