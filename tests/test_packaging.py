"""The installable package: wheel contents, requirements in step with pyproject, the installed command."""

import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    from pip._vendor import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """A wheel built (no isolation, no network) from a copy of the project's packaged files."""
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "restoration", src / "restoration", ignore=shutil.ignore_patterns("__pycache__"))
    dist = tmp_path_factory.mktemp("dist")
    result = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                             "-w", str(dist), str(src)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    (found,) = dist.glob("*.whl")
    return found


def test_wheel_holds_every_module_the_checkpoint_and_the_data(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    sources = {p.relative_to(ROOT).as_posix() for p in (ROOT / "restoration").rglob("*")
               if p.is_file() and "__pycache__" not in p.parts}
    assert sources <= names, sorted(sources - names)
    for data in ("restoration/data/unet/model.safetensors", "restoration/data/unet/config.json",
                 "restoration/data/rvq_codebooks.npz"):
        assert data in names
        assert zipfile.ZipFile(wheel).read(data) == (ROOT / data).read_bytes()
    assert not any(n.startswith(("tests/", "scripts/", "assets/")) for n in names)
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    assert "restoration = restoration.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


def _requirement_names(lines) -> list[str]:
    return sorted(re.split(r"[<>=!~ ;\[]", line.strip(), maxsplit=1)[0].lower().replace("_", "-")
                  for line in lines if line.strip() and not line.lstrip().startswith(("#", "-r")))


def test_requirement_files_match_pyproject():
    project = PYPROJECT["project"]
    extras = project["optional-dependencies"]
    spaces = (ROOT / "requirements.txt").read_text().splitlines()  # what Hugging Face Spaces installs
    assert sorted(line.strip() for line in spaces if line.strip() and not line.startswith("#")) == \
        sorted(project["dependencies"] + extras["app"])
    dev = (ROOT / "requirements-dev.txt").read_text().splitlines()
    assert "-r requirements.txt" in dev
    assert _requirement_names(dev) == _requirement_names(extras["dev"] + extras["batch"] + extras["train"])
    assert project["scripts"] == {"restoration": "restoration.cli:main"}


@pytest.mark.slow
def test_installed_command_works_from_any_folder(wheel, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True, timeout=300)
    python = venv / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", str(wheel)], check=True,
                   capture_output=True, timeout=300)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    for command in ([str(venv / "bin" / "restoration"), "methods"], [str(python), "-m", "restoration", "methods"]):
        result = subprocess.run(command, cwd=elsewhere, env=env, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0 and "unet" in result.stdout and "sbr" in result.stdout, result.stderr
    where = subprocess.run([str(python), "-c", "import restoration.models.checkpoint as c; "
                            "print(c.DEFAULT_CHECKPOINT); print(c.read_config(c.DEFAULT_CHECKPOINT)['format'])"],
                           cwd=elsewhere, env=env, capture_output=True, text=True, timeout=300)
    folder, fmt = where.stdout.split()
    assert Path(folder).is_relative_to(venv) and fmt == "restoration-spectral-unet"  # the installed copy
    result = subprocess.run([str(venv / "bin" / "restoration"), "restore", "nope.wav", "out.wav", "-m", "sbr"],
                            cwd=elsewhere, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2 and result.stderr.strip() == "error: no such file: nope.wav"


def test_apt_waits_for_a_held_lock_with_one_message(tmp_path):
    """scripts/install.sh's apt-get retries while another package manager holds the lock, says so once,
    and stops at once on any other failure."""
    attempts = tmp_path / "attempts"
    fake = tmp_path / "apt-get"  # fails twice with apt's lock message, then succeeds
    fake.write_text(f"""#!/bin/sh
echo x >> {attempts}
[ "$(wc -l < {attempts})" -gt 2 ] && exit 0
echo "E: Could not get lock /var/lib/dpkg/lock-frontend. It is held by process 812 (unattended-upgr)" >&2
exit 100
""")
    fake.chmod(0o755)
    script = f". {ROOT / 'scripts' / 'apt_lock.sh'}; apt_get_waiting {fake} update"
    env = dict(os.environ, APT_LOCK_POLL_S="0")
    result = subprocess.run(["bash", "-c", script], capture_output=True, text=True, env=env)
    assert result.returncode == 0 and attempts.read_text().count("x") == 3
    assert result.stderr.strip().splitlines() == [
        "apt is locked by another package manager (unattended upgrades on a fresh machine?): "
        "waiting up to 900 s for it to finish..."]
    attempts.unlink()
    broken = subprocess.run(["bash", "-c", f". {ROOT / 'scripts' / 'apt_lock.sh'}; apt_get_waiting sh -c "
                             "'echo E: Unable to locate package nope >&2; exit 100'"],
                            capture_output=True, text=True, env=env)
    assert broken.returncode == 1 and broken.stderr.strip() == "E: Unable to locate package nope"
    held = subprocess.run(["bash", "-c", script], capture_output=True, text=True,
                          env=dict(env, APT_LOCK_WAIT_S="0"))  # no time to wait: stops with the reason
    assert held.returncode == 1 and "still locked after 0 s" in held.stderr and "Could not get lock" in held.stderr


def test_readme_links_only_files_of_the_repository():
    """A clone has no ../shared: the architecture is docs/design.md, and every relative link resolves."""
    text = (ROOT / "README.md").read_text()
    assert "../shared/DESIGN.md" not in text and "(docs/design.md)" in text
    missing = [link for link in re.findall(r"\]\(([^)#:]+)\)", text) if not (ROOT / link).exists()]
    assert missing == []
