"""Method specs: lookup, parameter coercion and ranges, chains."""

import pytest

from restoration import BadParameterError, UnknownMethodError, get_method, list_methods, parse_chain
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
