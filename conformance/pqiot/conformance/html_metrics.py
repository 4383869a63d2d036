"""The "Device measurements" section of ``report.html``: the run's figures next to pqm4/PQClean.

Reads only ``report["measurement"]`` and the ``metrics[]`` entries with
``source == "measurement"`` (see :mod:`pqiot.conformance.metrics`). Every figure
keeps its unit; a QEMU instruction proxy is never called cycles, and its ratio to
pqm4's Cortex-M4 cycles is labelled as not comparable 1:1. Figures that could not
be collected are listed with the reason. The chart is inline SVG (no script, no
matplotlib: rendering stays instant), so the page stays one offline file;
``pqiot bench`` draws the full matplotlib plots.
"""

from __future__ import annotations

from html import escape
from typing import Any

__all__ = ["render_measurements"]

_UNIT_NOTES = {
    "instruction_proxy": (
        "QEMU instruction proxy (SysTick under -icount shift=0): executed instructions, "
        "NOT Cortex-M4 cycles. Ratios to the pqm4 cycle figures are a sanity check, "
        "not comparable 1:1."
    ),
    "wall_clock_ns": "Host wall-clock nanoseconds: not cycles of any device.",
    "cycles": "Core cycles (DWT/SysTick) at the clock shown above.",
}


def _num(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.3f}" if abs(value) < 100 else f"{value:,.0f}"
    if isinstance(value, int | float):
        return f"{int(value):,}"
    return escape(str(value))


def _table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _reference_cells(m: dict[str, Any]) -> list[str]:
    ref = m.get("reference")
    if not ref:
        return ["—", "—", "—"]
    source = f"{_num(ref['value'])} {escape(ref['unit'])}<br><small>{escape(ref['source'])}</small>"
    said = "not comparable 1:1" in str(ref.get("note"))
    label = (
        ""
        if ref["comparable"]
        else " <b>(different units)</b>"
        if said
        else " <b>not comparable 1:1</b>"
    )
    basis = "mean" if m["name"].endswith(" sign") else "median"
    ratio = (
        f"&times;{ref['ratio']}{label}<br><small>our {basis} / reference"
        + (f"; {escape(ref['note'])}" if ref.get("note") else "")
        + "</small>"
    )
    stack = f"&times;{ref['stack_ratio']}" if ref.get("stack_ratio") is not None else "—"
    return [source, ratio, stack]


def _primitives(metrics: list[dict[str, Any]]) -> str:
    rows = []
    for m in metrics:
        s = m["statistics"]
        rows.append(
            [
                escape(m["name"]),
                escape(m["unit"]),
                _num(s["n"]),
                _num(s["median"]),
                _num(s["mean"]),
                f"{_num(s['min'])} &ndash; {_num(s['max'])}",
                _num(m.get("stack_bytes")),
                *_reference_cells(m),
                escape(", ".join(m.get("flags", []))),
            ]
        )
    return _table(
        [
            "operation",
            "unit",
            "n",
            "median",
            "mean",
            "min - max",
            "peak stack B",
            "public reference",
            "ratio",
            "stack ratio",
            "flags",
        ],
        rows,
    )


def _handshakes(metrics: list[dict[str, Any]]) -> str:
    by_name = {m["name"]: m for m in metrics}
    wire = {
        (m["suite"], m["name"].rsplit(" ", 1)[-1]): m["value"]
        for m in metrics
        if m["group"] == "wire"
    }
    bindings = sorted({b for _, b in wire})
    rows = []
    for m in (m for m in metrics if m["group"] == "handshake"):
        ratio = by_name.get(f"{m['name']} / primitives")
        e2e = by_name.get(f"{m['name']} end-to-end")
        rows.append(
            [
                _num(m["suite"]),
                escape(str(m["role"])),
                f"{_num(m['statistics']['median'])} {escape(m['unit'])}",
                _num(m.get("stack_bytes")),
                _num(ratio["statistics"]["median"]) if ratio else "—",
                _num(round(e2e["statistics"]["median"] / 1e6, 2)) if e2e else "—",
                *[_num(wire.get((m["suite"], b))) for b in bindings],
            ]
        )
    if not rows:
        return ""
    return _table(
        [
            "suite",
            "device role",
            "device cost (median)",
            "peak stack B",
            "cost / Σ primitives",
            "end to end ms (host clock)",
            *[f"bytes on the wire: {b}" for b in bindings],
        ],
        rows,
    )


def _footprint(measurement: dict[str, Any], metrics: list[dict[str, Any]]) -> str:
    fp = measurement.get("footprint")
    if not fp:
        return ""
    totals = [
        [escape(m["name"].removeprefix("image ")), _num(m["value"]), escape("; ".join(m["notes"]))]
        for m in metrics
        if m["group"] == "footprint" and m["name"].startswith("image ")
    ]
    sections = [
        [escape(s["name"]), f"0x{int(s['address']):08x}", _num(s["size"]), escape(s["category"])]
        for s in fp.get("sections", [])
    ]
    ram = [
        [escape(m["name"]), _num(m["value"])]
        for m in metrics
        if m["group"] == "footprint" and m["name"].endswith("device RAM")
    ]
    return (
        f"<h3>Static footprint (ELF {escape(str(fp.get('image')))})</h3>"
        + _table(["figure", "bytes", "counts"], totals)
        + "<details><summary>per section</summary>"
        + _table(["section", "address", "bytes", "category"], sections)
        + "</details>"
        + (_table(["handshake", "static RAM + peak stack B"], ram) if ram else "")
        + "<p><small>Per-component sizes are not available: the footprint is read per "
        "ELF section.</small></p>"
    )


def _ratio_chart(metrics: list[dict[str, Any]]) -> str:
    """Inline SVG: each figure's ratio to its public reference, with the 1.0 line (no script)."""
    rows = [(m["name"], float(m["reference"]["ratio"])) for m in metrics if m.get("reference")]
    if not rows:
        return ""
    comparable = all(m["reference"]["comparable"] for m in metrics if m.get("reference"))
    width, bar, label_w, right = 720, 16, 190, 70
    top = max(max(v for _, v in rows), 1.0) * 1.05
    scale = (width - label_w - right) / top
    height = bar * len(rows) + 40
    title = "ratio to the public reference (1.0 = same figure)" + (
        "" if comparable else ": different units, NOT comparable 1:1"
    )
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" aria-label="{escape(title)}">',
        f'<text x="0" y="14" font-size="13" font-weight="600">{escape(title)}</text>',
    ]
    for i, (name, value) in enumerate(rows):
        y = 24 + i * bar
        colour = "#1565c0" if value <= 1.0 else "#ef6c00"
        parts.append(f'<text x="0" y="{y + 11}" font-size="11">{escape(name)}</text>')
        parts.append(
            f'<rect x="{label_w}" y="{y}" width="{value * scale:.1f}" height="{bar - 4}" '
            f'fill="{colour}"/>'
        )
        parts.append(
            f'<text x="{label_w + value * scale + 4:.1f}" y="{y + 11}" font-size="11">'
            f"{value:g}</text>"
        )
    one = label_w + scale
    parts.append(
        f'<line x1="{one:.1f}" y1="20" x2="{one:.1f}" y2="{height - 12}" stroke="#222" '
        'stroke-dasharray="4 3"/></svg>'
    )
    return "".join(parts)


def _environment(measurement: dict[str, Any]) -> str:
    env = measurement.get("environment") or {}
    clock = env.get("clock") or {}
    settings = measurement.get("settings") or {}
    rows = [
        ["clock", f"{_num(clock.get('hz'))} Hz"],
        ["cycle counter", escape(str(clock.get("cycle_counter")))],
        ["unit of the figures", escape(str(env.get("unit")))],
        ["clock notes", escape(str(clock.get("notes") or "—"))],
        ["compiler", escape(str(env.get("compiler")))],
        ["flags", f"<small>{escape(str(env.get('flags')))}</small>"],
        ["firmware", escape(str(env.get("firmware")))],
        ["stack measured (painted)", escape(str(env.get("stack_measured")))],
        [
            "runs",
            escape(
                f"{settings.get('runs')} per operation, {settings.get('sign_messages')} "
                f"signing messages, {settings.get('handshake_runs')} handshake(s) per suite "
                f"and role; {measurement.get('duration_s')} s"
            ),
        ],
    ]
    return "<table>" + "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows) + "</table>"


def render_measurements(report: dict[str, Any]) -> str:
    """HTML of the device measurements (empty string when the report has none at all)."""
    measurement = report.get("measurement")
    if not isinstance(measurement, dict):
        return ""
    title = "<h2>Device measurements</h2>"
    status = measurement.get("status")
    if status == "not-run":
        return f"{title}<p>{escape(str(measurement.get('reason')))}</p>"
    entries = [m for m in report.get("metrics", []) if m.get("source") == "measurement"]
    figures = [m for m in entries if m.get("error") is None]
    errors = "".join(
        f"<li><b>{escape(e['metric'])}</b> ({escape(e['group'])}): {escape(e['reason'])}</li>"
        for e in measurement.get("errors", [])
    )
    box = (
        f'<div class="warn">Measurements {escape(str(status))}: these figures could not be '
        f"collected (the verdicts above are unaffected):<ul>{errors}</ul></div>"
        if errors
        else "<p>Every planned figure was collected.</p>"
    )
    unit = (measurement.get("environment") or {}).get("unit")
    unit_note = _UNIT_NOTES.get(str(unit), "")
    primitives = [m for m in figures if m["group"] == "primitive"]
    records = [m for m in figures if m["group"] == "record"]
    notes = "".join(f"<li>{escape(n)}</li>" for n in measurement.get("notes", []))
    parts = [
        title,
        box,
        f'<div class="warn">{escape(unit_note)}</div>' if unit == "instruction_proxy" else "",
        f"<p><small>{escape(unit_note)}</small></p>" if unit != "instruction_proxy" else "",
        _environment(measurement),
        _footprint(measurement, figures),
        "<h3>Primitives</h3>" + _primitives(primitives) if primitives else "",
        "<h3>Handshake cost per suite and role</h3>" + _handshakes(figures)
        if any(m["group"] == "handshake" for m in figures)
        else "",
        "<details><summary>record protection</summary>" + _primitives(records) + "</details>"
        if records
        else "",
        _ratio_chart(primitives),
        f"<ul>{notes}</ul>" if notes else "",
    ]
    return "".join(parts)
