"""The Gradio app's user interface: one module per tab, static JS/CSS under ``studio/static``."""
