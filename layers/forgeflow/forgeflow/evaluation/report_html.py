"""report.html: one self-contained page (inline CSS and SVG, no script, nothing fetched) from report.json.

Every string from the report goes through `html.escape` (`_text`); a missing score reads "not measured", a
missing cost or verdict "unknown": the page never shows a number report.json does not hold.
"""

from __future__ import annotations

from html import escape
from typing import Any

from forgeflow.evaluation.charts import Series, bar_chart
from forgeflow.evaluation.report import F1_BINS

NOT_MEASURED = "not measured"
UNKNOWN = "unknown"
_STYLE = (
    "body{font-family:sans-serif;margin:2em auto;max-width:60em;color:#222}"
    "table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:.25em .6em;"
    "text-align:left}td.n{text-align:right;font-variant-numeric:tabular-nums}"
    ".promoted{color:#1a7f37}.regressed{color:#c62828}.unknown{color:#777}.up{color:#1a7f37}"
    ".down{color:#c62828}.banner{background:#fff3cd;padding:.5em 1em;border:1px solid #e0c97a}"
    "details{margin-bottom:1em}"
)


def _text(value: Any) -> str:
    return escape(str(value), quote=True)


def _score(value: Any, missing: str = NOT_MEASURED) -> str:
    return f"{value:.4f}" if isinstance(value, int | float) and not isinstance(value, bool) else missing


def _delta(value: Any) -> str:
    if not isinstance(value, int | float) or isinstance(value, bool):
        return f'<td class="n unknown">{NOT_MEASURED}</td>'
    css = "up" if value > 0 else "down" if value < 0 else ""
    return f'<td class="n {css}">{value:+.4f} ({value * 100:+.2f} pt)</td>'


def _usd(value: Any) -> str:
    return f"${value:,.2f}" if isinstance(value, int | float) and not isinstance(value, bool) else UNKNOWN


def _table(headers: list[str], rows: list[str]) -> str:
    head = "".join(f"<th>{_text(h)}</th>" for h in headers)
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


def _verdict(report: dict[str, Any]) -> str:
    verdict = report["verdict"]
    name = verdict.get("verdict")
    css = name if name in ("promoted", "regressed") else "unknown"
    parts = [f'<h2>Verdict: <span class="{css}">{_text(name or UNKNOWN)}</span></h2>']
    if verdict["failed"]:
        parts.append(
            "<p>Failed gates:</p><ul>" + "".join(f"<li>{_text(f)}</li>" for f in verdict["failed"]) + "</ul>"
        )
    if verdict["unmeasured"]:
        items = "".join(f"<li>{_text(u)}</li>" for u in verdict["unmeasured"])
        parts.append(f"<p>Gates not measured (they neither pass nor fail):</p><ul>{items}</ul>")
    rows = [
        f"<tr><td>{_text(g.get('gate'))}</td><td>{_text(g.get('suite'))}</td><td>{_text(g.get('rule'))}</td>"
        f'<td class="n">{_text(g.get("threshold"))}</td><td class="n">{_score(g.get("value"))}</td>'
        f"<td>{_text(g.get('status', UNKNOWN))}</td></tr>"
        for g in verdict["gates"]
    ]
    if rows:
        parts.append(_table(["gate", "suite", "rule", "threshold (pt)", "value (pt)", "status"], rows))
    return "".join(parts)


def _metrics(report: dict[str, Any]) -> str:
    rows = []
    for suite in report["suites"]:
        rows.append(
            f"<tr><th>{_text(suite['suite'])}</th><td>{_text(suite['metric'] or UNKNOWN)}</td>"
            f'<td class="n">{_score(suite["base"])}</td><td class="n">{_score(suite["trained"])}</td>'
            f"{_delta(suite['delta'])}<td>{_text(suite['note'] or '')}</td></tr>"
        )
    parts = ["<h2>Metrics</h2>", _table(["suite", "headline", "base", "trained", "delta", "note"], rows)]
    for suite in report["suites"]:
        detail = [
            f'<tr><td>{_text(m["name"])}</td><td class="n">{_score(m["base"])}</td>'
            f'<td class="n">{_score(m["trained"])}</td>{_delta(m["delta"])}</tr>'
            for m in suite["metrics"]
        ]
        if detail:
            table = _table(["metric", "base", "trained", "delta"], detail)
            parts.append(
                f"<details><summary>{_text(suite['suite'])}: every metric</summary>{table}</details>"
            )
    return "".join(parts)


def _suites_chart(report: dict[str, Any]) -> str:
    suites = report["suites"]
    if not suites:
        return ""
    names = [f"{s['suite']} ({s['metric'] or '?'})" for s in suites]
    series = [
        Series("base", tuple(s["base"] for s in suites)),
        Series("trained", tuple(s["trained"] for s in suites)),
    ]
    return bar_chart("Base vs trained, headline metric per suite", names, series, y_max=1.0)


def _classification(report: dict[str, Any]) -> str:
    targets = report["classification"]
    if not targets:
        return ""
    bins = [f"{i / F1_BINS:.1f}–{(i + 1) / F1_BINS:.1f}" for i in range(F1_BINS)]
    series = [Series(target, tuple(float(c) for c in t["f1_histogram"])) for target, t in targets.items()]
    chart = bar_chart("Per-label F1: how many labels in each range", bins, series, percent=False)
    rows = []
    for target, entry in targets.items():
        scores = "".join(f'<td class="n">{_score(v)}</td>' for v in entry["scores"].values())
        rows.append(f"<tr><th>{_text(target)}</th>{scores}<td class='n'>{_text(entry['labels'])}</td></tr>")
    first = next(iter(targets.values()))
    headers = ["target", *first["scores"], "labels"]
    confusions = _confusions(targets)
    return "<h2>Classification</h2>" + _table(headers, rows) + chart + confusions


def _confusions(targets: dict[str, Any]) -> str:
    trained = targets.get("trained") or {}
    rows = [
        f"<tr><td>{_text(c.get('reference'))}</td><td>{_text(c.get('prediction'))}</td>"
        f'<td class="n">{_text(c.get("count"))}</td></tr>'
        for c in trained.get("top_confusions", [])
    ]
    return (
        "<h3>Top confusions (trained)</h3>" + _table(["reference", "predicted", "count"], rows)
        if rows
        else ""
    )


def _mix(report: dict[str, Any]) -> str:
    mix = report["mix"]
    if mix is None:
        return f"<h2>Mix</h2><p>{UNKNOWN}: no readable mix report</p>"
    sources = mix["sources"]
    rows = [
        f"<tr><td>{_text(s['name'])}</td><td>{_text(s['role'] or '')}</td>"
        f'<td class="n">{_score(s["declared_share"], UNKNOWN)}</td>'
        f'<td class="n">{_score(s["achieved_share"], UNKNOWN)}</td>'
        f'<td class="n">{_text(s["selected"])}</td></tr>'
        for s in sources
    ]
    series = [
        Series("declared", tuple(s["declared_share"] for s in sources)),
        Series("achieved", tuple(s["achieved_share"] for s in sources)),
    ]
    chart = bar_chart(f"Mix shares of train.jsonl ({mix['unit']})", [s["name"] for s in sources], series)
    head = f"<h2>Mix</h2><p>unit {_text(mix['unit'])}, seed {_text(mix['seed'])}</p>"
    return head + _table(["source", "role", "declared", "achieved", "selected"], rows) + chart


def _cost(report: dict[str, Any]) -> str:
    cost = report["cost"]
    rows = [
        f"<tr><td>{_text(j.get('job_name', j.get('name', '')))}</td>"
        f"<td class='n'>{_text(j.get('billable_seconds', UNKNOWN))}</td>"
        f"<td class='n'>{_usd(j.get('usd', j.get('actual_usd')))}</td></tr>"
        for j in cost["jobs"]
    ]
    jobs = _table(["job", "billable s", "cost"], rows) if rows else ""
    return (
        f"<h2>Cost</h2><p>pre-flight estimate {_usd(cost['estimate_usd'])}; "
        f"actual {_usd(cost['actual_usd'])}</p>{jobs}"
    )


def _footer(report: dict[str, Any]) -> str:
    sources = "".join(f"<li>{_text(k)}: {_text(v)}</li>" for k, v in report["sources"].items() if v)
    other = "".join(f"<li>{_text(k)}: <code>{_text(v)}</code></li>" for k, v in report["other"].items())
    recipe = report["recipe"]["sha256"] or UNKNOWN
    return f"<h2>Provenance</h2><p>recipe sha256 <code>{_text(recipe)}</code></p><ul>{sources}</ul>" + (
        f"<h3>Other summary fields</h3><ul>{other}</ul>" if other else ""
    )


def render_html(report: dict[str, Any]) -> str:
    """The whole page for one `build_report` document."""
    banner = (
        '<p class="banner">Emulated: these scores come from the local stand-in model, '
        "not from a Nova model.</p>"
        if report["emulated"]
        else ""
    )
    body = "".join(
        [
            f"<h1>ForgeFlow run {_text(report['run_id'])}</h1>",
            banner,
            f"<p>domain task: {_text(report['domain_task'] or UNKNOWN)}</p>",
            _verdict(report),
            _metrics(report),
            _suites_chart(report),
            _classification(report),
            _mix(report),
            _cost(report),
            _footer(report),
        ]
    )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>ForgeFlow report {_text(report['run_id'])}</title><style>{_STYLE}</style></head>"
        f"<body>{body}</body></html>\n"
    )
