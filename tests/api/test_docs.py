"""/docs (Swagger UI) and the home page `/`: everything they load comes from this app, with the right
content type, and nothing names another host; the home page links only what answers."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

EXTERNAL = re.compile(r"(?:https?:)?//(?!127\.0\.0\.1)[a-z0-9.-]+", re.IGNORECASE)


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("src", "href") and value:
                self.links.append((tag, value))


def links_of(html: str) -> list[tuple[str, str]]:
    parser = _Links()
    parser.feed(html)
    return parser.links


EXPECTED_TYPES = {
    "script": "text/javascript", "link": ("text/css", "image/png"), "a": ("text/html", "application/json"),
}


async def test_docs_page_and_every_asset_it_loads_come_from_the_app(client):
    page = await client.get("/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp and "connect-src 'self'" in csp
    assert not EXTERNAL.search(csp)
    links = links_of(page.text)
    assert {tag for tag, _ in links} == {"script", "link"}
    for tag, href in links:
        assert not urlsplit(href).scheme and not urlsplit(href).netloc, href  # relative: this server
        asset = await client.get(urljoin("http://127.0.0.1/docs", href))
        assert asset.status_code == 200, href
        assert asset.headers["content-type"].startswith(EXPECTED_TYPES[tag]), (href, asset.headers["content-type"])
    scripts = [href for tag, href in links if tag == "script"]
    assert scripts == ["docs/assets/swagger-ui-bundle.js", "docs/init.js"]
    init = (await client.get("/docs/init.js")).text
    assert "validatorUrl: null" in init  # Swagger UI would otherwise call an outside validator
    assert '"api/v1/openapi.json"' in init and not EXTERNAL.search(init)
    assert not EXTERNAL.search(page.text)


async def test_the_document_swagger_ui_loads_is_served(client):
    response = await client.get("/api/v1/openapi.json")
    assert response.status_code == 200 and response.json()["openapi"].startswith("3.1")
    bundle = await client.get("/docs/assets/swagger-ui-bundle.js")
    assert b"SwaggerUIBundle" in bundle.content[:2000]


async def test_an_unknown_asset_is_a_json_404(client):
    response = await client.get("/docs/assets/no-such-file.js")
    assert response.status_code == 404
    assert (await client.get("/docs/assets/../../../etc/passwd")).status_code == 404


async def test_home_page_links_the_docs_and_health_and_nothing_that_404s(client):
    page = await client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert page.headers["content-security-policy"].startswith("default-src 'none'")
    hrefs = [href for tag, href in links_of(page.text) if tag == "a"]
    assert {"docs", "healthz", "api/v1/openapi.json"} <= set(hrefs)
    assert "dashboard" in hrefs  # served now, so linked (it leads a visitor to its sign-in page)
    for href in hrefs:
        assert not urlsplit(href).netloc, href
        target = await client.get(urljoin("http://127.0.0.1/", href), follow_redirects=True)
        assert target.status_code == 200, href
        assert target.headers["content-type"].startswith(EXPECTED_TYPES["a"]), href
    assert not EXTERNAL.search(page.text)
