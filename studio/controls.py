"""Method controls built from the registry's specs: a dropdown of methods and useful chains, and one
folded group of parameter controls per method (a chain shows the groups of its stages)."""

from __future__ import annotations

import json
import math

import gradio as gr

from restoration import Method, Param, RestorationError, parse_chain, suggested_chains
from restoration.models.catalog import ModelCatalog

from . import guard

#: Methods whose parameters start folded (they are long lists that push the Restore button down).
FOLDED = ("demucs",)


def method_choices(methods: list[Method]) -> list[tuple[str, str]]:
    """Dropdown ``(label, value)`` pairs: every method, then the suggested chains with what they do."""
    return ([(m.name, m.name) for m in methods]
            + [(f"{chain} — {text}", chain) for chain, text in suggested_chains()])


def slider_step(param: Param) -> float:
    """A step that puts the default and both bounds on the slider's grid (about 200 to 2000 steps)."""
    span = float(param.high) - float(param.low)
    step = 10.0 ** math.floor(math.log10(span / 200.0)) if span > 0 else 1.0
    if param.kind == "int":
        return max(1, int(step))
    while step > 1e-6 and any(abs(v / step - round(v / step)) > 1e-6 for v in (param.low, param.high, param.default)):
        step /= 10.0
    return step


def control_for(param: Param) -> gr.components.Component:
    """The input component for one method parameter, built from its spec."""
    common = dict(label=param.name, info=param.help, value=param.default)
    if param.kind == "bool":
        return gr.Checkbox(**common)
    if param.kind == "choice":
        return gr.Dropdown(choices=[(str(c), c) for c in param.choices], **common)
    if param.kind == "text":
        return gr.Textbox(**common)
    bounded = param.low is not None and param.high is not None
    if bounded and (param.kind == "float" or param.high - param.low <= 10_000):
        return gr.Slider(minimum=param.low, maximum=param.high, step=slider_step(param), **common)
    return gr.Number(minimum=param.low, maximum=param.high, precision=0 if param.kind == "int" else None, **common)


def describe(method: str) -> str:
    """What each stage of ``method`` does and its output rate (Markdown), or why it is not a method."""
    try:
        chain = parse_chain(method)
    except RestorationError as exc:
        return f"⚠️ {exc}"
    return "  \n".join(f"**{m.name}**: {m.description} Output: {f'{m.output_sr} Hz' if m.output_sr else 'the input rate'}."
                       for m in chain)


class MethodControls:
    """One folded group of parameter controls per registered method; a chain shows its stages' groups.

    A parameter that names a model is a dropdown of ``catalog``'s names; free server paths get no control.
    """

    def __init__(self, methods: list[Method], *, selected: str = "", catalog: ModelCatalog | None = None):
        catalog = catalog or ModelCatalog.build()
        self.methods = methods
        self.groups: dict[str, gr.Accordion] = {}
        self.controls: dict[str, dict[str, gr.components.Component]] = {m.name: {} for m in methods}
        shown = self.stages(selected)
        for method in methods:
            with gr.Accordion(f"{method.name} parameters", open=method.name not in FOLDED,
                              visible=method.name in shown and bool(method.params)) as group:
                self.controls[method.name] = {p.name: guard.model_control(method.name, p, catalog) or control_for(p)
                                              for p in method.params if guard.offered(method.name, p)}
            self.groups[method.name] = group

    @property
    def inputs(self) -> list:
        return [c for controls in self.controls.values() for c in controls.values()]

    def stages(self, method: str) -> list[str]:
        names = [part.strip() for part in str(method or "").split("+")]
        return [n for n in names if n in self.controls]

    def show(self, method: str) -> list:
        """Visibility of every group, and the description of ``method``."""
        stages = self.stages(method)
        return [gr.update(visible=name in stages and bool(self.controls[name])) for name in self.groups] + [describe(method)]

    def collect(self, method: str, *values) -> str:
        """The parameters of ``method``'s stages as JSON (``stage.name`` keys in a chain)."""
        flat = iter(values)
        chosen = {}
        stages = self.stages(method)
        for name, controls in self.controls.items():
            for key in controls:
                value = next(flat)
                if name in stages:
                    chosen[f"{name}.{key}" if len(stages) > 1 else key] = value
        return json.dumps(chosen)

    def bounded_by_rate(self) -> list[tuple[Param, gr.components.Component]]:
        """The frequency controls whose range follows the input's sample rate."""
        return [(p, self.controls[m.name][p.name]) for m in self.methods for p in m.params
                if p.below_nyquist and isinstance(self.controls[m.name].get(p.name), (gr.Slider, gr.Number))]

    def ranges_for_rate(self, sr: int | None) -> list:
        """Updates of :meth:`bounded_by_rate`'s controls: the maximum is the input's Nyquist frequency
        (the spec's bound when no audio is loaded)."""
        updates = []
        for param, _ in self.bounded_by_rate():
            high = param.high_for_rate(sr) if sr else param.high
            note = f" (at most {high:g} Hz for this {sr} Hz input)" if sr else ""
            updates.append(gr.update(maximum=high, info=param.help + note))
        return updates
