"""The one place that knows every restoration method: specs, parameters, lookup and chains.

A method is a name, a one-line description, typed parameters, its output sample rate and a
function ``fn(y, sr, *, progress=None, **params) -> np.ndarray`` over float32
``(channels, samples)`` audio. The function is named by an import path and imported on first use,
so listing methods never imports torch. The CLI flags and the app controls are built from these specs.

Besides the built-in methods below, installed packages add methods through the entry-point group
``restoration.methods`` (:mod:`restoration.plugins`); they are looked up once, when methods are
first listed or named, and carry their distribution's name in :attr:`Method.source`.
"""

from __future__ import annotations

import importlib
import re
import threading
from dataclasses import dataclass, field
from typing import Any, Callable

from .errors import BadParameterError, MethodUnavailableError, UnknownMethodError, first_line

PARAM_KINDS = ("float", "int", "bool", "choice", "text")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


@dataclass(frozen=True)
class Param:
    """One method parameter: ``kind`` is float, int, bool, choice or text; ``low``/``high`` bound numbers."""

    name: str
    kind: str
    default: Any
    help: str
    low: float | None = None
    high: float | None = None
    choices: tuple = ()
    #: a frequency that must not exceed the input's Nyquist frequency (``sr / 2``)
    below_nyquist: bool = False

    def __post_init__(self) -> None:
        if self.kind not in PARAM_KINDS:
            raise ValueError(f"parameter {self.name}: unknown kind {self.kind!r}")

    def coerce(self, value: Any, *, method: str = "") -> Any:
        """Convert ``value`` (possibly a command-line string) to this type; check range and choices."""
        where = f"{method}.{self.name}" if method else self.name
        try:
            if self.kind == "bool":
                if isinstance(value, str):
                    if value.strip().lower() not in _TRUE | _FALSE:
                        raise ValueError
                    value = value.strip().lower() in _TRUE
                return bool(value)
            if self.kind == "int":
                as_float = float(value)
                if as_float != int(as_float):
                    raise ValueError
                value = int(as_float)
            elif self.kind == "float":
                value = float(value)
                if value != value:  # NaN
                    raise ValueError
            elif self.kind == "choice":
                matches = [c for c in self.choices if str(c) == str(value).strip()]
                if not matches:
                    raise BadParameterError(f"{where} must be one of {', '.join(map(str, self.choices))}, got {value!r}")
                return matches[0]
            else:
                value = str(value)
        except BadParameterError:
            raise
        except (TypeError, ValueError, OverflowError):
            raise BadParameterError(f"{where} must be {self.kind}, got {value!r}") from None
        if self.low is not None and value < self.low or self.high is not None and value > self.high:
            raise BadParameterError(f"{where} must be within [{self.low}, {self.high}], got {value}")
        return value

    def high_for_rate(self, sr: int) -> float | None:
        """The largest value allowed for input at ``sr`` Hz: ``high``, or the Nyquist frequency when lower."""
        if self.below_nyquist and self.high is not None:
            return min(float(self.high), sr / 2.0)
        return self.high

    def check_rate(self, value: Any, sr: int, *, method: str = "") -> None:
        """Refuse a frequency above the Nyquist frequency of ``sr`` (a :class:`BadParameterError`)."""
        high = self.high_for_rate(sr)
        if self.below_nyquist and high is not None and value > high:
            where = f"{method}.{self.name}" if method else self.name
            raise BadParameterError(f"{where} = {value:g} Hz is above the Nyquist frequency of the {sr} Hz input "
                                    f"({sr / 2:g} Hz); choose at most {high:g}")


@dataclass(frozen=True)
class Method:
    """A restoration method spec. ``output_sr`` None means the input rate (or the ``output_sr`` parameter)."""

    name: str
    description: str
    target: str  # "package.module:function", imported on first call
    params: tuple[Param, ...] = ()
    output_sr: int | None = None
    neural: bool = False  # uses torch and benefits from a GPU
    tags: tuple[str, ...] = field(default=())
    #: where the method comes from: "" for a built-in, else the plugin's distribution name
    source: str = ""

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        known = ", ".join(p.name for p in self.params) or "none"
        raise BadParameterError(f"method {self.name} has no parameter {name!r} (parameters: {known})")

    def defaults(self) -> dict[str, Any]:
        return {p.name: p.default for p in self.params}

    def resolve(self, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """Defaults overlaid with ``params``, each coerced and checked; unknown names raise."""
        values = self.defaults()
        for name, value in (params or {}).items():
            values[name] = self.param(name).coerce(value, method=self.name)
        return values

    def check_rate(self, values: dict[str, Any], sr: int) -> None:
        """Refuse resolved ``values`` that do not fit input at ``sr`` Hz (a frequency above Nyquist)."""
        for param in self.params:
            if param.name in values:
                param.check_rate(values[param.name], sr, method=self.name)

    def output_rate(self, sr: int, params: dict[str, Any] | None = None) -> int:
        """Sample rate of this method's output for input rate ``sr``."""
        chosen = (params or {}).get("output_sr")
        if chosen:
            return int(chosen)
        return self.output_sr or int(sr)

    def function(self) -> Callable:
        """The function named by ``target``, imported now; a :class:`MethodUnavailableError` (also an
        ``ImportError``) when its module or a package it needs cannot be imported."""
        module, _, attr = self.target.partition(":")
        try:
            found = getattr(importlib.import_module(module), attr, None)
        except ImportError as exc:
            raise MethodUnavailableError(f"method {self.name} cannot run here: {first_line(exc)}") from exc
        if not callable(found):
            raise MethodUnavailableError(f"method {self.name}: {module} has no function {attr!r}")
        return found

    def __call__(self, y, sr: int, *, progress=None, **params):
        return self.function()(y, sr, progress=progress, **self.resolve(params))


#: The method the Studio selects when it opens, the benchmark's first row and the README's first example
#: (the trained U-Net; ``sbr`` is the fast DSP baseline).
DEFAULT_METHOD = "unet"
#: A method name: letters, digits, '_' and '-' (no '+' or '.': they join chains and address parameters).
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")
_BUILTIN: dict[str, Method] = {}
_methods: dict[str, Method] | None = None  # built-ins and plugins, once plugins were looked up
_lock = threading.RLock()
_loading = False  # plugins are being imported (one that lists methods meanwhile sees the built-ins)


def check_name(name: Any) -> None:
    """Refuse (``ValueError``) a method name that a chain or a parameter key could not hold."""
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise ValueError(f"method name {name!r} must be letters, digits, '_' or '-' (no '+', '.' or spaces)")


def register(method: Method) -> Method:
    """Add a built-in ``method`` to the registry; a second method of the same name is an error."""
    check_name(method.name)
    if method.name in _BUILTIN:
        raise ValueError(f"method {method.name!r} is already registered")
    _BUILTIN[method.name] = method
    if _methods is not None:
        refresh_plugins()
    return method


def _registered() -> dict[str, Method]:
    """Every method by name: the built-ins, then the plugins (looked up on the first call)."""
    global _methods, _loading
    methods = _methods
    if methods is not None:
        return methods
    with _lock:
        if _loading:
            return _BUILTIN
        if _methods is None:
            from .plugins import load_plugins

            _loading = True
            try:
                _methods = {**_BUILTIN, **load_plugins(set(_BUILTIN))}
            finally:
                _loading = False
        return _methods


def refresh_plugins() -> None:
    """Forget the plugins found so far; the next lookup searches the entry points again (after a
    plugin was installed into a running interpreter, or ``sys.path`` changed)."""
    global _methods
    with _lock:
        _methods = None


def get_method(name: str) -> Method:
    methods = _registered()
    try:
        return methods[name]
    except KeyError:
        raise UnknownMethodError(f"unknown method {name!r}; available: {', '.join(methods)}") from None


def list_methods() -> list[Method]:
    """Every method: the built-ins in their order, then the plugins by name."""
    return list(_registered().values())


def parse_chain(spec: str) -> list[Method]:
    """``"spectral_gating+unet"`` -> the methods in order."""
    names = [part.strip() for part in str(spec).split("+")]
    if not spec or any(not n for n in names):
        raise UnknownMethodError(f"bad method chain {spec!r}: use names joined by '+'")
    return [get_method(n) for n in names]


#: Chains worth offering next to the single methods: (chain, what it does).
SUGGESTED_CHAINS = (
    ("spectral_gating+sbr", "denoise the high band, then extend the bandwidth (DSP)"),
    ("spectral_gating+unet", "denoise the high band, then the trained U-Net"),
    ("mcra_wiener+sbr", "MCRA/Wiener denoising, then bandwidth extension (DSP)"),
    ("demucs+unet", "Demucs remix, then the trained U-Net"),
)


def suggested_chains() -> list[tuple[str, str]]:
    """``(chain, description)`` of the useful chains whose methods are all registered."""
    return [(chain, text) for chain, text in SUGGESTED_CHAINS
            if all(name in _registered() for name in chain.split("+"))]


def split_params(chain: list[Method], params: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Distribute ``params`` over a chain: ``"method.key"`` targets one stage; a bare ``"key"``
    goes to the single stage that has it (ambiguous or unknown keys raise)."""
    per_stage: list[dict[str, Any]] = [{} for _ in chain]
    names = [m.name for m in chain]
    for key, value in (params or {}).items():
        if "." in key:
            stage, _, name = key.partition(".")
            if stage not in names:
                raise BadParameterError(f"parameter {key!r} names method {stage!r}, which is not in {'+'.join(names)}")
            index = names.index(stage)
            chain[index].param(name)
            per_stage[index][name] = value
            continue
        owners = [i for i, m in enumerate(chain) if any(p.name == key for p in m.params)]
        if not owners:
            if len(chain) == 1:
                chain[0].param(key)  # raises with the list of parameters
            raise BadParameterError(f"no method in {'+'.join(names)} has a parameter {key!r}")
        if len(owners) > 1:
            raise BadParameterError(f"parameter {key!r} is ambiguous in {'+'.join(names)}; write method.{key}")
        per_stage[owners[0]][key] = value
    return per_stage


# --------------------------------------------------------------------------------------------
# The built-in methods. Each block is the whole spec of one method.

_BAND_HELP = "split frequency in Hz: only the band above it is processed (0 = full band)"
_DEVICE = Param("device", "choice", "auto", "where the model runs (auto = CUDA when available)", choices=("auto", "cpu", "cuda"))

register(Method(
    name="passthrough",
    description="No processing: the reference for A/B comparisons.",
    target="restoration.dsp.passthrough:passthrough",
))

register(Method(
    name="spectral_gating",
    description="noisereduce spectral gating of the band above band_hz (hiss and codec noise).",
    target="restoration.dsp.gating:spectral_gating",
    params=(
        Param("band_hz", "float", 6000.0, _BAND_HELP, 0.0, 24000.0, below_nyquist=True),
        Param("stationary", "bool", False, "stationary noise profile instead of a time-varying one"),
        Param("prop_decrease", "float", 0.7, "fraction of the noise removed (1 = all)", 0.0, 1.0),
        Param("time_constant_s", "float", 2.0, "time constant of the non-stationary noise estimate, seconds", 0.05, 5.0),
        Param("freq_mask_smooth_hz", "float", 500.0, "smoothing of the mask across frequency, Hz", 0.0, 10000.0),
    ),
))

register(Method(
    name="spectral_subtraction",
    description="High-band magnitude spectral subtraction with a noise profile from the quietest frames.",
    target="restoration.dsp.subtraction:spectral_subtraction",
    params=(
        Param("band_hz", "float", 6000.0, _BAND_HELP, 0.0, 24000.0, below_nyquist=True),
        Param("alpha", "float", 1.2, "over-subtraction factor", 0.0, 10.0),
        Param("beta", "float", 0.04, "spectral floor as a fraction of the input magnitude", 0.0, 1.0),
        Param("quiet_fraction", "float", 0.2, "fraction of frames (lowest RMS) that form the noise profile", 0.01, 1.0),
    ),
))

register(Method(
    name="mcra_wiener",
    description="MCRA noise tracking (Cohen & Berdugo 2002) with a decision-directed Wiener gain.",
    target="restoration.dsp.mcra:mcra_wiener",
    params=(
        Param("band_hz", "float", 6000.0, _BAND_HELP, 0.0, 24000.0, below_nyquist=True),
        Param("gain_floor_db", "float", -25.0, "lowest gain applied, dB", -80.0, 0.0),
        Param("window_s", "float", 1.5, "length of the minimum-search window, seconds", 0.2, 10.0),
        Param("dd_alpha", "float", 0.98, "decision-directed a-priori SNR smoothing", 0.0, 0.999),
        Param("gain_smoothing", "float", 0.5, "recursive smoothing of the gain over time (0 = none)", 0.0, 0.99),
    ),
))

register(Method(
    name="sbr",
    description="DSP bandwidth extension to 48 kHz by spectral band replication above the detected cutoff.",
    target="restoration.dsp.sbr:sbr",
    output_sr=48000,
    params=(
        Param("cutoff_hz", "float", 0.0, "cutoff of the input in Hz (0 = detect it)", 0.0, 24000.0, below_nyquist=True),
        Param("decay_db_per_khz", "float", 1.5, "extra attenuation of the replicated band per kHz above the cutoff", 0.0, 12.0),
        Param("level_db", "float", 0.0, "gain of the replicated band relative to the extrapolated envelope, dB", -24.0, 12.0),
    ),
))

register(Method(
    name="unet",
    description="Trained spectral U-Net: phase-coherent bandwidth extension to 48 kHz and artifact removal.",
    target="restoration.models.unet_method:restore",
    output_sr=48000,
    neural=True,
    params=(
        Param("strength", "float", 1.0, "mix between the resampled input (0) and the full restoration (1)", 0.0, 1.0),
        Param("air", "float", 0.0, "level of the added high band: -1 darker (-6 dB), 0 as trained, +1 brighter (+6 dB)", -1.0, 1.0),
        Param("top", "bool", True, "continue the new band from 19.5 kHz to Nyquist, fading as full-band recordings do "
                                   "(off: the model's band alone, which ends near 20 kHz)"),
        Param("checkpoint", "text", "", "checkpoint folder (model.safetensors + config.json); empty = shipped weights"),
        _DEVICE,
    ),
))

_STEMS = ("drums", "bass", "other", "vocals", "guitar", "piano")
register(Method(
    name="demucs",
    description="Zero-shot Demucs: separate into stems and remix, dropping what belongs to no instrument.",
    target="restoration.models.demucs_method:restore",
    neural=True,
    params=(
        Param("model", "text", "htdemucs", "pretrained Demucs model (htdemucs, htdemucs_ft, htdemucs_6s, mdx_extra, "
              "demucs_unittest, ...) or a model in repo"),
        Param("repo", "text", "", "local folder of model files (empty = download from the hub)"),
        Param("shifts", "int", 1, "random shifts averaged (more = better, slower)", 0, 20),
        Param("overlap", "float", 0.25, "overlap between segments", 0.0, 0.95),
        Param("segment", "float", 0.0, "segment length in seconds (0 = the model's default)", 0.0, 600.0),
        *(Param(f"{stem}_gain", "float", 1.0, f"gain of the {stem} stem" + (" (6-stem model)" if stem in ("guitar", "piano") else ""), 0.0, 4.0) for stem in _STEMS),
        Param("residual_gain", "float", 0.0, "gain of the mixture minus the sum of the stems (0 drops it, 1 gives back the input)", 0.0, 4.0),
        Param("stem_method", "choice", "none", "DSP method applied to one stem before the remix", choices=("none", "spectral_gating", "spectral_subtraction", "mcra_wiener")),
        Param("stem", "choice", "other", "the stem that stem_method processes", choices=_STEMS),
        Param("output_sr", "choice", 0, "output sample rate (0 = the input's)", choices=(0, 44100, 48000)),
        _DEVICE,
    ),
))
