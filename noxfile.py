"""Nox sessions: one per distribution, integration, lint, typecheck and the benchmarks.

A torch install is about 6 GB, so it is made once, in a base virtual environment
(`.nox/_base`, or FR_BASE_VENV), and every session sees it through a `.pth` file in its own
site-packages, the way `--system-site-packages` would if venvs could stack. Each session then
installs the distributions it tests non-editable, so their entry points are the real ones.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nox

ROOT = Path(__file__).resolve().parent
BASE = Path(os.environ.get("FR_BASE_VENV", ROOT / ".nox" / "_base"))
TORCH = ["torch==2.14.1", "torchvision==0.29.1"]
CONSTRAINTS = ["-c", str(ROOT / "constraints.txt")]
PLUGINS = {
    "caption": "plugins/fr_caption",
    "sam": "plugins/fr_sam",
    "baselines": "plugins/fr_baselines",
}
EXAMPLE = "examples/fr-example-reward"
LINTED = ["core", "plugins", "tests", "benchmarks", "examples", "noxfile.py"]

nox.options.sessions = ["lint", "typecheck", "core", "caption", "sam", "baselines", "integration"]
nox.options.default_venv_backend = "venv"


def _purelib(python: str | Path) -> str:
    code = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    return subprocess.run(
        [str(python), "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()


def _base_python() -> Path:
    """The shared torch venv, made on first use."""
    python = BASE / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(BASE)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *TORCH], check=True)
    return python


def _with_torch(session: nox.Session) -> None:
    """Make the base venv's packages (torch, torchvision) visible inside this session's venv."""
    site = Path(_purelib(Path(session.bin) / "python"))
    (site / "_fr_base_torch.pth").write_text(_purelib(_base_python()) + "\n")


def _install(session: nox.Session, *targets: str) -> None:
    _with_torch(session)
    session.install(*CONSTRAINTS, *targets)


def _pytest(session: nox.Session, *paths: str) -> None:
    session.run("pytest", *paths, *session.posargs, env={"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"})


@nox.session
def core(session: nox.Session) -> None:
    """The core alone (no external plugin installed): registry, CLI, toy world, trainer."""
    _install(session, "./core[test]")
    _pytest(session, "core/tests")


def _plugin_session(name: str, path: str) -> None:
    @nox.session(name=name)
    def run(session: nox.Session) -> None:
        _install(session, "./core[test]", f"./{path}[test]")
        _pytest(session, f"{path}/tests")

    run.__doc__ = f"The {Path(path).name} plugin installed on the core, with its own tests."


for _name, _path in PLUGINS.items():
    _plugin_session(_name, _path)


@nox.session
def integration(session: nox.Session) -> None:
    """Everything installed together, plus the example third-party plugin: CLI end to end."""
    _install(session, "./core[test]", *(f"./{p}" for p in PLUGINS.values()), f"./{EXAMPLE}")
    _pytest(session, "tests")


@nox.session
def lint(session: nox.Session) -> None:
    session.install("ruff")
    session.run("ruff", "check", *LINTED)


@nox.session
def typecheck(session: nox.Session) -> None:
    _install(session, "./core", "mypy")
    session.run("mypy")


@nox.session(name="bench-perf")
def bench_perf(session: nox.Session) -> None:
    """Performance figures (startup, batching, cache, a training round) -> docs/benchmarks.md."""
    _install(session, "./core", *(f"./{p}" for p in PLUGINS.values()))
    session.run("python", "benchmarks/perf.py", *session.posargs, env={"HF_HUB_OFFLINE": "1"})


@nox.session(name="bench-quality")
def bench_quality(session: nox.Session) -> None:
    """The paper's table on the toy world -> benchmarks/results/*.json and docs/benchmarks.md."""
    _install(session, "./core", *(f"./{p}" for p in PLUGINS.values()))
    session.run("python", "benchmarks/quality.py", *session.posargs, env={"HF_HUB_OFFLINE": "1"})


@nox.session
def bench(session: nox.Session) -> None:
    """Alias of bench-perf (the quick benchmarks)."""
    session.notify("bench-perf", session.posargs)
