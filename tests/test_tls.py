"""The process's one TLS context for outbound clients: shared, and as strict as each client's own."""

from __future__ import annotations

import ssl

from smarthub_mcp.tls import client_tls


def test_every_outbound_client_gets_the_same_context():
    assert client_tls() is client_tls()


def test_the_shared_context_verifies_certificates_and_host_names():
    context = client_tls()
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname is True
    assert context.minimum_version >= ssl.TLSVersion.TLSv1_2
    assert context.cert_store_stats()["x509_ca"] > 0, "the CA bundle is loaded"
