#!/usr/bin/env bash
# Wheels that scripts/device_check.py needs on a device machine (Python 3.12, torch and transformers
# already there; nothing can be fetched there), downloaded here into .whl/ (git-ignored, about 20 MB).
# Then, in one device `run` with carry [".whl"] (docs/unet.md, "A GPU session"):
#   python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
#     && export PYTHONPATH=/tmp/site && HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1 python3 scripts/device_check.py --device cuda
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .whl
platforms=()
for p in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64 manylinux1_x86_64; do
  platforms+=(--platform "$p")
done
# soundfile and soxr: audio I/O and resampling; demucs and what it needs beyond the image; librosa (metrics)
# and what it needs; visqol-python for the surrogate's SVR model file (its libsvm is not needed for that).
for requirement in soundfile==0.14.0 cffi pycparser soxr==1.1.0 demucs==4.1.0 julius lameenc sphn \
    librosa==0.11.0 audioread decorator pooch platformdirs visqol-python==3.8.0; do
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    "${platforms[@]}" -d .whl "$requirement"
done
du -sh .whl
