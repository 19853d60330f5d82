"""Build Tandem's installers for the OS this runs on (``make package`` calls it).

Run from the repository root: ``python packaging/build.py [--version V] [--dist DIR]``.
It builds the PyInstaller folder app (``packaging/tandem.spec``) into ``DIST/Tandem``
(reused while its inputs are unchanged), then wraps it:

- Linux: ``tandem_V_ARCH.deb`` (``/opt/tandem``, ``tandem`` on the PATH, menu entry,
  hicolor icons, AppStream metainfo) and ``Tandem-V-linux-MACHINE.tar.gz`` (a portable
  folder whose ``install.sh`` adds the menu entry for the current user);
- Windows: ``Tandem-V-windows-setup.exe`` from ``packaging/windows/tandem.nsi`` (NSIS);
- macOS: ``Tandem.app`` and ``Tandem-V-macos-ARCH.dmg`` with a link to Applications.

Signing runs when its secrets are in the environment and says so when skipped:
``MACOS_SIGN_IDENTITY`` (and ``MACOS_NOTARY_APPLE_ID``, ``MACOS_NOTARY_TEAM_ID``,
``MACOS_NOTARY_PASSWORD`` to notarize and staple), ``WINDOWS_SIGN_PFX`` with
``WINDOWS_SIGN_PASSWORD``. ``--version`` (or ``TANDEM_PACKAGE_VERSION``) overrides the
version from ``server/__init__.py``; tests use it to build "version N" and "N+1".
``--nsis-payload DIR`` compiles the Windows installer over any folder, on any OS with
``makensis``.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import importlib.util
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGING = ROOT / "packaging"
ICONS = ROOT / "assets" / "icons"
APP_ID = "app.tandem.Tandem"
# PyInstaller is a build tool, not a dependency: installed here on first use, pinned.
PYINSTALLER = "pyinstaller==6.22.3"
# Inputs of the folder app: when none changed, the last build is reused.
BUNDLE_INPUTS = ("launcher", "app", "server", "proto/tandem", "assets", "web/dist")
BUNDLE_INPUTS_FILES = ("packaging/tandem.spec", "packaging/launch.py", "requirements.lock")
STAMP = "bundle.json"
# The shared libraries Qt's xcb platform plugin loads (not bundled: they belong to the
# desktop the app runs on).
DEB_DEPENDS = (
    "libxcb-cursor0",
    "libxkbcommon-x11-0",
    "libxcb-icccm4",
    "libxcb-image0",
    "libxcb-keysyms1",
    "libxcb-randr0",
    "libxcb-render-util0",
    "libxcb-shape0",
    "libxcb-xinerama0",
    "libxcb-xkb1",
    "libegl1",
    "libgl1",
    "libfontconfig1",
    "libdbus-1-3",
)


def source_version() -> str:
    text = (ROOT / "server" / "__init__.py").read_text(encoding="utf-8")
    match = re.search(r'^__version__ = "([^"]+)"', text, re.MULTILINE)
    if match is None:
        raise SystemExit("no __version__ in server/__init__.py")
    return match.group(1)


def debian_version(version: str) -> str:
    """PEP 440 pre-releases sort before the release in Debian only with a tilde."""
    return re.sub(r"(?<=\d)\.?(a|b|rc|dev)(\d*)", r"~\1\2", version)


def _files(paths: tuple[str, ...], files: tuple[str, ...]) -> Iterator[Path]:
    for name in paths:
        base = ROOT / name
        found = (p for p in base.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
        yield from sorted(found)
    for name in files:
        yield ROOT / name


def inputs_digest(version: str) -> str:
    digest = hashlib.sha256(PYINSTALLER.encode())
    # Only macOS writes the version into the folder app (Info.plist).
    digest.update(version.encode() if sys.platform == "darwin" else b"")
    for path in _files(BUNDLE_INPUTS, BUNDLE_INPUTS_FILES):
        digest.update(str(path.relative_to(ROOT)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def app_folder(dist: Path) -> Path:
    return dist / ("Tandem.app" if sys.platform == "darwin" else "Tandem")


def executable(dist: Path) -> Path:
    """The built ``tandem`` program inside ``dist``."""
    if sys.platform == "darwin":
        return dist / "Tandem.app" / "Contents" / "MacOS" / "Tandem"
    return dist / "Tandem" / ("Tandem.exe" if os.name == "nt" else "Tandem")


def ensure_pyinstaller() -> None:
    if importlib.util.find_spec("PyInstaller") is None:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", PYINSTALLER], check=True)


def build_bundle(dist: Path, version: str, *, force: bool = False) -> Path:
    """The folder app in ``dist`` (built, or reused when its inputs are unchanged)."""
    if not (ROOT / "web" / "dist" / "index.html").is_file():
        raise SystemExit("web/dist is not built: run `make web` first")
    digest = inputs_digest(version)
    stamp = dist / STAMP
    exe = executable(dist)
    fresh = exe.is_file() and stamp.is_file()
    if not force and fresh and json.loads(stamp.read_text()).get("inputs") == digest:
        print(f"reusing {app_folder(dist)} (its inputs are unchanged)")
        return exe
    ensure_pyinstaller()
    stamp.unlink(missing_ok=True)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "PyInstaller",
            str(PACKAGING / "tandem.spec"),
            "--noconfirm",
            "--log-level",
            "WARN",
            "--distpath",
            str(dist),
            "--workpath",
            str(ROOT / "build" / "pyinstaller"),
        ],
        cwd=ROOT,
        env=dict(os.environ, TANDEM_PACKAGE_VERSION=version),
        check=True,
    )
    if not exe.is_file():
        raise SystemExit(f"PyInstaller made no {exe}")
    stamp.write_text(json.dumps({"inputs": digest, "version": version}))
    return exe


# --- Linux -----------------------------------------------------------------------------


def _icon_sizes() -> list[int]:
    return sorted(
        int(m.group(1))
        for p in ICONS.glob("tandem-*.png")
        if (m := re.fullmatch(r"tandem-(\d+)\.png", p.name))
    )


def metainfo(version: str) -> str:
    text = (PACKAGING / "linux" / f"{APP_ID}.metainfo.xml").read_text(encoding="utf-8")
    today = datetime.datetime.now(datetime.UTC).date().isoformat()
    return text.replace("@VERSION@", version).replace("@DATE@", today)


def _folder_size_kib(folder: Path) -> int:
    return sum(p.lstat().st_size for p in folder.rglob("*")) // 1024 + 1


# Release packages use xz (every dpkg reads it); tests may pick gzip (at its fastest
# level), minutes faster on a small machine.
DEB_COMPRESSION = os.environ.get("TANDEM_DEB_COMPRESSION", "xz")
DEB_LEVEL = {"gzip": ["-z1"]}.get(DEB_COMPRESSION, [])


def build_deb(bundle: Path, version: str, out: Path) -> Path:
    arch = subprocess.run(
        ["dpkg", "--print-architecture"], capture_output=True, text=True, check=True
    ).stdout.strip()
    deb_version = debian_version(version)
    stage = ROOT / "build" / "deb" / f"tandem_{deb_version}_{arch}"
    shutil.rmtree(stage, ignore_errors=True)
    shutil.copytree(bundle, stage / "opt" / "tandem", symlinks=True)
    (stage / "usr" / "bin").mkdir(parents=True)
    (stage / "usr" / "bin" / "tandem").symlink_to("../../opt/tandem/Tandem")
    share = stage / "usr" / "share"
    (share / "applications").mkdir(parents=True)
    shutil.copy(PACKAGING / "linux" / f"{APP_ID}.desktop", share / "applications")
    for size in _icon_sizes():
        folder = share / "icons" / "hicolor" / f"{size}x{size}" / "apps"
        folder.mkdir(parents=True)
        shutil.copy(ICONS / f"tandem-{size}.png", folder / f"{APP_ID}.png")
    scalable = share / "icons" / "hicolor" / "scalable" / "apps"
    scalable.mkdir(parents=True)
    shutil.copy(ROOT / "assets" / "tandem.svg", scalable / f"{APP_ID}.svg")
    (share / "metainfo").mkdir(parents=True)
    (share / "metainfo" / f"{APP_ID}.metainfo.xml").write_text(metainfo(version))
    control = stage / "DEBIAN" / "control"
    control.parent.mkdir()
    control.write_text(
        "Package: tandem\n"
        f"Version: {deb_version}\n"
        f"Architecture: {arch}\n"
        "Maintainer: Tandem maintainers <maintainers@tandem.invalid>\n"
        f"Installed-Size: {_folder_size_kib(stage)}\n"
        f"Depends: {', '.join(DEB_DEPENDS)}\n"
        "Section: utils\n"
        "Priority: optional\n"
        "Description: project board shared live with your team on the network\n"
        " A tray app runs a small server, keeps every project, task and comment in one\n"
        " SQLite file of yours, and opens the board in your browser. Data stays in\n"
        " ~/.local/share/Tandem when the package is upgraded or removed.\n"
    )
    for path in [stage, *stage.rglob("*")]:
        if not path.is_symlink():
            path.chmod(0o755 if path.is_dir() or os.access(path, os.X_OK) else 0o644)
    target = out / f"tandem_{deb_version}_{arch}.deb"
    subprocess.run(
        [
            "dpkg-deb",
            "--root-owner-group",
            f"-Z{DEB_COMPRESSION}",
            *DEB_LEVEL,
            "--build",
            str(stage),
            str(target),
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return target


def build_tarball(bundle: Path, version: str, out: Path) -> Path:
    top = f"Tandem-{version}"
    target = out / f"{top}-linux-{platform.machine()}.tar.gz"

    def owned_by_root(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.uid = info.gid = 0
        info.uname = info.gname = "root"
        return info

    with tarfile.open(target, "w:gz", compresslevel=6) as tar:
        tar.add(bundle, top, filter=owned_by_root)
        tar.add(PACKAGING / "linux" / "install.sh", f"{top}/install.sh", filter=owned_by_root)
        tar.add(
            PACKAGING / "linux" / f"{APP_ID}.desktop",
            f"{top}/share/{APP_ID}.desktop",
            filter=owned_by_root,
        )
        for size in _icon_sizes():
            tar.add(
                ICONS / f"tandem-{size}.png",
                f"{top}/share/icons/{size}x{size}.png",
                filter=owned_by_root,
            )
        tar.add(
            ROOT / "assets" / "tandem.svg", f"{top}/share/icons/{APP_ID}.svg", filter=owned_by_root
        )
    return target


# --- Windows ---------------------------------------------------------------------------


def nsis_version(version: str) -> str:
    """Windows file versions are four numbers."""
    numbers = [int(n) for n in re.findall(r"\d+", version.split("+")[0])[:4]]
    return ".".join(str(n) for n in [*numbers, 0, 0, 0, 0][:4])


def build_nsis(payload: Path, version: str, out: Path) -> Path:
    makensis = shutil.which("makensis")
    if makensis is None:
        raise SystemExit("makensis is missing (apt-get install nsis, or choco install nsis)")
    target = out / f"Tandem-{version}-windows-setup.exe"
    # NSIS reads both / and - options on Windows but only - elsewhere.
    subprocess.run(
        [
            makensis,
            "-V2",
            "-INPUTCHARSET",
            "UTF8",
            f"-DVERSION={version}",
            f"-DFILE_VERSION={nsis_version(version)}",
            f"-DPAYLOAD={payload}",
            f"-DOUTFILE={target}",
            f"-DICON={ICONS / 'tandem.ico'}",
            str(PACKAGING / "windows" / "tandem.nsi"),
        ],
        check=True,
    )
    return target


def sign_windows(path: Path) -> None:
    pfx, password = os.environ.get("WINDOWS_SIGN_PFX"), os.environ.get("WINDOWS_SIGN_PASSWORD")
    if not pfx or not password:
        print(f"signing skipped: WINDOWS_SIGN_PFX is not set, {path.name} is unsigned")
        return
    subprocess.run(
        [
            "signtool",
            "sign",
            "/fd",
            "SHA256",
            "/tr",
            "http://timestamp.digicert.com",
            "/td",
            "SHA256",
            "/f",
            pfx,
            "/p",
            password,
            str(path),
        ],
        check=True,
    )


# --- macOS -----------------------------------------------------------------------------


def sign_macos(path: Path) -> bool:
    identity = os.environ.get("MACOS_SIGN_IDENTITY")
    if not identity:
        print(f"signing skipped: MACOS_SIGN_IDENTITY is not set, {path.name} is unsigned")
        return False
    command = ["codesign", "--force", "--timestamp", "--options", "runtime", "--sign", identity]
    if path.suffix == ".app":
        entitlements = PACKAGING / "macos" / "entitlements.plist"
        command += ["--deep", "--entitlements", str(entitlements)]
    subprocess.run([*command, str(path)], check=True)
    return True


def notarize_macos(dmg: Path) -> None:
    names = ("MACOS_NOTARY_APPLE_ID", "MACOS_NOTARY_TEAM_ID", "MACOS_NOTARY_PASSWORD")
    values = [os.environ.get(name) for name in names]
    if not all(values):
        print(f"notarization skipped: {', '.join(names)} are not all set")
        return
    apple_id, team_id, password = values
    subprocess.run(
        [
            "xcrun",
            "notarytool",
            "submit",
            str(dmg),
            "--apple-id",
            str(apple_id),
            "--team-id",
            str(team_id),
            "--password",
            str(password),
            "--wait",
        ],
        check=True,
    )
    subprocess.run(["xcrun", "stapler", "staple", str(dmg)], check=True)


def build_dmg(app: Path, version: str, out: Path) -> Path:
    stage = ROOT / "build" / "dmg"
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir(parents=True)
    shutil.copytree(app, stage / app.name, symlinks=True)
    (stage / "Applications").symlink_to("/Applications")
    target = out / f"Tandem-{version}-macos-{platform.machine()}.dmg"
    target.unlink(missing_ok=True)
    subprocess.run(
        [
            "hdiutil",
            "create",
            "-volname",
            "Tandem",
            "-srcfolder",
            str(stage),
            "-format",
            "UDZO",
            "-ov",
            str(target),
        ],
        check=True,
    )
    return target


# --- all of it -------------------------------------------------------------------------


LINUX_FORMATS = {"deb": build_deb, "tar": build_tarball}


def build_installers(
    dist: Path, version: str, out: Path, *, force: bool = False, only: str | None = None
) -> list[Path]:
    exe = build_bundle(dist, version, force=force)
    if sys.platform.startswith("linux"):
        formats = [only] if only else list(LINUX_FORMATS)
        return [LINUX_FORMATS[name](exe.parent, version, out) for name in formats]
    if os.name == "nt":
        sign_windows(exe)
        setup = build_nsis(exe.parent, version, out)
        sign_windows(setup)
        return [setup]
    if sys.platform == "darwin":
        app = app_folder(dist)
        signed = sign_macos(app)
        dmg = build_dmg(app, version, out)
        if signed:
            sign_macos(dmg)
            notarize_macos(dmg)
        else:
            print("notarization skipped: the app is not signed")
        return [dmg]
    raise SystemExit(f"no installer recipe for {sys.platform}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--version", default=os.environ.get("TANDEM_PACKAGE_VERSION"))
    parser.add_argument("--dist", type=Path, default=ROOT / "dist", help="the folder app's place")
    parser.add_argument("--out", type=Path, help="where the installers go (default: --dist)")
    parser.add_argument("--only", choices=sorted(LINUX_FORMATS), help="one Linux format")
    parser.add_argument("--force", action="store_true", help="rebuild the folder app")
    parser.add_argument("--bundle-only", action="store_true", help="only the folder app")
    parser.add_argument("--nsis-payload", type=Path, help="compile the NSIS script over DIR")
    args = parser.parse_args(argv)
    version = args.version or source_version()
    out = args.out or args.dist
    out.mkdir(parents=True, exist_ok=True)
    if args.nsis_payload:
        made = [build_nsis(args.nsis_payload, version, out)]
    elif args.bundle_only:
        build_bundle(args.dist, version, force=args.force)
        made = [app_folder(args.dist)]
    else:
        made = build_installers(args.dist, version, out, force=args.force, only=args.only)
    for path in made:
        size = path.stat().st_size if path.is_file() else _folder_size_kib(path) * 1024
        # One line per installer: "<path>: <size> MiB" (the benchmarks read it).
        print(f"{path}: {size / 2**20:.1f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
