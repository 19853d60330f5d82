"""Build the app with PyInstaller into a temporary folder and check that the result runs.

Run from the repository root: ``python packaging/check_build.py [--keep]``. It builds
with packaging/tandem.spec, starts ``<dist>/Tandem/Tandem serve --port 0`` with a fresh
data folder, and checks the ready line, ``/api/health``, that the bundled web UI is
served, and that SIGTERM ends the server with exit status 0. ``--keep`` leaves the build
in place and prints where. Needs ``pip install pyinstaller`` and a built ``web/dist``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
READY = "Tandem is running at "


def build(work: Path) -> Path:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "PyInstaller",
            str(ROOT / "packaging" / "tandem.spec"),
            "--noconfirm",
            "--distpath",
            str(work / "dist"),
            "--workpath",
            str(work / "build"),
        ],
        cwd=ROOT,
        check=True,
    )
    exe = work / "dist" / "Tandem" / ("Tandem.exe" if os.name == "nt" else "Tandem")
    if not exe.is_file():
        raise SystemExit(f"no executable at {exe}")
    return exe


def get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as reply:
        return str(reply.read().decode("utf-8"))


def check_serve(exe: Path, data_dir: Path, timeout: float = 60.0) -> None:
    env = dict(os.environ, TANDEM_DATA_DIR=str(data_dir))
    proc = subprocess.Popen(
        [str(exe), "serve", "--port", "0"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    ready = threading.Event()
    lines: list[str] = []

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if line.startswith(READY):
                ready.set()

    threading.Thread(target=read, daemon=True).start()
    try:
        if not ready.wait(timeout):
            raise SystemExit(f"no ready line within {timeout:g} s: {lines!r}")
        url = next(line for line in lines if line.startswith(READY))[len(READY) :].strip()
        print(f"ready line: {READY}{url}")
        health = json.loads(get(url + "api/health"))
        assert health["status"] == "ok", health
        print(f"/api/health: {health}")
        page = get(url)
        assert "/assets/" in page and "not built" not in page, page[:300]
        print("web UI: served from the bundle")
    finally:
        # SIGTERM on POSIX; on Windows this is TerminateProcess, which is not graceful.
        proc.terminate()
        try:
            _, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise SystemExit("the server did not stop within 30 s after SIGTERM") from None
    if os.name != "nt":
        if proc.returncode != 0:
            raise SystemExit(f"exit status {proc.returncode}: {err}")
        print("SIGTERM: stopped, exit status 0")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="keep the build and print where")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="tandem-build-"))
    try:
        exe = build(work)
        check_serve(exe, work / "data")
        size = sum(f.stat().st_size for f in exe.parent.rglob("*") if f.is_file())
        print(f"build OK: {exe} ({size / 2**20:.0f} MiB)")
    finally:
        if args.keep:
            print(f"kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
