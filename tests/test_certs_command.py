"""``labkit certs``: the files dockerd and the docker CLI expect, private, made once."""

from __future__ import annotations

import os
import ssl
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from labkit.certs_command import FILES, CertsError, make_certs

pytest.importorskip("cryptography")


def _labkit(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "labkit", "certs", *args],
        env={**os.environ, "LABKIT_HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_files_are_named_for_docker_cert_path_and_private(tmp_path: Path) -> None:
    run = _labkit(tmp_path / "home", "--name", "engine.example.org")
    assert run.returncode == 0, run.stderr
    folder = tmp_path / "home" / "certs"
    assert sorted(p.name for p in folder.iterdir()) == sorted(FILES)
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(tmp_path / "home").st_mode) == 0o700
    for name in FILES:
        assert stat.S_IMODE(os.stat(folder / name).st_mode) == 0o600, name
    assert f"DOCKER_CERT_PATH={folder}" in run.stdout
    assert "--tlsverify" in run.stdout


def test_the_certificates_fit_together(tmp_path: Path) -> None:
    from cryptography import x509

    bundle, made, _ = make_certs(tmp_path / "c", names=("10.0.0.5",))
    assert made
    server = x509.load_pem_x509_certificate(bundle.server_cert.read_bytes())
    names = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in names.get_values_for_type(x509.DNSName)
    assert {str(ip) for ip in names.get_values_for_type(x509.IPAddress)} >= {
        "127.0.0.1",
        "10.0.0.5",
    }
    # a server context built from them requires, and a client context presents, a certificate
    server_side = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_side.load_cert_chain(bundle.server_cert, bundle.server_key)
    client_side = ssl.create_default_context(cafile=str(bundle.ca))
    client_side.load_cert_chain(bundle.client_cert, bundle.client_key)


def test_a_second_run_keeps_what_is_there(tmp_path: Path) -> None:
    first = _labkit(tmp_path, "--dir", str(tmp_path / "c"))
    before = (tmp_path / "c" / "ca.pem").read_bytes()
    second = _labkit(tmp_path, "--dir", str(tmp_path / "c"))
    assert first.returncode == second.returncode == 0
    assert "already" in second.stdout
    assert (tmp_path / "c" / "ca.pem").read_bytes() == before


def test_an_incomplete_set_is_left_alone_and_force_keeps_it_aside(tmp_path: Path) -> None:
    folder = tmp_path / "c"
    folder.mkdir()
    (folder / "ca.pem").write_text("mine")
    with pytest.raises(CertsError, match="incomplete"):
        make_certs(folder)
    bundle, made, moved = make_certs(folder, force=True)
    assert made and moved is not None
    assert (moved / "ca.pem").read_text() == "mine"
    assert bundle.ca.read_text() != "mine"


@pytest.mark.parametrize(("args", "words"), [(["--name", "not a name!"], "host name"),
                                             (["--days", "0"], "1 or more")])  # fmt: skip
def test_bad_input_gets_one_line(tmp_path: Path, args: list[str], words: str) -> None:
    run = _labkit(tmp_path, "--dir", str(tmp_path / "c"), *args)
    assert run.returncode == 1
    assert words in run.stderr and "Traceback" not in run.stderr
