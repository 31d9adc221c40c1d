"""The probe over https: uvicorn with certificates from a CA made here (openssl), and the
plain-http side redirecting (Starlette's HTTPSRedirectMiddleware) or not (the careless app)."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from prodready.http.collect import ProbeOptions
from prodready.http.pipeline import ProbeResult, run_probe
from prodready.model import Severity
from tests.conftest import TestDatabase
from tests.integration.test_probe import serve

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is missing")
TLS_CHECKS = ("tls_certificate_invalid", "tls_certificate_expiring", "https_redirect_missing")


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def _server_cert(pki: Path, name: str, days: int) -> tuple[str, str]:
    """A key and a certificate for 127.0.0.1, valid for `days`, signed by the test CA."""
    ext = pki / f"{name}.ext"
    ext.write_text("subjectAltName = IP:127.0.0.1, DNS:localhost\n")
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out",
             f"{name}.csr", "-subj", "/CN=127.0.0.1", cwd=pki)  # fmt: skip
    _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
             "-CAcreateserial", "-days", str(days), "-extfile", ext.name, "-out",
             f"{name}.pem", cwd=pki)  # fmt: skip
    return str(pki / f"{name}.key"), str(pki / f"{name}.pem")


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("pki")
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out",
             "ca.pem", "-days", "30", "-subj", "/CN=prodready test CA", cwd=root)  # fmt: skip
    return root


def _https(app: str, db: TestDatabase, key: str, cert: str) -> Iterator[str]:
    yield from serve(app, db.dsn, "--ssl-keyfile", key, "--ssl-certfile", cert)


@pytest.fixture(scope="module")
def plain_redirect(db: TestDatabase) -> Iterator[int]:
    for url in serve("redirect", db.dsn):
        yield int(url.rsplit(":", 1)[1])


@pytest.fixture(scope="module")
def plain_careless(db: TestDatabase) -> Iterator[int]:
    for url in serve("careless", db.dsn):
        yield int(url.rsplit(":", 1)[1])


@pytest.fixture(scope="module")
def good_https(pki: Path, db: TestDatabase) -> Iterator[str]:
    yield from _https("hardened", db, *_server_cert(pki, "good", 365))


@pytest.fixture(scope="module")
def expiring_https(pki: Path, db: TestDatabase) -> Iterator[str]:
    yield from _https("hardened", db, *_server_cert(pki, "soon", 10))


def _probe(url: str, **options: object) -> ProbeResult:
    return run_probe(url, ProbeOptions(max_requests=30, **options))  # type: ignore[arg-type]


def _checks(result: ProbeResult) -> set[str]:
    return {f.check for f in result.findings}


def test_a_trusted_certificate_and_a_redirect_pass(
    good_https: str, pki: Path, plain_redirect: int
) -> None:
    result = _probe(good_https, ca_file=str(pki / "ca.pem"), http_port=plain_redirect)
    assert not _checks(result) & set(TLS_CHECKS)
    assert set(TLS_CHECKS) <= set(result.passed)
    tls = result.snapshot.tls
    assert tls is not None and tls.verified and tls.days_left is not None and tls.days_left > 300
    plain = result.snapshot.first("tls:plain_http")
    assert plain is not None and plain.status in (301, 307, 308)


def test_an_untrusted_certificate_is_critical_and_the_probe_goes_on(good_https: str) -> None:
    result = _probe(good_https, http_port=1)  # nothing listens on port 1: no plain http
    [finding] = [f for f in result.findings if f.check == "tls_certificate_invalid"]
    assert finding.severity is Severity.CRITICAL
    assert "certificate" in str(finding.evidence["error"])
    home = result.snapshot.first("home")
    assert home is not None and home.status == 200  # the rest of the app was still probed
    assert "https_redirect_missing" not in _checks(result)  # refused: no plain listener


def test_a_certificate_expiring_in_ten_days(expiring_https: str, pki: Path) -> None:
    result = _probe(expiring_https, ca_file=str(pki / "ca.pem"), http_port=1)
    [finding] = [f for f in result.findings if f.check == "tls_certificate_expiring"]
    assert finding.severity is Severity.MEDIUM
    assert 9 <= finding.evidence["days_left"] <= 10.1


def test_plain_http_that_serves_the_app_instead_of_redirecting(
    good_https: str, pki: Path, plain_careless: int
) -> None:
    result = _probe(good_https, ca_file=str(pki / "ca.pem"), http_port=plain_careless)
    [finding] = [f for f in result.findings if f.check == "https_redirect_missing"]
    assert finding.evidence["status"] == 200


def test_over_plain_http_the_tls_checks_do_not_apply(plain_careless: int) -> None:
    result = _probe(f"http://127.0.0.1:{plain_careless}")
    assert set(TLS_CHECKS) <= set(result.not_applicable)
    assert not _checks(result) & set(TLS_CHECKS)
