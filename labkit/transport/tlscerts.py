"""Certificates and TLS contexts for a listener that only its owner's clients may use.

A TCP port on loopback is reachable by every user of the machine: on a shared hub, an engine
(or a proxy in front of one) listening there is root-equivalent for all of them. What makes
such a listener private is TLS *with client verification*: the listener trusts one CA, and
only a client holding a certificate that CA signed (its key readable by the owner alone)
gets through. That is dockerd's ``--tlsverify``, and this module is its plumbing:

- :func:`make_ca`, :func:`issue`: a CA and the certificates it signs (server, client);
- :func:`write_bundle`: a fresh CA, a server pair and a client pair written into a private
  folder (0700, files 0600), named as dockerd and the docker CLI expect them:
  ``ca.pem``, ``server-cert.pem``/``server-key.pem``, ``cert.pem``/``key.pem`` (so that
  ``DOCKER_CERT_PATH`` can point at the folder);
- :func:`server_context`: an ``ssl.SSLContext`` that requires a client certificate signed by
  the given CA (TLS 1.2 or newer). The client side is ``connect.tls_context``.

``cryptography`` is imported only when certificates are made.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_DAYS = 30
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


class TLSSetupError(RuntimeError):
    """Certificates could not be made or loaded; the message says why and what to do."""


@dataclass(frozen=True)
class Bundle:
    """The files of :func:`write_bundle`."""

    folder: Path
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def _crypto() -> Any:
    try:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
    except ImportError as exc:
        raise TLSSetupError(
            "making TLS certificates needs the cryptography package: "
            "pip install 'cryptography>=42' (it is in labkit's requirements.txt)"
        ) from exc
    return x509, hashes, serialization, ec, ExtendedKeyUsageOID, NameOID


def _name(common_name: str) -> Any:
    x509, _h, _s, _ec, _eku, NameOID = _crypto()
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Docker IPC Lab"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _validity(days: int) -> tuple[datetime.datetime, datetime.datetime]:
    now = datetime.datetime.now(datetime.timezone.utc)
    return now - datetime.timedelta(minutes=5), now + datetime.timedelta(days=days)


def _ca_key_usage(x509: Any) -> Any:
    """A CA's key signs certificates and revocation lists, nothing else."""
    flags = dict.fromkeys(
        ("digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
         "key_agreement", "encipher_only", "decipher_only"),
        False,
    )  # fmt: skip
    return x509.KeyUsage(key_cert_sign=True, crl_sign=True, **flags)


def make_ca(common_name: str = "labkit CA", days: int = DEFAULT_DAYS) -> tuple[Any, Any]:
    """A self-signed CA: ``(certificate, private key)`` (ECDSA P-256)."""
    x509, hashes, _s, ec, _eku, _oid = _crypto()
    key = ec.generate_private_key(ec.SECP256R1())
    start, end = _validity(days)
    name = _name(common_name)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_ca_key_usage(x509), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def issue(
    ca: tuple[Any, Any],
    common_name: str,
    *,
    server_names: tuple[str, ...] = (),
    client: bool = False,
    days: int = DEFAULT_DAYS,
) -> tuple[Any, Any]:
    """A certificate the CA signs: for a server (``server_names``: DNS names or IPs it
    answers as) or for a client (``client=True``); ``(certificate, private key)``."""
    x509, hashes, _s, ec, ExtendedKeyUsageOID, _oid = _crypto()
    ca_cert, ca_key = ca
    key = ec.generate_private_key(ec.SECP256R1())
    start, end = _validity(days)
    usage = [ExtendedKeyUsageOID.CLIENT_AUTH] if client else [ExtendedKeyUsageOID.SERVER_AUTH]
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage(usage), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
    )
    if server_names:
        alt: list[Any] = []
        for entry in server_names:
            try:
                alt.append(x509.IPAddress(ipaddress.ip_address(entry)))
            except ValueError:
                alt.append(x509.DNSName(entry))
        builder = builder.add_extension(x509.SubjectAlternativeName(alt), critical=False)
    return builder.sign(ca_key, hashes.SHA256()), key


def _pem_cert(cert: Any) -> bytes:
    _x, _h, serialization, _ec, _eku, _oid = _crypto()
    return cert.public_bytes(serialization.Encoding.PEM)


def _pem_key(key: Any) -> bytes:
    _x, _h, serialization, _ec, _eku, _oid = _crypto()
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def write_private(path: Path, data: bytes) -> None:
    """A new file, 0600 from its first moment, never written through a link."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags, 0o600)
    try:
        os.fchmod(fd, 0o600)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


def write_bundle(
    folder: Path, server_names: tuple[str, ...] = LOOPBACK_NAMES, days: int = DEFAULT_DAYS
) -> Bundle:
    """A fresh CA, a server pair and a client pair in ``folder`` (made 0700; it must not
    hold these files already). Whoever can read ``key.pem`` can connect: only its owner."""
    folder = Path(folder)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    ca = make_ca(days=days)
    server = issue(ca, "labkit server", server_names=server_names, days=days)
    client = issue(ca, "labkit client", client=True, days=days)
    bundle = Bundle(
        folder,
        folder / "ca.pem",
        folder / "server-cert.pem",
        folder / "server-key.pem",
        folder / "cert.pem",
        folder / "key.pem",
    )
    write_private(bundle.ca, _pem_cert(ca[0]))
    write_private(bundle.server_cert, _pem_cert(server[0]))
    write_private(bundle.server_key, _pem_key(server[1]))
    write_private(bundle.client_cert, _pem_cert(client[0]))
    write_private(bundle.client_key, _pem_key(client[1]))
    return bundle


def server_context(ca: Path, cert: Path, key: Path) -> ssl.SSLContext:
    """A server's context that lets in only clients whose certificate ``ca`` signed."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.verify_mode = ssl.CERT_REQUIRED
    try:
        context.load_verify_locations(cafile=str(ca))
        context.load_cert_chain(certfile=str(cert), keyfile=str(key))
    except (OSError, ssl.SSLError) as exc:
        raise TLSSetupError(
            f"cannot load the TLS files (CA {ca}, certificate {cert}, key {key}): {exc}"
        ) from exc
    return context


def requires_client_certificates(context: ssl.SSLContext) -> bool:
    """Does this server context refuse a client without a verified certificate?"""
    return context.verify_mode == ssl.CERT_REQUIRED
