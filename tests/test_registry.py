"""Method specs: lookup, parameter coercion and ranges, chains."""

import numpy as np
import pytest

from restoration import (BadParameterError, UnknownMethodError, get_method, list_methods, parse_chain, restore,
                         suggested_chains)
from restoration.registry import Param, split_params

EXPECTED = {"passthrough", "spectral_gating", "spectral_subtraction", "mcra_wiener", "sbr", "unet", "demucs"}


def test_every_method_is_registered_with_a_complete_spec():
    methods = {m.name: m for m in list_methods()}
    assert EXPECTED <= set(methods)
    for method in methods.values():
        assert method.description and method.target.count(":") == 1
        for p in method.params:
            assert p.help
            assert p.coerce(p.default) == p.default  # defaults are valid values
    assert get_method("sbr").output_rate(32000) == 48000
    assert get_method("spectral_gating").output_rate(32000) == 32000
    assert get_method("demucs").output_rate(32000, {"output_sr": 48000}) == 48000


def test_coercion_from_command_line_strings():
    p = Param("x", "float", 1.0, "h", 0.0, 2.0)
    assert p.coerce("1.5") == 1.5
    with pytest.raises(BadParameterError, match=r"within \[0.0, 2.0\]"):
        p.coerce("3")
    with pytest.raises(BadParameterError, match="must be float"):
        p.coerce("abc")
    with pytest.raises(BadParameterError, match="must be float"):
        p.coerce("nan")
    assert Param("b", "bool", False, "h").coerce("yes") is True
    with pytest.raises(BadParameterError, match="must be bool"):
        Param("b", "bool", False, "h").coerce("maybe")
    assert Param("n", "int", 1, "h").coerce("3") == 3
    with pytest.raises(BadParameterError, match="must be int"):
        Param("n", "int", 1, "h").coerce("2.5")
    choice = Param("c", "choice", 0, "h", choices=(0, 44100, 48000))
    assert choice.coerce("44100") == 44100
    with pytest.raises(BadParameterError, match="one of"):
        choice.coerce("22050")


def test_resolve_rejects_unknown_parameter():
    method = get_method("spectral_subtraction")
    assert method.resolve({"alpha": "2"})["alpha"] == 2.0
    with pytest.raises(BadParameterError, match="no parameter 'gamma'"):
        method.resolve({"gamma": 1})


def test_chains_and_parameter_routing():
    chain = parse_chain("spectral_gating+sbr")
    assert [m.name for m in chain] == ["spectral_gating", "sbr"]
    routed = split_params(chain, {"prop_decrease": 0.5, "sbr.cutoff_hz": 9000})
    assert routed == [{"prop_decrease": 0.5}, {"cutoff_hz": 9000}]
    with pytest.raises(BadParameterError, match="ambiguous"):
        split_params(parse_chain("spectral_gating+spectral_subtraction"), {"band_hz": 4000})
    with pytest.raises(BadParameterError, match="not in"):
        split_params(chain, {"unet.strength": 1})
    with pytest.raises(UnknownMethodError, match="unknown method 'nope'"):
        parse_chain("spectral_gating+nope")
    with pytest.raises(UnknownMethodError, match="bad method chain"):
        parse_chain("sbr++unet")


def test_frequencies_above_the_input_nyquist_are_refused_before_any_stage_runs(music):
    y = music(32000, 0.5, 1)
    cutoff = get_method("sbr").param("cutoff_hz")
    assert cutoff.high_for_rate(32000) == 16000.0 and cutoff.high_for_rate(96000) == 24000.0
    with pytest.raises(BadParameterError, match=r"sbr.cutoff_hz = 20000 Hz is above the Nyquist frequency of the "
                                                r"32000 Hz input \(16000 Hz\); choose at most 16000"):
        restore(y, 32000, "sbr", {"cutoff_hz": 20000})
    with pytest.raises(BadParameterError, match="spectral_gating.band_hz = 17000 Hz"):
        restore(y, 32000, "spectral_gating+sbr", {"spectral_gating.band_hz": 17000})
    out, rate = restore(y, 32000, "sbr+spectral_gating", {"spectral_gating.band_hz": 20000})  # after sbr: 48 kHz
    assert rate == 48000 and out.shape == (1, 24000)
    out, _ = restore(y, 32000, "sbr", {"cutoff_hz": 16000})  # at Nyquist: allowed
    assert np.isfinite(out).all()


def test_suggested_chains_are_valid_and_registered():
    chains = dict(suggested_chains())
    assert "spectral_gating+unet" in chains and "spectral_gating+sbr" in chains
    for chain, text in chains.items():
        assert len(parse_chain(chain)) >= 2 and text
