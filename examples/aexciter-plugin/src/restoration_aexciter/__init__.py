"""The spec of the ``aexciter`` restoration method (the entry point names ``METHOD``).

This module is imported whenever methods are listed, so it stays light: it names the function by
its import path and imports nothing but the spec classes.
"""

from restoration import Method, Param

METHOD = Method(
    name="aexciter",
    description="ffmpeg's aexciter at 48 kHz: harmonics of the band above freq_hz, up to 20 kHz (plugin example).",
    target="restoration_aexciter.exciter:excite",
    output_sr=48000,
    params=(
        Param("amount_db", "float", 0.0, "level of the added harmonics, dB (0 = ffmpeg's default amount)", -30.0, 12.0),
        Param("drive", "float", 8.5, "saturation that makes the harmonics (more = denser, brighter)", 0.1, 10.0),
        Param("freq_hz", "float", 7500.0, "the band above this frequency, Hz, is what makes the harmonics",
              2000.0, 12000.0),
    ),
)
