"""What a file is, judged by its content, and images made safe to show.

Why our own sniffer: the types a chat accepts are a short allowlist, and each is recognised by
a fixed signature at the start of the file (PNG, JPEG, GIF, WebP, PDF, the ZIP containers of
Office Open XML and OpenDocument) or by being UTF-8 text; a general-purpose library would
recognise hundreds of types only to refuse them. Images are then decoded and re-encoded by
Pillow, which is the real check (a file that merely starts like a PNG does not decode) and
drops every metadata block (EXIF with GPS, XMP, comments, ICC profiles are not copied).

Never trusted: the file's name and the type the browser declared. SVG and HTML are text that a
browser would run, so they are recognised in order to refuse them.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import BinaryIO

from PIL import Image, ImageOps, UnidentifiedImageError

from confide.core.errors import UnsupportedFileType

SNIFF_BYTES = 8192
MAX_IMAGE_PIXELS = 40_000_000  # a decompression bomb is refused before it is decoded
THUMBNAIL_PIXELS = 320
JPEG_QUALITY = 88


@dataclass(frozen=True)
class FileType:
    """A detected type: its name, the ``Content-Type`` it is served with, and whether it is an
    image (re-encoded, thumbnailed, shown inline) or a document (stored as is, download only)."""

    name: str
    content_type: str
    kind: str  # image | document


FILE_TYPES: dict[str, FileType] = {
    t.name: t
    for t in (
        FileType("png", "image/png", "image"),
        FileType("jpeg", "image/jpeg", "image"),
        FileType("gif", "image/gif", "image"),
        FileType("webp", "image/webp", "image"),
        FileType("pdf", "application/pdf", "document"),
        FileType(
            "docx",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            "document",
        ),
        FileType(
            "xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "document"
        ),
        FileType(
            "pptx",
            "application/vnd.openxmlformats-officedocument.presentationml.presentation",
            "document",
        ),
        FileType("odt", "application/vnd.oasis.opendocument.text", "document"),
        FileType("ods", "application/vnd.oasis.opendocument.spreadsheet", "document"),
        FileType("odp", "application/vnd.oasis.opendocument.presentation", "document"),
        FileType("txt", "text/plain; charset=utf-8", "document"),
    )
}
DEFAULT_ALLOWED_TYPES = tuple(FILE_TYPES)


def _office_type(head: bytes) -> str | None:
    if head[30:38] == b"mimetype":  # OpenDocument: the uncompressed mimetype entry comes first
        for name, marker in (
            ("odt", b"opendocument.text"),
            ("ods", b"opendocument.spreadsheet"),
            ("odp", b"opendocument.presentation"),
        ):
            if marker in head[38:120]:
                return name
        return None
    if b"[Content_Types].xml" in head or b"_rels/.rels" in head:
        for name, marker in (("docx", b"word/"), ("xlsx", b"xl/"), ("pptx", b"ppt/")):
            if marker in head:
                return name
    return None


def _text_type(head: bytes, complete: bool) -> str | None:
    if b"\x00" in head:
        return None
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut by the sniff window is still text.
        if complete or exc.start < len(head) - 3:
            return None
        text = head[: exc.start].decode("utf-8")
    lowered = text.lstrip("\ufeff \t\r\n").lower()
    if lowered.startswith("<") and any(
        tag in lowered for tag in ("<svg", "<html", "<!doctype", "<script", "<?xml", "<body")
    ):
        return "markup"
    if any(ord(ch) < 32 and ch not in "\t\r\n\f" for ch in text):
        return None
    return "txt"


def sniff(head: bytes, *, complete: bool) -> str:
    """The name of the type that the first bytes of a file (``SNIFF_BYTES`` of them, or all
    if ``complete``) show. Raises :class:`UnsupportedFileType` for anything else, naming what
    was seen when it is known to be dangerous (markup, executables)."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head.startswith(b"%PDF-"):
        return "pdf"
    if head.startswith(b"PK\x03\x04"):
        office = _office_type(head)
        if office:
            return office
        raise UnsupportedFileType("Archives cannot be sent; send the documents themselves.")
    if head[:2] == b"MZ" or head[:4] in (b"\x7fELF", b"\xcf\xfa\xed\xfe", b"\xca\xfe\xba\xbe"):
        raise UnsupportedFileType("Programs cannot be sent in a chat.")
    text = _text_type(head, complete)
    if text == "markup":
        raise UnsupportedFileType(
            "SVG and HTML files cannot be sent: a browser would run them. Send a PNG or PDF."
        )
    if text == "txt":
        return "txt"
    raise UnsupportedFileType()


@dataclass(frozen=True)
class ReencodedImage:
    """A re-encoded image and its thumbnail, without any metadata of the original."""

    file_type: str
    data: bytes
    thumbnail: bytes
    thumbnail_type: str
    width: int
    height: int


def _encode(image: Image.Image, file_type: str) -> bytes:
    out = io.BytesIO()
    if file_type == "jpeg":
        image.convert("RGB").save(out, "JPEG", quality=JPEG_QUALITY)
    else:
        image.save(out, "PNG")
    return out.getvalue()


def reencode_image(source: BinaryIO, file_type: str) -> ReencodedImage:
    """Decode ``source`` and encode it again: JPEG stays JPEG, every other image becomes PNG
    (a GIF keeps its first frame). The orientation EXIF asked for is applied to the pixels
    first, then no metadata is written. Raises :class:`UnsupportedFileType` when the bytes do
    not decode as the type their signature claimed, or the image has more than
    ``MAX_IMAGE_PIXELS`` pixels. CPU-bound: run it in a worker thread."""
    try:
        with Image.open(source) as opened:
            decoded_as = (opened.format or "").lower()
            if decoded_as != file_type and not (file_type == "jpeg" and decoded_as == "mpo"):
                raise UnsupportedFileType("The image does not decode as the type it claims.")
            width, height = opened.size
            if width * height > MAX_IMAGE_PIXELS:
                raise UnsupportedFileType("The image has too many pixels; send a smaller one.")
            opened.load()
            image = ImageOps.exif_transpose(opened)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise UnsupportedFileType("The image is damaged or not an image.") from exc
    out_type = "jpeg" if file_type == "jpeg" else "png"
    if image.mode not in ("RGB", "RGBA", "L", "LA"):
        image = image.convert("RGBA")
    clean = Image.new(image.mode, image.size)  # a fresh image: no info dict, no metadata
    clean.paste(image)
    data = _encode(clean, out_type)
    thumb = clean.copy()
    thumb.thumbnail((THUMBNAIL_PIXELS, THUMBNAIL_PIXELS), reducing_gap=2.0)
    thumb_type = "jpeg" if out_type == "jpeg" else "png"
    return ReencodedImage(
        out_type, data, _encode(thumb, thumb_type), thumb_type, clean.width, clean.height
    )
