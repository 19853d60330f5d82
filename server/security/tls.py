"""TLS for the LAN listener: a self-signed certificate made on first use, and its fingerprint.

There is no certificate authority on a home or office network, so the certificate is
self-signed and the colleague checks it by its SHA-256 fingerprint, which Tandem shows
next to each invite. The key never leaves the data folder (and is readable by its
owner only).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import socket
import ssl
from collections.abc import Sequence
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from server.storage import private

CERT_FILE = "lan-cert.pem"
KEY_FILE = "lan-key.pem"
VALID_DAYS = 5 * 365


def cert_paths(data_dir: Path) -> tuple[Path, Path]:
    folder = data_dir / "tls"
    return folder / CERT_FILE, folder / KEY_FILE


def ensure_certificate(data_dir: Path, addresses: Sequence[str] = ()) -> tuple[Path, Path]:
    """The certificate and key files, made now if they do not exist yet."""
    cert_path, key_path = cert_paths(data_dir)
    if cert_path.is_file() and key_path.is_file():
        return cert_path, key_path
    private.private_dir(cert_path.parent)
    key = ec.generate_private_key(ec.SECP256R1())
    hostname = socket.gethostname() or "tandem"
    names: list[x509.GeneralName] = [x509.DNSName("localhost")]
    if hostname.isascii():
        names.append(x509.DNSName(hostname))
    for address in addresses:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(address)))
        except ValueError:
            continue
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"Tandem on {hostname}")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=VALID_DAYS))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_bytes = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    # Created readable by the owner only, before any key material is written.
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(key_bytes)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path


def fingerprint_of(cert_path: Path) -> str:
    """SHA-256 of the certificate, as browsers show it (AB:CD:...)."""
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    return ":".join(f"{b:02X}" for b in cert.fingerprint(hashes.SHA256()))


def known_fingerprint(data_dir: Path) -> str:
    """The fingerprint of the certificate made earlier, or "" when there is none yet."""
    cert_path, _ = cert_paths(data_dir)
    return fingerprint_of(cert_path) if cert_path.is_file() else ""


def server_context(data_dir: Path, addresses: Sequence[str] = ()) -> ssl.SSLContext:
    """An SSL context for the LAN listener (TLS 1.2 or newer)."""
    cert_path, key_path = ensure_certificate(data_dir, addresses)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert_path, key_path)
    return context
