"""Server-rendered SVG charts for the reports page: no script, no CDN, readable without
colour (each bar carries its value as text and a <title>). Labels are escaped here; the
template marks the returned markup safe."""

from __future__ import annotations

from html import escape

WIDTH, HEIGHT, PAD = 640, 200, 28


def bar_chart(title: str, bars: list[tuple[str, int]], *, chart_id: str) -> str:
    """A bar chart of ``(label, value)`` as an accessible SVG string."""
    peak = max((v for _, v in bars), default=0) or 1
    slot = (WIDTH - 2 * PAD) / max(len(bars), 1)
    parts = [
        f'<svg id="{escape(chart_id)}" class="chart" viewBox="0 0 {WIDTH} {HEIGHT + PAD}" '
        f'role="img" aria-labelledby="{escape(chart_id)}-title">',
        f'<title id="{escape(chart_id)}-title">{escape(title)}</title>',
        f'<line x1="{PAD}" y1="{HEIGHT}" x2="{WIDTH - PAD}" y2="{HEIGHT}" class="chart-axis"/>',
    ]
    for index, (label, value) in enumerate(bars):
        height = (HEIGHT - PAD) * value / peak
        x = PAD + index * slot + slot * 0.1
        width = max(slot * 0.8, 1)
        parts.append(
            f'<g class="chart-bar"><title>{escape(label)}: {value}</title>'
            f'<rect x="{x:.1f}" y="{HEIGHT - height:.1f}" width="{width:.1f}" '
            f'height="{height:.1f}"/>'
            f'<text x="{x + width / 2:.1f}" y="{HEIGHT - height - 4:.1f}" '
            f'text-anchor="middle">{value}</text>'
            f'<text x="{x + width / 2:.1f}" y="{HEIGHT + 16}" text-anchor="middle" '
            f'class="chart-label">{escape(label)}</text></g>'
        )
    parts.append("</svg>")
    return "".join(parts)
