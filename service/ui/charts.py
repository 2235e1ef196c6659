"""Charts for the console, drawn on the server as inline SVG: no JavaScript, no CDN, nothing to
download, and the same picture in every browser (and in a screenshot)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from markupsafe import Markup, escape

#: Colour of each series, in order (readable on white, distinguishable in grey).
PALETTE = (
    "#2563eb",
    "#f97316",
    "#16a34a",
    "#dc2626",
    "#9333ea",
    "#0891b2",
    "#ca8a04",
    "#db2777",
    "#4b5563",
    "#65a30d",
)
THRESHOLD_COLOURS = {"warn": "#ca8a04", "alert": "#dc2626"}


def _text(x: float, y: float, value: object, *, anchor: str = "middle", size: int = 11) -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" '
        f'fill="#374151">{escape(str(value))}</text>'
    )


def _legend(names: Sequence[str], x: float, y: float) -> str:
    parts = []
    for i, name in enumerate(names):
        colour = PALETTE[i % len(PALETTE)]
        parts.append(
            f'<rect x="{x:.1f}" y="{y + 16 * i - 9:.1f}" width="10" height="10" fill="{colour}"/>'
        )
        parts.append(_text(x + 15, y + 16 * i, name, anchor="start"))
    return "".join(parts)


def bars(
    labels: Sequence[str],
    series: Mapping[str, Sequence[float]],
    *,
    title: str = "",
    width: int = 460,
    height: int = 220,
) -> Markup:
    """Grouped bars: one group per label (a bin), one bar per series (reference, current)."""
    left, right, top, bottom = 40, 110, 22, 58
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max([v for values in series.values() for v in values] + [1e-9])
    group = plot_w / max(len(labels), 1)
    bar = group * 0.8 / max(len(series), 1)
    parts = [_axes(left, top, plot_w, plot_h), _text(left, 14, title, anchor="start", size=12)]
    for tick in (0.0, 0.5, 1.0):
        y = top + plot_h * (1 - tick)
        parts.append(_text(left - 4, y + 4, f"{peak * tick:.0%}", anchor="end", size=10))
    for s, (name, values) in enumerate(series.items()):
        colour = PALETTE[s % len(PALETTE)]
        for i, value in enumerate(values):
            h = plot_h * value / peak
            x = left + group * i + group * 0.1 + bar * s
            parts.append(
                f'<rect class="bar" x="{x:.1f}" y="{top + plot_h - h:.1f}" width="{bar:.1f}" '
                f'height="{h:.1f}" fill="{colour}"><title>{escape(name)} '
                f"{escape(labels[i] if i < len(labels) else '')}: {value:.1%}</title></rect>"
            )
    slanted = len(labels) > 5  # many bins: slanted labels instead of overlapping ones
    for i, label in enumerate(labels):
        x, y = left + group * (i + 0.5), top + plot_h + 12
        if slanted:
            parts.append(
                f'<text x="{x:.1f}" y="{y:.1f}" font-size="9" text-anchor="end" fill="#374151" '
                f'transform="rotate(-35 {x:.1f} {y:.1f})">{escape(_short(label, 14))}</text>'
            )
        else:
            parts.append(_text(x, y + 2, _short(label, 14), size=9))
    parts.append(_legend(list(series), width - right + 10, top + 10))
    return _svg(width, height, "".join(parts), title)


def lines(
    points: Sequence[str],
    series: Mapping[str, Sequence[float | None]],
    *,
    thresholds: Mapping[str, float | None] | None = None,
    title: str = "",
    width: int = 720,
    height: int = 260,
) -> Markup:
    """One line per series over ``points`` (jobs, oldest first), with threshold lines."""
    left, right, top, bottom = 44, 130, 22, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    values = [v for vs in series.values() for v in vs if v is not None]
    limits = [t for t in (thresholds or {}).values() if t is not None]
    peak = max([*values, *limits, 1e-9]) * 1.1
    step = plot_w / max(len(points) - 1, 1)

    def xy(i: int, v: float) -> tuple[float, float]:
        x = left + (step * i if len(points) > 1 else plot_w / 2)
        return x, top + plot_h * (1 - v / peak)

    parts = [_axes(left, top, plot_w, plot_h), _text(left, 14, title, anchor="start", size=12)]
    for tick in (0.0, 0.5, 1.0):
        parts.append(
            _text(
                left - 4, top + plot_h * (1 - tick) + 4, f"{peak * tick:.2f}", anchor="end", size=10
            )
        )
    for name, limit in (thresholds or {}).items():
        if limit is not None:
            y = xy(0, limit)[1]
            colour = THRESHOLD_COLOURS.get(name, "#9ca3af")
            parts.append(
                f'<line x1="{left}" x2="{left + plot_w}" y1="{y:.1f}" y2="{y:.1f}" '
                f'stroke="{colour}" stroke-dasharray="4 3"/>'
            )
            parts.append(
                _text(left + plot_w + 4, y + 4, f"{name} {limit:g}", anchor="start", size=9)
            )
    for s, (name, vs) in enumerate(series.items()):
        colour = PALETTE[s % len(PALETTE)]
        coords = [xy(i, v) for i, v in enumerate(vs) if v is not None]
        if len(coords) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
            parts.append(
                f'<polyline class="series" points="{path}" fill="none" stroke="{colour}" '
                'stroke-width="2"/>'
            )
        for (x, y), v in zip(coords, [v for v in vs if v is not None], strict=True):
            parts.append(
                f'<circle class="point" cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}">'
                f"<title>{escape(name)}: {v:.3f}</title></circle>"
            )
    for i, label in enumerate(points):
        if len(points) <= 8 or i % max(1, len(points) // 8) == 0:
            parts.append(_text(xy(i, 0)[0], top + plot_h + 14, _short(label, 12), size=9))
    parts.append(_legend(list(series), width - right + 44, top + 10))
    return _svg(width, height, "".join(parts), title)


def _axes(left: float, top: float, w: float, h: float) -> str:
    return (
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + h}" stroke="#9ca3af"/>'
        f'<line x1="{left}" y1="{top + h}" x2="{left + w}" y2="{top + h}" stroke="#9ca3af"/>'
    )


def _short(label: str, limit: int = 10) -> str:
    return label if len(label) <= limit else f"{label[: limit - 1]}…"


def _svg(width: int, height: int, body: str, title: str) -> Markup:
    return Markup(  # noqa: S704 - every text inside was escaped above
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" role="img" '
        f'aria-label="{escape(title)}" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}">{body}</svg>'
    )
