"""Files for attachment tests, made here: a JPEG with EXIF GPS, a PNG, a PDF, an executable."""

from __future__ import annotations

import io
from typing import Any
from urllib.parse import quote

import httpx
from PIL import ExifTags, Image

from tests.chat.helpers import VisitorClient

EXIF_MARKER = "Quokka Camera Serial QX-7731"


def jpeg_with_gps(size: tuple[int, int] = (800, 600)) -> bytes:
    image = Image.new("RGB", size, (200, 40, 40))
    exif = Image.Exif()
    exif[ExifTags.Base.Model] = EXIF_MARKER
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (48.0, 51.0, 24.0)
    gps[ExifTags.GPS.GPSLongitudeRef] = "E"
    gps[ExifTags.GPS.GPSLongitude] = (2.0, 21.0, 3.0)
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif, quality=90)
    return out.getvalue()


def png(size: tuple[int, int] = (64, 48)) -> bytes:
    out = io.BytesIO()
    Image.new("RGBA", size, (10, 120, 200, 255)).save(out, "PNG")
    return out.getvalue()


PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
)
# The start of a Windows program (DOS stub), as a file named like a picture.
EXECUTABLE = (
    b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00"
    + b"\x00" * 48
    + (b"This program cannot be run in DOS mode.\r\n$" + b"\x00" * 200)
)
SVG_WITH_SCRIPT = (
    b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg">'
    b"<script>alert(document.cookie)</script></svg>"
)


async def widget_upload(
    client: httpx.AsyncClient,
    visitor: VisitorClient,
    conversation_id: str,
    data: bytes,
    name: str,
    **headers: str,
) -> httpx.Response:
    return await client.post(
        f"/api/v1/widget/conversations/{conversation_id}/attachments",
        content=data,
        headers={**visitor.headers, "x-confide-filename": quote(name), **headers},
    )


async def operator_upload(
    client: httpx.AsyncClient, headers: dict[str, str], conversation_id: str, data: bytes, name: str
) -> httpx.Response:
    return await client.post(
        f"/api/v1/conversations/{conversation_id}/attachments",
        content=data,
        headers={**headers, "x-confide-filename": quote(name)},
    )


async def listed(
    client: httpx.AsyncClient, path: str, headers: dict[str, str]
) -> list[dict[str, Any]]:
    response = await client.get(path, headers=headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["attachments"]
    return items
