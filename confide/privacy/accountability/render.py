"""The record of processing and the DPA annex as Markdown, HTML and PDF.

PDF: WeasyPrint renders the HTML below (fonts from the system's fontconfig). Rendering must
not touch the network: the document links nothing, and the URL fetcher refuses every URL it
is asked for, so even a stray reference fails instead of fetching. It runs in a worker thread
(it is CPU-bound; a record renders in well under a second).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from jinja2 import Environment, select_autoescape

_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ doc.title }}</title>
<style>
@page { size: A4; margin: 18mm 16mm; @bottom-right { content: counter(page) " / " counter(pages);
  font-size: 8pt; color: #555; } }
body { font-family: "DejaVu Sans", "Liberation Sans", sans-serif; font-size: 9.5pt;
  color: #111; }
h1 { font-size: 17pt; margin: 0 0 2mm; border-bottom: 2pt solid #1d4ed8; padding-bottom: 2mm; }
h2 { font-size: 11.5pt; margin: 6mm 0 2mm; color: #1d4ed8; }
p.meta { color: #444; margin: 0 0 4mm; }
table { width: 100%; border-collapse: collapse; }
th, td { text-align: left; vertical-align: top; padding: 1.2mm 2mm;
  border-bottom: 0.5pt solid #ccc; }
th { width: 35%; font-weight: 600; }
.missing { border: 1pt solid #b45309; padding: 2mm; color: #7c2d12; }
</style></head><body>
<h1>{{ doc.title }}</h1>
<p class="meta">Workspace: {{ doc.workspace.name }} ({{ doc.workspace.slug }}) · generated
{{ doc.generated_at }}</p>
{% if doc.missing %}
<p class="missing">Not yet configured: {{ doc.missing | join(", ") }}</p>
{% endif %}
{% for section in doc.sections %}
<h2>{{ section.heading }}</h2>
<table>{% for item in section["items"] %}<tr><th>{{ item.label }}</th><td>{{ item.value }}</td></tr>
{% endfor %}</table>
{% endfor %}
</body></html>
"""
_env = Environment(autoescape=select_autoescape(default=True, default_for_string=True))
_template = _env.from_string(_HTML)


def to_json(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def to_markdown(doc: dict[str, Any]) -> str:
    """Markdown: a heading per section, a bullet per entry."""
    lines = [
        f"# {doc['title']}",
        "",
        f"Workspace: {doc['workspace']['name']} ({doc['workspace']['slug']}), "
        f"generated {doc['generated_at']}",
        "",
    ]
    if doc["missing"]:
        lines += [f"> Not yet configured: {', '.join(doc['missing'])}", ""]
    for section in doc["sections"]:
        lines += [f"## {section['heading']}", ""]
        lines += [f"- **{i['label']}**: {i['value']}" for i in section["items"]]
        lines.append("")
    return "\n".join(lines)


def to_html(doc: dict[str, Any]) -> str:
    return _template.render(doc=doc)


def _render_pdf(html: str) -> bytes:
    # Imported on first use: it loads pango and harfbuzz.
    from weasyprint import HTML
    from weasyprint.urls import URLFetcher

    class RefusingFetcher(URLFetcher):  # type: ignore[misc]
        """Fetches nothing: a stray link or image fails instead of reaching the network."""

        def fetch(self, url: str, headers: Any = None) -> Any:
            raise ValueError("The record of processing is rendered without fetching anything.")

    pdf: bytes = HTML(string=html, url_fetcher=RefusingFetcher()).write_pdf()
    return pdf


async def to_pdf(doc: dict[str, Any]) -> bytes:
    """The document as PDF bytes (A4), rendered offline in a worker thread."""
    return await asyncio.to_thread(_render_pdf, to_html(doc))
