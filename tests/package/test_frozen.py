"""The built folder app itself, on every OS the release workflow builds on: the server
alone answers and round-trips, the tray app starts (Linux: under Xvfb with a tray host),
``tandem --quit`` stops it, and a damaged database is kept and reported."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.settings import DesktopSettings
from tests.desktop_support import opened_urls, recording_opener, wait_for
from tests.package.conftest import isolated_home
from tests.package.frozen import health, round_trip, run, serve, wait_for_ready_line

# Building the folder app and its installers takes minutes on a small machine.
pytestmark = [pytest.mark.package, pytest.mark.timeout(1800)]


def test_frozen_server_round_trips_and_stops_on_sigterm(bundle: Path, tmp_path: Path) -> None:
    data_dir = tmp_path / "fresh"
    served = serve([str(bundle)], data_dir, env=isolated_home(tmp_path))
    try:
        if os.name != "nt":
            assert wait_for_ready_line(served) == served.url
        import server

        assert health(served.url) == {"status": "ok", "version": server.__version__}
        run(round_trip(served.url))
    finally:
        status = served.stop()
    if os.name != "nt":
        assert status == 0, served.errors
        assert "Traceback" not in "".join(served.errors), served.errors
    assert (data_dir / "tandem.sqlite3").is_file()


def test_frozen_version_matches_the_source(bundle: Path) -> None:
    import server

    done = subprocess.run([str(bundle), "--version"], capture_output=True, text=True, timeout=60)
    if os.name != "nt":  # a windowed Windows build prints nowhere
        assert done.stdout.strip() == f"tandem {server.__version__}"


def test_damaged_database_is_kept_and_reported(bundle: Path, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    damaged = data_dir / "tandem.sqlite3"
    # SQLite's header, then noise; but byte 19 (the read version) above 2, so that SQLite
    # refuses the file before anything else: as 2 (one random file in 256) it would open a
    # WAL beside it first, and keep_aside would rightly copy that too.
    garbage = b"SQLite format 3\x00" + os.urandom(3) + b"\xff" + os.urandom(8188)
    damaged.write_bytes(garbage)
    done = subprocess.run(
        [str(bundle), "serve", "--port", "0", "--data-dir", str(data_dir)],
        env={**os.environ, **isolated_home(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert damaged.read_bytes() == garbage, "the damaged file was changed"
    copies = list(data_dir.glob("tandem.sqlite3.damaged-*"))
    assert [copy.read_bytes() for copy in copies] == [garbage]
    if os.name != "nt":
        # One line for the person (the log may say it too).
        refusal = [line for line in done.stderr.splitlines() if line.startswith("tandem: ")]
        assert len(refusal) == 1, done.stderr
        assert "is damaged" in refusal[0] and str(copies[0]) in refusal[0], refusal
        assert "Traceback" not in done.stderr


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Xvfb is Linux's")
def test_tray_app_starts_from_the_bundle_and_quits_when_asked(
    bundle: Path, tmp_path: Path, x_with_tray: dict[str, str]
) -> None:
    data_dir = tmp_path / "data"
    DesktopSettings(port=0, notifications=False).save(data_dir)
    opener, opened = recording_opener(tmp_path / "opener")
    env = {**x_with_tray, **opener, **isolated_home(tmp_path), "TANDEM_DATA_DIR": str(data_dir)}
    proc = subprocess.Popen(
        [str(bundle)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        instance = data_dir / "instance.json"

        def published() -> bool:
            try:
                return proc.poll() is not None or bool(json.loads(instance.read_text())["url"])
            except (OSError, ValueError, KeyError):
                return False

        assert wait_for(published, 90), "the tray app did not publish its address"
        assert proc.poll() is None, proc.communicate(timeout=10)

        def icon_in_tray() -> bool:
            tree = subprocess.run(
                ["xwininfo", "-root", "-tree"], env=env, capture_output=True, text=True
            ).stdout
            # The icon's window, class "Tandem" (the .desktop's StartupWMClass), embedded
            # in trayer's panel.
            return '("Tandem" "Tandem")' in tree

        assert wait_for(icon_in_tray, 30), "no Tandem icon in the tray"
        url = json.loads(instance.read_text())["url"]
        assert wait_for(lambda: opened_urls(opened) == [url], 30), opened_urls(opened)
        run(round_trip(url))
        # A second start of the same install opens the running board instead.
        second = subprocess.run([str(bundle)], env=env, capture_output=True, timeout=60)
        assert second.returncode == 0, second.stderr
        assert opened_urls(opened) == [url, url]
        # What an installer does before it replaces the files.
        started = time.monotonic()
        asked = subprocess.run(
            [str(bundle), "--quit"], env=env, capture_output=True, text=True, timeout=60
        )
        assert asked.returncode == 0, asked.stderr
        assert "Tandem has quit" in asked.stderr
        # --quit returns once the app has gone, so the exit status is there already.
        assert proc.poll() == 0 or proc.wait(5) == 0
        assert time.monotonic() - started < 30
        _, stderr = proc.communicate(timeout=10)
        assert "Traceback" not in stderr, stderr
        assert not (data_dir / "tandem.lock").exists()
        again = subprocess.run(
            [str(bundle), "--quit"], env=env, capture_output=True, text=True, timeout=60
        )
        assert (again.returncode, again.stderr.strip()) == (0, "tandem: Tandem is not running")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
