"""The HTML of the report pages: one experiment's page and the index of a user's experiments.

Self-contained: styles and the few lines of script that sort the tables are inline, the call's
figure is a PNG inlined as a ``data:`` URI, the charts (:mod:`._interactive`) bring their data and
their library inline, and nothing is fetched from the network. Every text is escaped.
"""

from __future__ import annotations

import base64
import html
import math
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

# trial rows a page lists at most (a note says how many more there are)
MAX_ROWS = 2000
# a page of a running sweep reloads itself this often (seconds)
RELOAD_S = 30

STYLE = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2rem auto;max-width:1100px;
padding:0 1rem;color:#1d2230;background:#fff}
h1{margin:.2rem 0}h2{margin-top:2rem;border-bottom:1px solid #e3e6ee;padding-bottom:.3rem}
.state{display:inline-block;padding:.15rem .6rem;border-radius:1rem;font-weight:600;background:#e8eefc}
.state.succeeded,.state.finished{background:#dff3e4;color:#17632f}.state.running{background:#fff3d6;color:#7a5400}
.state.failed,.state.died{background:#fde2e1;color:#8d1c17}.state.stopped,.state.interrupted{background:#ecebf5}
table{border-collapse:collapse;margin:.5rem 0;font-size:14px}td,th{padding:.3rem .6rem;border-bottom:1px solid #eef0f5;
text-align:left;vertical-align:top}th{background:#f6f7fb;position:sticky;top:0}
table.sortable th{cursor:pointer;user-select:none}table.sortable th:after{content:" \\2195";color:#9aa1b2}
table.sortable th[data-order=asc]:after{content:" \\2191";color:#1d2230}
table.sortable th[data-order=desc]:after{content:" \\2193";color:#1d2230}
td.num{text-align:right;font-variant-numeric:tabular-nums}.facts th{position:static;width:12rem}
figure{margin:1rem 0}figure img{max-width:100%;border:1px solid #eef0f5}figcaption{color:#5b6275;font-size:13px}
code,pre{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:13px}.note{color:#5b6275}
.scroll{overflow-x:auto;max-height:24rem;overflow-y:auto}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(440px,1fr));gap:0 1.5rem}
header p{margin:.2rem 0;color:#5b6275}
.toolbar{display:flex;gap:1.5rem;align-items:center;flex-wrap:wrap;margin:.5rem 0 1rem;position:sticky;top:0;
background:#fff;z-index:10;padding:.4rem 0;border-bottom:1px solid #eef0f5}
.toolbar select{font:inherit;padding:.15rem .3rem}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(460px,1fr));gap:0 1.5rem}
figure.chart{margin:.5rem 0 1.2rem;min-width:0}figure.chart.wide{grid-column:1/-1}.plot{min-height:320px}
"""

# sorts a table by the clicked column: numbers (data-value) as numbers, anything else as text
SORT_JS = """
document.querySelectorAll("table.sortable").forEach(function (table) {
  table.querySelectorAll("th").forEach(function (th, column) {
    th.addEventListener("click", function () {
      var ascending = th.dataset.order !== "asc";
      table.querySelectorAll("th").forEach(function (other) { delete other.dataset.order; });
      th.dataset.order = ascending ? "asc" : "desc";
      var key = function (row) {
        var cell = row.cells[column], value = cell.dataset.value;
        return value !== undefined ? parseFloat(value) : cell.textContent.trim().toLowerCase();
      };
      var rows = Array.prototype.slice.call(table.tBodies[0].rows);
      rows.sort(function (a, b) {
        var x = key(a), y = key(b);
        if (typeof x === "number" && isNaN(x)) return 1;
        if (typeof y === "number" && isNaN(y)) return -1;
        var order = x < y ? -1 : x > y ? 1 : 0;
        return ascending ? order : -order;
      });
      rows.forEach(function (row) { table.tBodies[0].appendChild(row); });
    });
  });
});
"""


class Html(str):
    """Text that is already HTML (a table cell shows it as it is)."""

    __slots__ = ()


@dataclass(frozen=True)
class Figure:
    """One figure of a report: a caption and its PNG."""

    name: str
    caption: str
    png: bytes


def number(value: Any) -> str:
    """A number as people read it (``0.000123`` -> ``0.000123``, ``12345.678`` -> ``1.235e+04``)."""
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return "" if math.isnan(value) else f"{float(value):.4g}"
    return "" if value is None else str(value)


def cell(value: Any) -> str:
    """A table cell: numbers right-aligned and sortable as numbers; everything else as text."""
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_)):
        raw = float(value)
        data = "NaN" if math.isnan(raw) else repr(raw)
        return f'<td class="num" data-value="{data}">{html.escape(number(value))}</td>'
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "<td></td>"
    if isinstance(value, Html):
        return f"<td>{value}</td>"
    return f"<td>{html.escape(str(value))}</td>"


def table(rows: Sequence[Mapping[Any, Any]], columns: Sequence[str], table_id: str,
          labels: Mapping[str, str] | None = None) -> str:
    """A sortable table of ``rows``' ``columns`` (at most :data:`MAX_ROWS` rows)."""
    labels = labels or {}
    head = "".join(f"<th>{html.escape(labels.get(c, c))}</th>" for c in columns)
    body = "".join("<tr>" + "".join(cell(_scalar(row.get(c))) for c in columns) + "</tr>" for row in rows[:MAX_ROWS])
    more = (f'<p class="note">{len(rows) - MAX_ROWS} more rows are not listed.</p>' if len(rows) > MAX_ROWS else "")
    return (f'<div class="scroll"><table class="sortable" id="{table_id}"><thead><tr>{head}</tr></thead>'
            f"<tbody>{body}</tbody></table></div>{more}")


def _scalar(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def facts(rows: Sequence[tuple[str, str]]) -> str:
    """A two-column table of named facts."""
    body = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in rows)
    return f'<table class="facts">{body}</table>'


def figure(fig: Figure) -> str:
    """An inline figure (``data:`` URI) with its caption."""
    data = base64.b64encode(fig.png).decode()
    return (f'<figure id="figure-{html.escape(fig.name)}"><img alt="{html.escape(fig.caption)}" '
            f'src="data:image/png;base64,{data}"><figcaption>{html.escape(fig.caption)}</figcaption></figure>')


def document(title: str, state: str, body: Sequence[str], footer: str, reload: bool, subtitle: str = "",
             head: str = "", scripts: str = "") -> str:
    """A whole page: ``body``'s sections under a heading with ``state`` as a badge (``head``: more
    of the page's head, HTML; ``scripts``: at the end of its body, HTML)."""
    refresh = f'<meta http-equiv="refresh" content="{RELOAD_S}">' if reload else ""
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8">{head}'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"{refresh}<title>{html.escape(title)} - radas</title><style>{STYLE}</style></head><body>"
        f'<header><h1>{html.escape(title)}</h1><span class="state {html.escape(state.split()[0])}">'
        f"{html.escape(state)}</span>{f'<p>{html.escape(subtitle)}</p>' if subtitle else ''}</header>"
        + "".join(body)
        + f'<footer><p class="note">{html.escape(footer)}</p></footer><script>{SORT_JS}</script>{scripts}</body></html>'
    )


def section(title: str, *parts: str) -> str:
    """A titled section of a page."""
    return f"<section><h2>{html.escape(title)}</h2>{''.join(parts)}</section>"


def grid(*parts: str) -> str:
    """Parts side by side where the page is wide enough."""
    return f'<div class="grid">{"".join(parts)}</div>'


def note(text: str) -> str:
    """A muted paragraph."""
    return f'<p class="note">{html.escape(text)}</p>'


def code(text: str) -> str:
    """Preformatted text."""
    return f"<pre>{html.escape(text)}</pre>"


def link(parts: Sequence[str], text: str) -> Html:
    """A link to a file below the page's folder: the relative path ``./part/part``, each part
    URL-quoted, so no name becomes a scheme (``javascript:``), a host or a query."""
    href = "./" + "/".join(urllib.parse.quote(part, safe="") for part in parts)
    return Html(f'<a href="{html.escape(href, quote=True)}">{html.escape(text)}</a>')
