#!/usr/bin/env python3
"""Developer entry point; needs nothing but Python 3.11+.

    python3 dev.py run            install into .venv, create the demo workspace, serve it
    python3 dev.py test [ARGS]    install into .venv (with test tools), run the whole test suite
    python3 dev.py lint           ruff (lint + format check) and mypy
    python3 dev.py bench          run the benchmarks in benchmarks/

The test suite runs on SQLite by default; CONFIDE_TEST_BACKEND=postgres runs the same suite on
PostgreSQL (CONFIDE_TEST_POSTGRES_URL, default postgresql+asyncpg://postgres@127.0.0.1:5432/postgres).
Installation is skipped when pyproject.toml has not changed since the last one.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / "python"


def _install(extras: str) -> None:
    if sys.version_info < (3, 11):
        sys.exit("Confide needs Python 3.11 or newer.")
    if not PYTHON.exists():
        print("Creating .venv ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    stamp = VENV / f".confide-installed-{extras or 'base'}"
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text() == digest:
        return
    print("Installing Confide and its dependencies into .venv ...", flush=True)
    target = f".[{extras}]" if extras else "."
    subprocess.run(
        [
            str(PYTHON),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-e",
            target,
        ],
        cwd=ROOT,
        check=True,
    )
    stamp.write_text(digest)


CHROMIUM = Path(os.environ.get("CONFIDE_TEST_CHROMIUM", "/usr/bin/chromium"))


def _ensure_chromium() -> None:
    """The browser tests drive Debian's chromium; install the package when we can.

    Never a browser download by a test tool: only the distribution's package manager.
    """
    if CHROMIUM.exists() or not shutil.which("apt-get"):
        return
    if os.geteuid() != 0:
        print(f"{CHROMIUM} is missing; install it with: sudo apt-get install chromium", flush=True)
        return
    print("Installing Debian's chromium for the browser tests ...", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", "chromium"]
    if subprocess.run(install, env=env).returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], env=env, check=True)
        subprocess.run(install, env=env, check=True)


def _ensure_pdf_tools() -> None:
    """WeasyPrint renders the record of processing with the system's pango (libpangoft2), and
    the PDF tests read it back with poppler's ``pdftoppm`` and ``pdftotext``: install the
    Debian packages that are missing, the way chromium is installed."""
    import ctypes.util

    missing = []
    if not shutil.which("pdftoppm"):
        missing.append("poppler-utils")
    if ctypes.util.find_library("pangoft2-1.0") is None:
        missing.append("libpangoft2-1.0-0")
    if not missing or not shutil.which("apt-get"):
        return
    if os.geteuid() != 0:
        print(f"Missing for the PDF tests: sudo apt-get install {' '.join(missing)}", flush=True)
        return
    print(f"Installing {', '.join(missing)} for the PDF tests ...", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", *missing]
    if subprocess.run(install, env=env).returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], env=env, check=True)
        subprocess.run(install, env=env, check=True)


AXE_VERSION = "4.14.1"
AXE_DIR = VENV / "axe"
AXE_SCRIPT = AXE_DIR / "node_modules" / "axe-core" / "axe.min.js"


def _ensure_axe() -> None:
    """axe-core for the accessibility tests, from the npm registry into .venv/axe (never
    committed, never served by Confide: the tests hand it to their own page only)."""
    if AXE_SCRIPT.exists() or not shutil.which("npm"):
        return
    print(f"Installing axe-core {AXE_VERSION} (npm) for the accessibility tests ...", flush=True)
    AXE_DIR.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            "npm",
            "install",
            "--prefix",
            str(AXE_DIR),
            "--no-save",
            "--no-audit",
            "--no-fund",
            f"axe-core@{AXE_VERSION}",
        ],
        check=True,
    )


def _exec(args: list[str]) -> int:
    return subprocess.run(args, cwd=ROOT).returncode


def _become(args: list[str]) -> int:
    """Replace this process with ``args`` (POSIX), so a signal sent to ``dev.py`` (Ctrl+C,
    SIGTERM from a supervisor) reaches the server or test run itself instead of leaving it
    running as an orphan. Elsewhere, run it as a child."""
    if os.name != "posix":
        return _exec(args)
    sys.stdout.flush()
    sys.stderr.flush()
    os.chdir(ROOT)
    os.execv(args[0], args)  # noqa: S606  (our own venv binaries, no shell)


def main(argv: list[str]) -> int:
    command, rest = (argv[0], argv[1:]) if argv else ("help", [])
    if command == "run":
        _install("")
        return _become([str(BIN / "confide"), "demo", *rest])
    if command == "test":
        _install("test")
        _ensure_chromium()
        _ensure_pdf_tools()
        _ensure_axe()
        return _become([str(PYTHON), "-m", "pytest", *rest])
    if command == "lint":
        _install("test")
        steps = [
            [str(PYTHON), "-m", "ruff", "check", "."],
            [str(PYTHON), "-m", "ruff", "format", "--check", "."],
            [str(PYTHON), "-m", "mypy"],
        ]
        for step in steps:
            code = _exec(step)
            if code:
                return code
        return 0
    if command == "bench":
        _install("test")
        return _become([str(PYTHON), "-m", "benchmarks", *rest])
    print(__doc__)
    return 0 if command in ("help", "-h", "--help") else 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
