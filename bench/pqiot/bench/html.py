"""One offline HTML page: environment, plots (matplotlib, embedded PNG) and the tables.

Each primitive figure sits next to the public PQClean/pqm4 (or host) reference with
the ratio; a QEMU instruction proxy against M4 cycles is labelled as not comparable
1:1, and flagged figures are shown with their flags.
"""

from __future__ import annotations

import base64
import html
import io
from typing import Any

__all__ = ["render_html"]


def _png(figure: Any) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(figure)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def _reference_label(reference: dict[str, Any]) -> str:
    label = f"public reference ({reference['unit']})"
    return label if reference["comparable"] else label + ": NOT comparable 1:1"


def _plots(report: dict[str, Any]) -> list[tuple[str, str]]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plots: list[tuple[str, str]] = []
    prims = [m for m in report["metrics"] if m["group"] == "primitive"]
    if prims:
        unit = prims[0]["unit"]
        fig, ax = plt.subplots(figsize=(10, max(3, 0.3 * len(prims))))
        names = [m["name"] for m in prims]
        med = [m["statistics"]["median"] for m in prims]
        low = [m["statistics"]["median"] - m["statistics"]["min"] for m in prims]
        high = [m["statistics"]["max"] - m["statistics"]["median"] for m in prims]
        ax.barh(
            names,
            med,
            xerr=[low, high],
            color="#4a7ebb",
            label=f"this run ({unit}, median, min-max)",
        )
        refs = [(i, m["reference"]["value"]) for i, m in enumerate(prims) if m["reference"]]
        if refs:
            ax.scatter(
                [v for _, v in refs],
                [i for i, _ in refs],
                color="#c0392b",
                marker="D",
                zorder=3,
                label=_reference_label(prims[refs[0][0]]["reference"]),
            )
        ax.set_xscale("log")
        ax.invert_yaxis()
        ax.set_xlabel(unit)
        ax.legend(loc="lower right", fontsize=8)
        plots.append(("Primitives (log scale)", _png(fig)))
    signs = [m for m in prims if m["name"].endswith(" sign")]
    if signs:
        fig, ax = plt.subplots(figsize=(8, 3))
        for m in signs:
            ax.hist(m["samples"], bins=16, alpha=0.6, label=m["name"])
        ax.set_xlabel(signs[0]["unit"])
        ax.set_ylabel("messages")
        ax.legend(fontsize=8)
        plots.append(
            ("ML-DSA signing over the message set (rejection-loop distribution)", _png(fig))
        )
    ratios = {m["name"]: m for m in report["metrics"] if m["group"] == "handshake-ratio"}
    roles = [n for n in ratios if n.endswith(" / primitives")]
    if roles:
        fig, ax = plt.subplots(figsize=(8, 3.5))
        xs = list(range(len(roles)))
        medians = [ratios[n]["statistics"]["median"] for n in roles]
        minimums = [
            ratios.get(n + " (minimums)", {"statistics": {"median": 0}})["statistics"]["median"]
            for n in roles
        ]
        ax.bar([x - 0.2 for x in xs], medians, width=0.4, color="#27ae60", label="medians")
        ax.bar([x + 0.2 for x in xs], minimums, width=0.4, color="#8e44ad", label="minimums")
        ax.set_xticks(xs)
        ax.set_xticklabels(
            [n.removesuffix(" / primitives").removeprefix("handshake ") for n in roles],
            rotation=30,
            ha="right",
        )
        ax.axhline(1.0, color="black", linewidth=0.8)
        ax.set_ylabel("handshake / sum of primitives")
        ax.legend(fontsize=8)
        plots.append(("Handshake cost relative to the primitives it runs", _png(fig)))
    return plots


def _fmt(value: Any) -> str:
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.3f}" if abs(value) < 100 else f"{value:,.0f}"
    if isinstance(value, int | float):
        return f"{int(value):,}"
    return html.escape(str(value)) if value is not None else "-"


def _metric_rows(metrics: list[dict[str, Any]]) -> str:
    rows = []
    for m in metrics:
        s, ref = m["statistics"], m["reference"]
        ref_cell = ratio_cell = ""
        if ref:
            ref_cell = (
                f"{_fmt(ref['value'])} {html.escape(ref['unit'])}"
                f"<br><small>{html.escape(ref['source'])}</small>"
            )
            label = "" if ref["comparable"] else " <b>(not comparable 1:1)</b>"
            stack = f"<br>stack x{ref['stack_ratio']}" if ref.get("stack_ratio") else ""
            ratio_cell = (
                f"x{ref['ratio']}{label}{stack}<br><small>{html.escape(ref['note'])}</small>"
            )
        flags = ", ".join(m["flags"])
        cls = (
            ' class="flag"'
            if "wide-spread" in m["flags"] or "counter-overflow" in m["flags"]
            else ""
        )
        rows.append(
            f"<tr{cls}><td>{html.escape(m['name'])}</td><td>{html.escape(m['unit'])}</td>"
            + "".join(f"<td>{_fmt(s[k])}</td>" for k in ("n", "min", "median", "mean", "max"))
            + f"<td>{s['cv']:.3f}</td><td>{s['spread']:.3f}</td><td>{_fmt(m['stack_bytes'])}</td>"
            f"<td>{ref_cell}</td><td>{ratio_cell}</td><td>{html.escape(flags)}</td></tr>"
        )
    return "\n".join(rows)


_CSS = (
    "body{font-family:sans-serif;margin:1.5em}table{border-collapse:collapse;margin-bottom:1em}"
    "td,th{border:1px solid #bbb;padding:2px 6px;font-size:12px;text-align:right}"
    "td:first-child,th{text-align:left}tr.flag{background:#fde2e2}"
    ".unit{background:#fff6d5;padding:.5em;border:1px solid #e0c36c}"
)


def render_html(report: dict[str, Any], comparisons: list[dict[str, Any]] | None = None) -> str:
    env_keys = (
        "target",
        "kind",
        "compiler",
        "flags",
        "git_revision",
        "firmware",
        "started",
        "duration_s",
    )
    env = "".join(
        f"<tr><th>{k}</th><td>{html.escape(str(report.get(k)))}</td></tr>" for k in env_keys
    )
    env += f"<tr><th>clock</th><td>{html.escape(str(report['clock']))}</td></tr>"
    env += f"<tr><th>settings</th><td>{html.escape(str(report['settings']))}</td></tr>"
    plots = "".join(
        f"<h3>{html.escape(t)}</h3><img src='{src}' alt='{html.escape(t)}'>"
        for t, src in _plots(report)
    )
    unit_note = {
        "instruction_proxy": "QEMU instruction proxy (SysTick under -icount shift=0 x 40): "
        "executed instructions, NOT Cortex-M4 cycles. Ratios to pqm4 cycles are a sanity "
        "check, not comparable 1:1.",
        "wall_clock_ns": "Wall-clock nanoseconds on the host: not cycles of any device.",
        "cycles": "Core cycles (DWT/SysTick) at the clock recorded above.",
    }.get(str(report.get("unit")), "")
    header = (
        "<tr><th>metric</th><th>unit</th><th>n</th><th>min</th><th>median</th><th>mean</th>"
        "<th>max</th><th>CV</th><th>(max-min)/median</th><th>peak stack B</th>"
        "<th>public reference</th><th>ratio</th><th>flags</th></tr>"
    )
    sections = []
    for group, title in (
        ("primitive", "Primitives"),
        ("handshake", "Handshake (DUT cost per role)"),
        ("handshake-ratio", "Handshake / sum of primitives"),
        ("handshake-step", "Handshake steps"),
        ("handshake-e2e", "Handshake end to end (host wall clock)"),
        ("record", "Record protection"),
        ("wire", "Bytes on the wire per handshake"),
        ("footprint", "Static footprint (ELF)"),
    ):
        chosen = [m for m in report["metrics"] if m["group"] == group]
        if chosen:
            sections.append(f"<h2>{title}</h2><table>{header}{_metric_rows(chosen)}</table>")
    regress = ""
    if comparisons is not None:
        flag = ' class="flag"'
        rows = "".join(
            f"<tr{flag if c['regressed'] else ''}><td>{html.escape(c['name'])}</td>"
            f"<td>{_fmt(c['baseline'])}</td><td>{_fmt(c['current'])}</td>"
            f"<td>{c['change_pct']:+.2f} %</td>"
            f"<td>{'REGRESSED' if c['regressed'] else ''}</td></tr>"
            for c in comparisons
        )
        regress = (
            "<h2>Against the baseline (medians)</h2><table><tr><th>metric</th><th>baseline</th>"
            f"<th>now</th><th>change</th><th></th></tr>{rows}</table>"
        )
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in report.get("notes", []))
    title = html.escape(report["target"])
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>pqiot bench: {title}</title>
<style>{_CSS}</style></head>
<body><h1>pqiot bench: {title}</h1>
<p class="unit">{html.escape(unit_note)}</p>
<table>{env}</table><ul>{notes}</ul>
{regress}{plots}{"".join(sections)}
</body></html>
"""
