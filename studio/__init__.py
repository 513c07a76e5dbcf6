"""The Gradio app's side of the project (the UI and its guard toward untrusted clients)."""
