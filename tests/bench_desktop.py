"""Benchmark: time from launching ``tandem`` to its server answering ``/api/health``.

Runs the real command in a temporary data folder, five times, and prints the figures.
With a display and a tray (``DISPLAY`` set) this is the tray app; without one it is the
fallback, ``tandem serve --open``; both are reported as what they were.
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROUNDS = 5


def _health(url: str) -> bool:
    try:
        with urllib.request.urlopen(url.rstrip("/") + "/api/health", timeout=1) as reply:
            return bool(reply.status == 200)
    except OSError:
        return False


def one_launch(tandem: str, data_dir: Path) -> tuple[float, str]:
    data_dir.mkdir(parents=True)
    # Any free port, so runs do not collide with a Tandem already running.
    (data_dir / "desktop.json").write_text(json.dumps({"port": 0, "notifications": False}))
    env = dict(os.environ, TANDEM_DATA_DIR=str(data_dir), BROWSER="true")
    env["XDG_STATE_HOME"] = str(data_dir / "state")
    started = time.perf_counter()
    proc = subprocess.Popen(
        [tandem], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    found: list[str] = []

    def read_stdout() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("Tandem is running at "):
                found.append(line.split(" at ", 1)[1].strip())

    threading.Thread(target=read_stdout, daemon=True).start()
    mode = "serve --open (fallback)"
    try:
        deadline = started + 60
        while time.perf_counter() < deadline:
            url = found[0] if found else None
            if url is None:
                try:
                    url = json.loads((data_dir / "instance.json").read_text())["url"]
                    mode = "tray app"
                except (OSError, ValueError, KeyError):
                    url = None
            if url and _health(url):
                return time.perf_counter() - started, mode
            time.sleep(0.005)
        raise RuntimeError("tandem did not answer within 60 s")
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(30)


def main() -> None:
    tandem = str(Path(sys.executable).with_name("tandem"))
    if not Path(tandem).exists():
        print("   tandem command not installed; skipped")
        return
    times: list[float] = []
    mode = ""
    with tempfile.TemporaryDirectory() as tmp:
        for n in range(ROUNDS):
            seconds, mode = one_launch(tandem, Path(tmp) / f"run{n}")
            times.append(seconds)
    print(f"   launch `tandem` -> /api/health answers [{mode}], {ROUNDS} runs:")
    print(
        f"   median {statistics.median(times) * 1000:.0f} ms, "
        f"min {min(times) * 1000:.0f} ms, max {max(times) * 1000:.0f} ms"
    )
    print("   (time to the board's first render: see bench_ui)")


if __name__ == "__main__":
    main()
