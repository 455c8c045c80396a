"""The widget script and the demo host page, as served."""

from __future__ import annotations

import gzip
import re

import httpx

from tests.conftest import World

MAX_WIDGET_GZIP_BYTES = 30 * 1024


async def test_widget_script_is_javascript_cached_and_small(client: httpx.AsyncClient) -> None:
    response = await client.get("/widget.js")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/javascript")
    assert response.headers["cache-control"] == "public, max-age=3600"
    assert "etag" in response.headers
    assert response.headers["cross-origin-resource-policy"] == "cross-origin"
    assert len(gzip.compress(response.content, compresslevel=9)) < MAX_WIDGET_GZIP_BYTES


async def test_widget_script_never_writes_html_nor_names_another_origin(
    client: httpx.AsyncClient,
) -> None:
    source = (await client.get("/widget.js")).text
    assert "innerHTML" not in source and "insertAdjacentHTML" not in source
    assert "document.write" not in source and "eval(" not in source
    # The only absolute URL is the SVG namespace (an identifier, never fetched).
    assert set(re.findall(r"https?://[^\s\"']+", source)) - {"http://www.w3.org/2000/svg"} == {
        "https://CONFIDE_HOST/widget.js"  # in the usage comment
    }


async def test_demo_page_embeds_the_snippet_under_the_strict_csp(
    world: World, client: httpx.AsyncClient
) -> None:
    await world.workspace("acme")
    response = await client.get("/demo/acme")
    assert response.status_code == 200
    assert "script-src 'self'" in response.headers["content-security-policy"]
    html = response.text
    assert (
        '<script src="https://testserver/widget.js" data-workspace="acme" async></script>' in html
    )
    assert "<script>" not in html and " style=" not in html
    missing = await client.get("/demo/nobody")
    assert missing.status_code == 404
