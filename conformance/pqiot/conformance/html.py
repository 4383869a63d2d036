"""``report.html``: one self-contained page (no network, no scripts) a certifier can read offline.

Sections: claim and signing notice, verdict summary, interop matrix (suite x
role x binding, as the QUIC interop runner shows it), requirement matrix by
area, requirements verified by vendor declaration (spec §14.5), deviations,
metrics with inline SVG bar charts, and the test list with links to the
per-test logs.
"""

from __future__ import annotations

from collections import defaultdict
from html import escape
from pathlib import Path
from typing import Any

from pqiot.conformance.html_metrics import render_measurements

__all__ = ["write_html"]

_COLOURS = {
    "pass": "#2e7d32",
    "passed": "#2e7d32",
    "fail": "#c62828",
    "failed": "#c62828",
    "blocked": "#ef6c00",
    "untested": "#757575",
    "skipped": "#9e9e9e",
    "not-applicable": "#bdbdbd",
}
_CSS = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1200px}
table{border-collapse:collapse;margin:1em 0}
td,th{border:1px solid #ccc;padding:3px 6px;font-size:13px}
th{background:#f0f0f0}.v{color:#fff;font-weight:600;text-align:center}
.warn{background:#fff3e0;border:2px solid #ef6c00;padding:1em;margin:1em 0;font-weight:600}
.ok{background:#e8f5e9;border:2px solid #2e7d32;padding:1em}
.bad{background:#ffebee;border:2px solid #c62828;padding:1em}
.cell{display:inline-block;width:14px;height:14px;margin:1px}small{color:#666}
"""


def _badge(value: str) -> str:
    colour = _COLOURS.get(value, "#555")
    return f'<td class="v" style="background:{colour}">{escape(value)}</td>'


def _bar_chart(title: str, rows: list[tuple[str, float]], unit: str) -> str:
    if not rows:
        return ""
    width, bar_h, label_w = 640, 18, 170
    top = max(v for _, v in rows) or 1.0
    height = bar_h * len(rows) + 30
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" aria-label="{escape(title)}">',
        f'<text x="0" y="14" font-size="13" font-weight="600">{escape(title)}</text>',
    ]
    for i, (label, value) in enumerate(rows):
        y = 24 + i * bar_h
        w = (width - label_w - 90) * value / top
        parts.append(f'<text x="0" y="{y + 12}" font-size="11">{escape(label)}</text>')
        parts.append(
            f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{bar_h - 4}" fill="#1565c0"/>'
        )
        parts.append(
            f'<text x="{label_w + w + 4:.1f}" y="{y + 12}" font-size="11">'
            f"{value:g} {escape(unit)}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _interop(report: dict[str, Any]) -> str:
    cells = report["interop"]
    if not cells:
        return "<p>No interop cells ran.</p>"
    columns = sorted({(c["role"], c["binding"]) for c in cells})
    suites = list(dict.fromkeys(c["suite"] for c in cells))
    grid = {(c["suite"], c["role"], c["binding"]): c["outcome"] for c in cells}
    head = "".join(f"<th>device {escape(r)}<br><small>{escape(b)}</small></th>" for r, b in columns)
    rows = []
    for suite in suites:
        tds = "".join(
            _badge(grid[(suite, r, b)]) if (suite, r, b) in grid else "<td>—</td>"
            for r, b in columns
        )
        rows.append(f"<tr><th>suite {suite}</th>{tds}</tr>")
    return f"<table><tr><th>reference ↔ device</th>{head}</tr>{''.join(rows)}</table>"


def _requirements(report: dict[str, Any]) -> str:
    by_area: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for req in report["requirements"]:
        by_area[req["area"]].append(req)
    overview = []
    for area, reqs in by_area.items():
        squares = "".join(
            f'<span class="cell" title="{escape(r["id"])}: {escape(r["verdict"])}" '
            f'style="background:{_COLOURS.get(r["verdict"], "#555")}"></span>'
            for r in reqs
        )
        overview.append(f"<tr><th>{escape(area)}</th><td>{squares}</td></tr>")
    rows = []
    for req in report["requirements"]:
        tests = "<br>".join(
            f'<a href="{escape(t["log"] or "")}">{escape(t["nodeid"])}</a> ({escape(t["outcome"])})'
            for t in req["tests"]
        )
        flag = " ⚑ deviation" if req["deviation"] else ""
        if req.get("verification", "test") != "test":
            flag += f" ✎ {req['verification']}"
        rows.append(
            f"<tr><td>{escape(req['id'])}{flag}</td><td>{escape(req['level'])}</td>"
            f"{_badge(req['verdict'])}<td><small>{escape(req['reason'])}</small></td>"
            f"<td><small>{tests}</small></td></tr>"
        )
    return (
        f"<table>{''.join(overview)}</table>"
        "<details><summary>every requirement</summary><table><tr><th>requirement</th>"
        "<th>level</th><th>verdict</th><th>reason</th><th>tests</th></tr>"
        f"{''.join(rows)}</table></details>"
    )


def _declarations(report: dict[str, Any]) -> str:
    """Spec §14.5: what rests on the vendor's word, apart from what was tested."""
    rows = []
    for d in report.get("declarations", []):
        if not d["applicable"]:
            continue
        if d["declared"]:
            said = f"{escape(d['statement'])}<br><small>evidence: {escape(d['evidence'])}</small>"
        else:
            said = "<b>no vendor declaration</b>"
        rows.append(
            f"<tr><td>{escape(d['requirement'])}</td><td>{escape(d['level'])}</td>"
            f"{_badge(d['verdict'])}<td>{said}</td>"
            f"<td><small>{escape(d['why_not_tested'])}</small></td></tr>"
        )
    if not rows:
        return "<p>No applicable requirement is verified by declaration.</p>"
    return (
        '<div class="warn">These requirements cannot be observed by a black-box test. They '
        "are never counted as passed: the claim rests on the vendor's statements below, "
        "which a certifier must review against the evidence.</div>"
        "<table><tr><th>requirement</th><th>level</th><th>verdict</th>"
        "<th>vendor statement</th><th>why no test</th></tr>"
        f"{''.join(rows)}</table>"
    )


def _metrics(report: dict[str, Any]) -> str:
    metrics = [m for m in report["metrics"] if m.get("source") != "measurement"]
    if not metrics:
        return "<p>No metrics were recorded.</p>"
    rows = "".join(
        "<tr>"
        + "".join(
            f"<td>{escape(str(m.get(k, '')))}</td>"
            for k in ("name", "value", "unit", "suite", "role", "test")
        )
        + "</tr>"
        for m in metrics
    )
    size: dict[str, float] = {}
    seconds: dict[str, list[float]] = defaultdict(list)
    for m in metrics:
        if m.get("name") == "handshake_bytes":
            size[f"suite {m.get('suite')}"] = float(m["value"])
        if m.get("name") == "handshake_seconds":
            seconds[f"suite {m.get('suite')}"].append(float(m["value"]))
    charts = _bar_chart("handshake size on the wire", list(size.items()), "B") + "<br>"
    charts += _bar_chart(
        "handshake wall time (mean of roles, includes the reference side)",
        [(k, round(sum(v) / len(v), 4)) for k, v in seconds.items()],
        "s",
    )
    return (
        f"{charts}<details><summary>all metrics</summary><table><tr><th>name</th><th>value</th>"
        f"<th>unit</th><th>suite</th><th>role</th><th>test</th></tr>{rows}</table></details>"
    )


def write_html(report: dict[str, Any], path: Path) -> None:
    target, claim, signing = report["target"], report["claim"], report["signing"]
    summary = report["summary"]
    verdict_box = (
        f'<div class="ok">CONFORMANT: {escape(claim["statement"])}</div>'
        if claim["conformant"]
        else f'<div class="bad">NOT CONFORMANT: {escape(claim["statement"])}</div>'
    )
    key_notice = (
        '<div class="warn">The evidence bundle is signed with an EPHEMERAL key generated for '
        "this run: the signature proves the files were not changed after signing, not who "
        "produced them. Use --signing-key for a report you hand over.</div>"
        if signing.get("ephemeral_key")
        else f"<p>Signed with ML-DSA-65 key {escape(str(signing.get('public_key_sha256')))} "
        f"from {escape(str(signing.get('key_source')))}.</p>"
    )
    deviations = "".join(
        f"<tr><td>{escape(d['requirement'])}</td><td>{escape(d['level'])}</td>{_badge(d['verdict'])}"
        f"<td>{'⚠ passes: deviation is stale' if d['unexpected_pass'] else ''}</td>"
        f"<td>{escape(d['reason'])}</td></tr>"
        for d in report["deviations"]
    )
    tests = "".join(
        f'<tr><td><a href="{escape(t.get("log") or "")}">{escape(t["nodeid"])}</a></td>'
        f"{_badge(t['outcome'])}<td>{t['duration']:.2f} s</td>"
        f"<td><small>{escape(t.get('detail', ''))}</small></td></tr>"
        for t in report["tests"]
    )
    counts = "".join(
        f"<tr>{_badge(k)}<td>{summary.get(k, 0)}</td></tr>"
        for k in ("pass", "fail", "blocked", "untested", "not-applicable")
    )
    deviation_table = (
        "<table><tr><th>requirement</th><th>level</th><th>verdict</th><th>flag</th>"
        f"<th>reason</th></tr>{deviations}</table>"
        if deviations
        else "<p>None declared.</p>"
    )
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>pqiot conformance: {escape(str(target["name"]))}</title>
<style>{_CSS}</style></head><body>
<h1>PQC-IIoT conformance report — {escape(str(target["name"]))}</h1>
<p>spec {escape(report["spec_version"])} · suite {escape(report["suite_version"])} ·
firmware {escape(str(target.get("firmware")))} · {escape(str(target.get("product")))} ·
transport {escape(str(target.get("transport")))}</p>
{verdict_box}{key_notice}
<h2>Summary</h2><table>{counts}<tr><th>total</th><td>{summary["total"]}</td></tr></table>
<h2>Interop matrix</h2>{_interop(report)}
<h2>Requirements</h2>{_requirements(report)}
<h2>Verified by vendor declaration</h2>{_declarations(report)}
<h2>Vendor deviations</h2>
{deviation_table}
<p><small>Deviations never count as passes.</small></p>
<h2>Metrics</h2>{_metrics(report)}{render_measurements(report)}
<h2>Tests</h2><table><tr><th>test</th><th>outcome</th><th>time</th><th>detail</th></tr>{tests}</table>
</body></html>
"""
    path.write_text(page, encoding="utf-8")
