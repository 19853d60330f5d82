"""Benchmark: the installers' sizes, the built app's cold start to ``/api/health`` against
the same from source, and the built tray app's start until its icon sits in the tray.

Builds what is missing with packaging/build.py (the folder app is reused while its inputs
are unchanged; installers already in dist/ for this version are measured as they are).
Each start is a fresh process on a fresh data folder; the figures are over ROUNDS starts.
Run: ``.venv/bin/python -m tests.bench_package``.
"""

from __future__ import annotations

import contextlib
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from tests.desktop_support import missing_x_tools, recording_opener, x_screen_with_tray
from tests.package.frozen import DIST, ROOT, build, bundle_executable, free_port, health

ROUNDS = 5
INSTALLER_PATTERNS = ("*.deb", "*.tar.gz", "*-setup.exe", "*.dmg")
TRAY_ICON = '("Tandem" "Tandem")'  # the icon's window, embedded in trayer's panel


def source_version() -> str:
    sys.path.insert(0, str(ROOT))
    import server

    return server.__version__


def installers(version: str) -> list[Path]:
    return sorted(
        p for pattern in INSTALLER_PATTERNS for p in DIST.glob(pattern) if version in p.name
    )


def time_to_health(command: list[str], data_dir: Path) -> float:
    port = free_port()
    started = time.perf_counter()
    proc = subprocess.Popen(
        [*command, "serve", "--port", str(port), "--data-dir", str(data_dir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = started + 60
        while health(f"http://127.0.0.1:{port}/", 0.5) is None:
            if proc.poll() is not None or time.perf_counter() > deadline:
                raise RuntimeError(f"{command[0]} did not answer within 60 s")
            time.sleep(0.002)
        return time.perf_counter() - started
    finally:
        proc.terminate()
        proc.wait(30)


def time_to_tray_icon(exe: Path, tmp: Path, env: dict[str, str]) -> float:
    data_dir = tmp / "data"
    data_dir.mkdir(parents=True)
    (data_dir / "desktop.json").write_text(json.dumps({"port": 0, "notifications": False}))
    opener, _ = recording_opener(tmp / "opener")
    env = {**env, **opener, "TANDEM_DATA_DIR": str(data_dir), "XDG_STATE_HOME": str(tmp / "s")}

    def icon_shown() -> bool:
        tree = subprocess.run(
            ["xwininfo", "-root", "-tree"], env=env, capture_output=True, text=True
        ).stdout
        return TRAY_ICON in tree

    started = time.perf_counter()
    proc = subprocess.Popen([str(exe)], env=env, stderr=subprocess.DEVNULL)
    try:
        deadline = started + 60
        while not icon_shown():
            if proc.poll() is not None or time.perf_counter() > deadline:
                raise RuntimeError("the tray icon did not appear within 60 s")
            time.sleep(0.005)
        return time.perf_counter() - started
    finally:
        proc.terminate()
        proc.wait(30)


def figures(values: list[float]) -> str:
    ms = [v * 1000 for v in values]
    return f"median {statistics.median(ms):.0f} ms (min {min(ms):.0f}, max {max(ms):.0f})"


def rounds(measure: Callable[[Path], float]) -> list[float]:
    values = []
    for _ in range(ROUNDS):
        with tempfile.TemporaryDirectory() as tmp:
            values.append(measure(Path(tmp)))
    return values


def main() -> None:
    version = source_version()
    if not installers(version):
        print("   building the installers (make package)…", flush=True)
        build()
    else:
        build("--bundle-only")
    exe = bundle_executable()
    folder = exe.parent if sys.platform != "darwin" else exe.parents[2]
    # lstat: the folder links some libraries under two names; count each file once.
    folder_size = sum(p.lstat().st_size for p in folder.rglob("*") if not p.is_symlink())
    print(f"   folder app {folder.name}: {folder_size / 2**20:.1f} MiB on disk")
    for path in installers(version):
        print(f"   installer {path.name}: {path.stat().st_size / 2**20:.1f} MiB")

    source = Path(sys.executable).with_name("tandem")
    frozen = rounds(lambda tmp: time_to_health([str(exe)], tmp / "data"))
    print(f"   cold start to /api/health, {ROUNDS} fresh data folders each:")
    print(f"     built app:   {figures(frozen)}")
    if source.exists():
        from_source = rounds(lambda tmp: time_to_health([str(source)], tmp / "data"))
        print(f"     from source: {figures(from_source)}")
        ratio = statistics.median(frozen) / statistics.median(from_source)
        print(f"     built / source: {ratio:.2f}x")
    if sys.platform.startswith("linux") and not missing_x_tools():
        with contextlib.ExitStack() as stack:
            env = stack.enter_context(x_screen_with_tray())
            tray = rounds(lambda tmp: time_to_tray_icon(exe, tmp, env))
        print(f"   built tray app, start to its icon in the tray (Xvfb + trayer): {figures(tray)}")
    else:
        print("   tray icon start: skipped (needs Linux with Xvfb, trayer, xwininfo)")


if __name__ == "__main__":
    main()
