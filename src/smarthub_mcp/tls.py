"""One TLS context per process for every outbound HTTPS client (provider SDKs, job downloads,
webhook deliveries, Google sign-in).

Building a context loads the CA bundle: about 17 ms of CPU each time. Every HTTP client built
without one (each provider adapter, each job engine, each Google sign-in) paid it again, at every
app start and on some request paths. A context is safe to share between clients and threads;
this one has the clients' own defaults (certifi's CAs, `SSL_CERT_FILE`/`SSL_CERT_DIR` honoured),
read once when it is first needed.
"""

from __future__ import annotations

import functools
import ssl

import httpx2


@functools.cache
def client_tls() -> ssl.SSLContext:
    return httpx2.create_ssl_context()
