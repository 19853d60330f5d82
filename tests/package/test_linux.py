"""The Linux installers on this machine: the .deb installs with dpkg, its ``tandem`` round
trips, an upgrade over a running copy keeps every byte of data (tasks, the migration
backup, settings), removal keeps the data; the portable .tar.gz's install.sh adds the menu
entry or refuses cleanly; the NSIS script compiles over the Linux folder app."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from app.settings import DesktopSettings
from server.storage import migrations
from tests.package.conftest import have, isolated_home, needs_linux
from tests.package.frozen import build, round_trip, run, serve

# Building the folder app and its installers takes minutes on a small machine.
pytestmark = [pytest.mark.package, pytest.mark.timeout(1800)]

OLD, NEW = "1.0.0", "1.0.1"
INSTALLED = Path("/usr/bin/tandem")


def made(output: str) -> Path:
    """The installer build.py reported (its last line: "<path>: <size> MiB")."""
    return Path(output.strip().splitlines()[-1].rsplit(": ", 1)[0])


@pytest.fixture(scope="session")
def debs(installers: Path) -> dict[str, Path]:
    needs_linux()
    have("dpkg-deb", "dpkg")
    if os.geteuid() != 0:
        pytest.skip("dpkg -i needs root")
    # gzip instead of the release's xz: the same package, built minutes faster.
    fast = {"TANDEM_DEB_COMPRESSION": "gzip"}
    return {
        version: made(
            build("--only", "deb", "--version", version, "--out", str(installers), env=fast)
        )
        for version in (OLD, NEW)
    }


def dpkg(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["dpkg", *args], capture_output=True, text=True, timeout=300)


def installed_version() -> str | None:
    done = subprocess.run(
        ["dpkg-query", "-W", "-f=${Status} ${Version}", "tandem"], capture_output=True, text=True
    )
    if done.returncode != 0 or not done.stdout.startswith("install ok installed"):
        return None
    return done.stdout.rsplit(" ", 1)[1]


@pytest.fixture
def clean_dpkg(debs: dict[str, Path]) -> Iterator[None]:
    if installed_version() is not None:
        pytest.skip("a tandem package is installed on this machine already; not touching it")
    try:
        yield
    finally:
        if installed_version() is not None:
            dpkg("--purge", "tandem")


def install(deb: Path) -> None:
    # --force-depends: the Qt libraries are Depends for desktops; the server runs without.
    done = dpkg("-i", "--force-depends", str(deb))
    assert done.returncode == 0, done.stderr


async def task_titles(url: str, project_id: str) -> list[str]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{url}api/v1/projects/{project_id}/tasks") as reply,
    ):
        assert reply.status == 200
        body = await reply.json()
    return sorted(task["title"] for task in body["tasks"])


def test_deb_installs_runs_and_is_removed(
    debs: dict[str, Path], clean_dpkg: None, tmp_path: Path
) -> None:
    info = subprocess.run(
        ["dpkg-deb", "--field", str(debs[NEW]), "Version", "Depends"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert f"Version: {NEW}" in info and "libxcb-cursor0" in info
    install(debs[NEW])
    assert installed_version() == NEW
    assert INSTALLED.resolve() == Path("/opt/tandem/Tandem")
    desktop = Path("/usr/share/applications/app.tandem.Tandem.desktop").read_text()
    assert "StartupWMClass=Tandem" in desktop and "Exec=tandem" in desktop
    assert Path("/usr/share/icons/hicolor/256x256/apps/app.tandem.Tandem.png").is_file()
    assert Path("/usr/share/icons/hicolor/scalable/apps/app.tandem.Tandem.svg").is_file()
    metainfo = Path("/usr/share/metainfo/app.tandem.Tandem.metainfo.xml").read_text()
    assert f'<release version="{NEW}"' in metainfo

    data_dir = tmp_path / "data"
    served = serve(["tandem"], data_dir, env=isolated_home(tmp_path))
    try:
        run(round_trip(served.url))
    finally:
        assert served.stop() == 0, served.errors

    done = dpkg("-r", "tandem")
    assert done.returncode == 0, done.stderr
    assert installed_version() is None
    assert not INSTALLED.exists() and not Path("/opt/tandem").exists()
    assert (data_dir / "tandem.sqlite3").is_file(), "removing the program removed data"


def age_schema(database: Path) -> int:
    """Make the file what the previous schema version wrote, holding the same board, so
    installing the new version has a migration to run. Returns that version.

    The previous version's schema is built by its own migrations, then every row is copied
    over wherever the columns still mean the same (same name, same declared type).
    """
    previous = migrations.LATEST - 1
    aged = database.with_name("aged.sqlite3")
    conn = sqlite3.connect(aged)
    try:
        migrations.migrate(aged, conn, migrations.MIGRATIONS[:previous])
        conn.execute("ATTACH DATABASE ? AS current", (str(database),))
        tables = [
            row[0]
            for row in conn.execute(
                "SELECT name FROM main.sqlite_master WHERE type = 'table'"
                " AND name NOT LIKE 'sqlite_%'"
            )
        ]
        for table in tables:
            old = {r[1]: r[2] for r in conn.execute(f"PRAGMA main.table_info({table})")}
            new = {r[1]: r[2] for r in conn.execute(f"PRAGMA current.table_info({table})")}
            if not new or any(new.get(name, kind) != kind for name, kind in old.items()):
                continue  # the table was made over: its rows do not carry across
            columns = ", ".join(name for name in old if name in new)
            conn.execute(f"DELETE FROM main.{table}")
            conn.execute(
                f"INSERT INTO main.{table} ({columns}) SELECT {columns} FROM current.{table}"
            )
        conn.commit()
        conn.execute("DETACH DATABASE current")
    finally:
        conn.close()
    for suffix in ("-wal", "-shm"):
        database.with_name(database.name + suffix).unlink(missing_ok=True)
    aged.replace(database)
    return previous


def test_upgrade_over_a_running_copy_keeps_every_task_backup_and_setting(
    debs: dict[str, Path], clean_dpkg: None, tmp_path: Path
) -> None:
    install(debs[OLD])
    data_dir = tmp_path / "data"
    env = isolated_home(tmp_path)
    settings = DesktopSettings(port=18765, notifications=False, lan_tls=True)
    settings.save(data_dir)
    served = serve(["tandem"], data_dir, env=env)
    try:
        projects = [
            run(round_trip(served.url, project_key=f"UP{n}", title=f"Task {n}")) for n in range(3)
        ]
        # A second install while Tandem runs: dpkg replaces the files under it, and the
        # running copy keeps answering from the program it loaded.
        install(debs[NEW])
        assert installed_version() == NEW
        assert [run(task_titles(served.url, p)) for p in projects] == [
            ["Task 0"],
            ["Task 1"],
            ["Task 2"],
        ]
    finally:
        assert served.stop() == 0, served.errors

    database = data_dir / "tandem.sqlite3"
    previous = age_schema(database)
    before = database.read_bytes()
    served = serve(["tandem"], data_dir, env=env)
    try:
        assert [run(task_titles(served.url, p)) for p in projects] == [
            ["Task 0"],
            ["Task 1"],
            ["Task 2"],
        ]
    finally:
        assert served.stop() == 0, served.errors
    backups = list(data_dir.glob(f"tandem.sqlite3.v{previous}-*.bak"))
    assert len(backups) == 1, list(data_dir.iterdir())
    saved = sqlite3.connect(backups[0])
    try:
        assert saved.execute("PRAGMA user_version").fetchone()[0] == previous
        assert saved.execute("SELECT count(*) FROM task").fetchone()[0] == 3
    finally:
        saved.close()
    assert before != database.read_bytes()  # migrated in place, the old one kept beside it
    assert DesktopSettings.load(data_dir) == settings

    assert dpkg("-r", "tandem").returncode == 0
    assert database.is_file() and backups[0].is_file()
    assert DesktopSettings.load(data_dir) == settings


# --- the portable .tar.gz -------------------------------------------------------------


@pytest.fixture(scope="session")
def unpacked(installers: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    needs_linux()
    tarball = made(build("--only", "tar", "--out", str(installers)))
    target = tmp_path_factory.mktemp("portable")
    with tarfile.open(tarball) as tar:
        tar.extractall(target, filter="tar")
    (folder,) = target.iterdir()
    return folder


def test_tarball_install_sh_adds_the_menu_entry_and_removes_it(
    unpacked: Path, tmp_path: Path
) -> None:
    env = {**os.environ, **isolated_home(tmp_path)}
    home = Path(env["HOME"])
    done = subprocess.run(
        [str(unpacked / "install.sh")], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    entry = home / ".local/share/applications/app.tandem.Tandem.desktop"
    assert f'Exec="{unpacked}/Tandem"' in entry.read_text()
    assert (home / ".local/share/icons/hicolor/256x256/apps/app.tandem.Tandem.png").is_file()
    link = home / ".local/bin/tandem"
    assert link.resolve() == (unpacked / "Tandem").resolve()
    served = serve([str(link)], tmp_path / "data", env=isolated_home(tmp_path))
    try:
        run(round_trip(served.url))
    finally:
        assert served.stop() == 0, served.errors

    done = subprocess.run(
        [str(unpacked / "install.sh"), "--uninstall"], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert not entry.exists() and not link.exists()
    assert (tmp_path / "data" / "tandem.sqlite3").is_file()


def test_install_sh_refuses_a_home_it_cannot_write_and_changes_nothing(
    unpacked: Path,
) -> None:
    # Outside pytest's private temporary folder, so that an ordinary account reaches it.
    place = Path(tempfile.mkdtemp(prefix="tandem-locked-"))
    try:
        place.chmod(0o755)
        script = place / "install.sh"
        shutil.copy(unpacked / "install.sh", script)
        home = place / "home"
        (home / ".local" / "share").mkdir(parents=True)
        for folder in (home / ".local" / "share", home / ".local", home):
            folder.chmod(0o555)
        command = [str(script)]
        if os.geteuid() == 0:
            # root may write anywhere: run as an ordinary account, as a person would.
            have("setpriv")
            command = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", *command]
        env = {"HOME": str(home), "PATH": os.environ["PATH"]}
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 1, done.stderr
        assert done.stderr.strip().startswith("install.sh: cannot write to "), done.stderr
        assert "nothing was changed" in done.stderr
        assert sorted(p.relative_to(home) for p in home.rglob("*")) == [
            Path(".local"),
            Path(".local/share"),
        ]
    finally:
        for folder in place.rglob("*"):
            folder.chmod(0o755)
        shutil.rmtree(place)


# --- Windows installer script -----------------------------------------------------------


def test_nsis_script_compiles_over_the_linux_bundle(bundle: Path, installers: Path) -> None:
    have("makensis")
    output = build("--nsis-payload", str(bundle.parent), "--out", str(installers))
    setup = made(output)
    assert setup.name.endswith("-windows-setup.exe")
    header = setup.read_bytes()[:2]
    assert header == b"MZ", "not a Windows program"
    # The payload is inside, compressed: bigger than the installer's own code by far.
    assert setup.stat().st_size > 20 * 2**20
    assert shutil.which("makensis")
