"""The interactive part of a report page: what the charts show, as a bounded data payload, and the
page's script that draws them with Plotly (its ``plotly.min.js`` inlined, compressed).

The payload holds, per trial, its config group (the varying parameters but the seed), its seed,
status, stop reason and its last value of every reported metric, and learning curves sampled on a
grid shared by the seeds of a config (at most :data:`MAX_POINTS` points per trial and metric, fewer
when there are many trials and metrics: :data:`VALUE_BUDGET` values in all, float32, base64). The
page computes from it what it shows for the metric picked: mean and band (the seeds' range) per
config, every seed on request, the optimisation history, parallel coordinates, importance and
slices per parameter, and the GRPO metrics side by side.
"""

from __future__ import annotations

import base64
import functools
import gzip
import html
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from radas.experiment import _figures

# the config columns that are a seed: seeds of one config are aggregated, never a parameter
SEED_COLUMNS = _figures.SEED_COLUMNS
# float32 curve values a page holds at most (4 bytes, base64: about 5.3 characters each)
VALUE_BUDGET = 150_000
# points per trial and metric: at most, and at least (then fewer trials get curves)
MAX_POINTS = 300
MIN_POINTS = 20
# metrics a page offers at most (the sweep's own first)
MAX_METRICS = 40
# the metrics of a GRPO sweep (radas.grpo's names) the GRPO section shows side by side
GRPO_METRICS = ("reward_mean", "kl", "entropy", "completion_length", "completion_clipped_ratio")
# ... when at least this many of them were reported
GRPO_MIN = 3
# a metric whose name says lower is better (the page's default "best" for metrics but the sweep's)
_LOWER_IS_BETTER = re.compile(r"loss|error|kl|perplexity|regret|latency|time|clipped|length", re.IGNORECASE)
# columns of the trials DataFrame that are neither metric nor parameter
_NOT_METRICS = _figures.NOT_METRICS | {"trial_path", "config", "stop_reason"}


@dataclass
class Payload:
    """What the charts of a page show, ready for JSON."""

    data: dict[str, Any]
    grpo: bool
    stops: list[dict[str, Any]] = field(default_factory=list)  # trial, config, step, stop_reason


seed_column = _figures.seed_column
params_of = _figures.config_params


def _label(name: str) -> str:
    return name.removeprefix("config/")


def _hashable(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return "nan"
    return value if isinstance(value, (int, float, str, bool)) or value is None else repr(value)


def config_groups(trials: pd.DataFrame) -> tuple[list[str], list[int]]:
    """The label of every config (its varying parameters but the seed) and each trial's config."""
    params = params_of(trials)
    if not params:
        return ["all trials"], [0] * len(trials)
    keys = [tuple(_hashable(v) for v in row) for row in trials[params].itertuples(index=False, name=None)]
    index: dict[tuple[Any, ...], int] = {}
    labels: list[str] = []
    groups = []
    for key in keys:
        if key not in index:
            index[key] = len(labels)
            labels.append(", ".join(f"{_label(p)}={_short(v)}" for p, v in zip(params, key, strict=True)))
        groups.append(index[key])
    return labels, groups


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def metrics_of(trials: pd.DataFrame, history: pd.DataFrame, metric: str | None) -> list[str]:
    """Every numeric metric the trials reported that varies (the sweep's ``metric`` first)."""
    source = history if not history.empty else trials
    found = []
    for column in source.columns:
        name = str(column)
        if name in _NOT_METRICS or name.startswith("config/") or name in SEED_COLUMNS:
            continue
        series = source[column]
        if not pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
            continue
        values = pd.to_numeric(series, errors="coerce")
        if values.notna().any() and values.nunique() > 1:
            found.append(name)
    if metric in found:
        found.remove(metric)
        found.insert(0, metric)
    return found[:MAX_METRICS]


def _f32(values: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(values, dtype="<f4").tobytes()).decode()


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _plain(value: Any) -> Any:
    value = _hashable(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def build(trials: pd.DataFrame, history: pd.DataFrame, metric: str | None, mode: str | None) -> Payload | None:
    """The payload of a page's charts (None when no trial reported a metric)."""
    if trials.empty or "trial_id" not in trials.columns:
        return None
    trials = trials.reset_index(drop=True)
    metrics = metrics_of(trials, history, metric)
    if not metrics:
        return None
    params = params_of(trials)
    seed = seed_column(trials)
    labels, groups = config_groups(trials)
    ids = [str(t) for t in trials["trial_id"]]
    stops = trials["stop_reason"] if "stop_reason" in trials.columns else pd.Series([None] * len(trials))
    last: dict[str, list[float | None]] = {
        m: [_number(v) for v in pd.to_numeric(trials[m], errors="coerce")] if m in trials.columns
        else [None] * len(trials) for m in metrics}
    x = _figures.step_column(history)
    curves = _curves(history, x, metrics, ids, groups, len(labels), metric, mode, last) \
        if x is not None and _figures.is_iterative(history) else None
    data: dict[str, Any] = {
        "metric": metrics[0], "mode": mode if mode in ("min", "max") else None,
        "sweepMetric": metric if metric in metrics else None,
        "metrics": metrics,
        "lowerIsBetter": [bool(_LOWER_IS_BETTER.search(m)) for m in metrics],
        "params": [{"name": _label(p), **_kind(trials[p])} for p in params],
        "paramValues": [[_plain(v) for v in trials[p]] for p in params],
        "seed": _label(seed) if seed else None,
        "configs": labels,
        "trials": {"id": ids, "config": groups,
                   "seed": [_plain(v) for v in trials[seed]] if seed else None,
                   "status": [str(s) for s in trials.get("status", pd.Series(["?"] * len(trials)))],
                   "stop": [str(s) if isinstance(s, str) and s else None for s in stops]},
        "last": last,
        "curves": curves,
        "grpo": [m for m in GRPO_METRICS if m in metrics],
    }
    grpo = len(data["grpo"]) >= GRPO_MIN
    if not grpo:
        data["grpo"] = []
    stopped = []
    step = x if x is not None and x in trials.columns else None
    for i, reason in enumerate(data["trials"]["stop"]):
        if reason:
            stopped.append({"trial": ids[i], "config": labels[groups[i]],
                            "seed": data["trials"]["seed"][i] if seed else None,
                            "step": _plain(trials[step].iloc[i]) if step else None, "stop_reason": reason})
    return Payload(data, grpo, stopped)


def _kind(values: pd.Series) -> dict[str, Any]:
    """How a parameter is shown: ``log`` / ``linear`` numbers, or ``cat`` with its categories."""
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
        finite = numbers[np.isfinite(numbers)]
        if len(finite) == len(numbers) and len(finite):
            low, high = float(finite.min()), float(finite.max())
            return {"kind": "log" if low > 0 and high / low >= 100 else "linear"}
    categories = sorted({str(_hashable(v)) for v in values}, key=_natural)
    return {"kind": "cat", "categories": categories}


def _natural(text: str) -> tuple[int, float, str]:
    try:
        number = float(text)
    except ValueError:
        return (1, 0.0, text)
    return (0, number, text) if not math.isnan(number) else (1, 0.0, text)


def _curves(history: pd.DataFrame, x: str, metrics: list[str], ids: list[str], groups: list[int], n_configs: int,
            metric: str | None, mode: str | None, last: Mapping[str, list[float | None]]) -> dict[str, Any]:
    """Each config's grid (its trials' steps, sampled evenly) and every trial's values on it, per
    metric; whole configs, best first, until :data:`VALUE_BUDGET` is spent at :data:`MIN_POINTS`."""
    have = [m for m in metrics if m in history.columns]
    rows = history[["trial_id", x, *have]].copy()
    rows["trial_id"] = rows["trial_id"].astype(str)
    for column in (x, *have):
        rows[column] = pd.to_numeric(rows[column], errors="coerce")
    rows = rows.dropna(subset=[x]).drop_duplicates(["trial_id", x], keep="last")
    # per trial: its steps and its values of every metric (a row per step)
    codes, names = pd.factorize(rows["trial_id"])
    by_code = np.argsort(codes, kind="stable")
    bounds = np.flatnonzero(np.diff(codes[by_code])) + 1
    steps_of = np.split(rows[x].to_numpy(dtype=float)[by_code], bounds)
    values_of = np.split(rows[have].to_numpy(dtype=float)[by_code], bounds)
    by_trial = {str(names[codes[by_code[i]]]): (steps_of[k], values_of[k])
                for k, i in enumerate([0, *bounds]) if len(by_code)}
    members: list[list[int]] = [[] for _ in range(n_configs)]
    for i, group in enumerate(groups):
        if ids[i] in by_trial:
            members[group].append(i)
    order = _best_configs(members, metric, mode, last)
    longest = max((len(v[0]) for v in by_trial.values()), default=1)
    with_curves = sum(len(members[g]) for g in order)
    per = int(VALUE_BUDGET / max(with_curves * max(len(have), 1), 1))
    points = max(MIN_POINTS, min(MAX_POINTS, per, longest))
    budget_trials = max(1, VALUE_BUDGET // (points * max(len(have), 1)))
    kept: list[int] = []
    used = 0
    for group in order:
        if used and used + len(members[group]) > budget_trials:
            continue
        kept.append(group)
        used += len(members[group])
    kept.sort()
    grids: list[str] = []
    counts: list[int] = []
    config_trials: list[list[int]] = []
    blocks: dict[str, list[np.ndarray]] = {m: [] for m in have}
    for group in kept:
        frames = [by_trial[ids[i]] for i in members[group]]
        steps = np.unique(np.concatenate([own_steps for own_steps, _ in frames]))
        if len(steps) > points:
            steps = steps[np.unique(np.round(np.linspace(0, len(steps) - 1, points)).astype(int))]
        grids.append(_f32(steps))
        counts.append(len(steps))
        config_trials.append(members[group])
        for own_steps, values in frames:
            on_grid = np.full((len(steps), len(have)), np.nan)
            at = np.searchsorted(steps, own_steps).clip(0, len(steps) - 1)
            hit = steps[at] == own_steps
            on_grid[at[hit]] = values[hit]
            for j, m in enumerate(have):
                blocks[m].append(on_grid[:, j])
    return {"x": x, "configs": kept, "trials": config_trials, "points": counts, "grid": grids,
            "values": {m: _f32(np.concatenate(blocks[m]) if blocks[m] else np.zeros(0)) for m in have},
            "shown": used, "of": sum(len(m) for m in members)}


def _best_configs(members: list[list[int]], metric: str | None, mode: str | None,
                  last: Mapping[str, list[float | None]]) -> list[int]:
    """The configs with curves, best first by the mean of their trials' last ``metric``."""
    values = last.get(metric or "", [])
    if not values or mode not in ("min", "max"):
        return [g for g, m in enumerate(members) if m]
    sign = -1.0 if mode == "max" else 1.0

    def key(group: int) -> float:
        finite = [v for i in members[group] if (v := values[i]) is not None]
        return sign * (sum(finite) / len(finite)) if finite else math.inf
    return sorted((g for g, m in enumerate(members) if m), key=key)


@functools.lru_cache(maxsize=1)
def plotly_js() -> str:
    """Plotly's ``plotly.min.js`` (from the ``plotly`` package), gzipped and base64-encoded."""
    from importlib import resources

    raw = resources.files("plotly").joinpath("package_data/plotly.min.js").read_bytes()
    return base64.b64encode(gzip.compress(raw, compresslevel=9, mtime=0)).decode()


def plotly_version() -> str:
    """The version of the plotly.js the page inlines."""
    from importlib import resources

    head = resources.files("plotly").joinpath("package_data/plotly.min.js").open("rb").read(200).decode()
    found = re.search(r"plotly\.js v([\w.\-]+)", head)
    return found.group(1) if found else "?"


def _json(value: Any) -> str:
    """JSON that is safe inside a ``<script>`` element."""
    text = json.dumps(value, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def charts_section(payload: Payload) -> str:
    """The charts: the metric picker and the views; their data and script come with :func:`scripts`."""
    d = payload.data
    curves = d["curves"]
    options = "".join(f'<option value="{i}">{html.escape(m)}</option>' for i, m in enumerate(d["metrics"]))
    seeds = ""
    if curves is not None:
        seeds = ('<label><input type="checkbox" id="every-seed"> every seed</label>' if d["seed"] or any(
            len(t) > 1 for t in curves["trials"]) else "")
    note = ""
    if curves is not None and curves["shown"] < curves["of"]:
        note = (f'<p class="note">Learning curves of {curves["shown"]} of {curves["of"]} trials (the best '
                "configs, whole) keep the page small; every trial is in the table and the other views.</p>")
    views = []
    if curves is not None:
        views.append(_chart("curves", "Learning curves: mean and range of the seeds per config (click a "
                            "legend entry to hide it, double-click to show it alone)", wide=True))
    views.append(_chart("history", "Optimisation history: each trial's last value, in the order trials "
                        "started, and the best so far"))
    if d["params"]:
        views.append(_chart("importance", "Parameter importance: the share of the variance of the config means "
                            "each parameter explains alone (seeds left out)"))
        views.append(_chart("parallel", "Parallel coordinates: one line per config (mean over seeds), coloured "
                            "by the metric; drag along an axis to filter", wide=True))
        views.append(_chart("slice", "Slices: the metric against each parameter, one point per trial", wide=True))
    toolbar = (f'<div class="toolbar"><label>Metric <select id="metric">{options}</select></label>'
               '<label>best is <select id="best"><option value="max">max</option><option value="min">min'
               f"</option></select></label>{seeds}</div>")
    return (f'<section id="charts"><h2>Charts</h2>{toolbar}{note}<div class="charts">{"".join(views)}</div>'
            "</section>")


def _chart(name: str, caption: str, wide: bool = False) -> str:
    return (f'<figure id="figure-{name}" class="chart{" wide" if wide else ""}"><div id="chart-{name}" class="plot">'
            "</div>"
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def grpo_section(payload: Payload, samples: Sequence[Mapping[str, Any]] = ()) -> str:
    """The GRPO section: its metrics per config side by side and why trials stopped (when at
    least :data:`GRPO_MIN` of :data:`GRPO_METRICS` vary), and sample completions (when any were
    kept); nothing when neither."""
    from radas.experiment import _page

    if not payload.grpo and not samples:
        return ""
    parts = []
    if payload.grpo:
        parts.append(_chart("grpo", "GRPO metrics per config: mean and range of the seeds", wide=True))
        if payload.stops:
            columns = ["trial", "config", "seed", "step", "stop_reason"]
            parts.append(f"<h3>Stopped early ({len(payload.stops)})</h3>"
                         + _page.table(payload.stops, [c for c in columns if any(s.get(c) is not None
                                                                                  for s in payload.stops)], "stops"))
        else:
            parts.append(_page.note("No trial was stopped early (no stop_reason was reported)."))
    parts.append(samples_section(samples))
    return f'<section id="grpo"><h2>GRPO</h2>{"".join(parts)}</section>'


def samples_section(samples: Sequence[Mapping[str, Any]]) -> str:
    """Sample completions (trial, step, prompt, completion, reward...) as a table; nothing when
    there are none (``Report.samples``)."""
    from radas.experiment import _page

    if not samples:
        return ""
    columns = list(dict.fromkeys(k for s in samples for k in s))
    return (f'<div id="grpo-samples"><h3>Sample completions ({len(samples)})</h3>'
            + _page.table(samples, columns, "samples") + "</div>")


def scripts(payload: Payload) -> str:
    """The page's data, Plotly (inlined, compressed) and the script that draws the charts."""
    return (f'<script type="application/json" id="radas-data">{_json(payload.data)}</script>'
            f'<script type="application/octet-stream" id="radas-plotly" data-version="{plotly_version()}">'
            f"{plotly_js()}</script><script>{CHARTS_JS}</script>")


CHARTS_JS = r"""
(function () {
"use strict";
var D = JSON.parse(document.getElementById("radas-data").textContent);
var PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
  "#bcbd22", "#17becf", "#393b79", "#e6550d", "#31a354", "#ad494a", "#756bb1", "#8c6d31", "#de9ed6",
  "#636363", "#637939", "#3182bd"];
var CONFIG = {displaylogo: false, responsive: true, modeBarButtonsToRemove: ["select2d", "lasso2d"]};
var state = {metric: 0, best: "max", seeds: false};
window.radas = {ready: false, drawn: {}, data: D, state: state};

function f32(b64) {
  var bin = atob(b64), bytes = new Uint8Array(bin.length);
  for (var i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return new Float32Array(bytes.buffer);
}
function fmt(v) { return v === null || v === undefined || isNaN(v) ? "" : (+v).toPrecision(4).replace(/\.?0+(e|$)/,
    "$1"); }
function color(i, alpha) {
  var c = PALETTE[i % PALETTE.length];
  if (alpha === undefined) return c;
  var n = parseInt(c.slice(1), 16);
  return "rgba(" + (n >> 16) + "," + ((n >> 8) & 255) + "," + (n & 255) + "," + alpha + ")";
}
function esc(s) { return String(s).replace(/[&<>"]/g, function (c) { return {"&": "&amp;", "<": "&lt;", ">": "&gt;",
    '"': "&quot;"}[c]; }); }
function metricName() { return D.metrics[state.metric]; }
function bestIsMax() { return state.best === "max"; }
function seedText(i) { return D.seed && D.trials.seed ? ", " + D.seed + "=" + D.trials.seed[i] : ""; }

// the curves of one metric: per config its grid, every trial's values, mean, low, high, count
var curveCache = {};
function curvesOf(metric) {
  if (curveCache[metric]) return curveCache[metric];
  var C = D.curves, raw = C && C.values[metric] ? f32(C.values[metric]) : null, out = [], at = 0;
  if (!raw) return (curveCache[metric] = null);
  for (var k = 0; k < C.configs.length; k++) {
    var grid = Array.from(f32(C.grid[k])), n = grid.length, members = C.trials[k], rows = [];
    for (var t = 0; t < members.length; t++) { rows.push(raw.subarray(at, at + n)); at += n; }
    var mean = [], low = [], high = [], count = [];
    for (var p = 0; p < n; p++) {
      var s = 0, c = 0, lo = Infinity, hi = -Infinity;
      for (var r = 0; r < rows.length; r++) {
        var v = rows[r][p];
        if (!isNaN(v)) { s += v; c++; if (v < lo) lo = v; if (v > hi) hi = v; }
      }
      mean.push(c ? s / c : null); low.push(c ? lo : null); high.push(c ? hi : null); count.push(c);
    }
    out.push({config: C.configs[k], grid: grid, members: members, rows: rows, mean: mean, low: low, high: high,
        count: count});
  }
  return (curveCache[metric] = out);
}

// traces of mean, band and (state.seeds) every seed per config, on axes xa/ya
function curveTraces(metric, xa, ya, legend) {
  var groups = curvesOf(metric), traces = [];
  if (!groups) return traces;
  groups.forEach(function (g) {
    var label = D.configs[g.config], col = color(g.config), lg = "c" + g.config, seeds = g.members.length;
    var bx = [], by = [];
    for (var p = 0; p < g.grid.length; p++) if (g.high[p] !== null) { bx.push(g.grid[p]); by.push(g.high[p]); }
    for (p = g.grid.length - 1; p >= 0; p--) if (g.low[p] !== null) { bx.push(g.grid[p]); by.push(g.low[p]); }
    if (seeds > 1 && !state.seeds) traces.push({type: "scatter", mode: "lines", x: bx, y: by, fill: "toself",
      fillcolor: color(g.config, 0.15), line: {width: 0}, hoverinfo: "skip", showlegend: false, legendgroup: lg,
      xaxis: xa, yaxis: ya, name: label + " range"});
    if (state.seeds) {
      var sx = [], sy = [], sd = [];
      g.rows.forEach(function (row, r) {
        var trial = g.members[r];
        for (var p = 0; p < g.grid.length; p++) {
          sx.push(g.grid[p]); sy.push(isNaN(row[p]) ? null : row[p]); sd.push(D.trials.id[trial] + seedText(trial));
        }
        sx.push(null); sy.push(null); sd.push("");
      });
      traces.push({type: "scatter", mode: "lines", x: sx, y: sy, customdata: sd, line: {color: color(g.config,
          0.45), width: 1},
        showlegend: false, legendgroup: lg, xaxis: xa, yaxis: ya, name: label + " seeds",
        hovertemplate: "trial %{customdata}<br>" + esc(label) + "<br>" + esc(D.curves.x) + " %{x}<br>" +
            esc(metric) + " %{y:.4g}<extra></extra>"});
    }
    var cd = g.mean.map(function (m, p) { return [g.count[p], fmt(g.low[p]), fmt(g.high[p])]; });
    traces.push({type: "scatter", mode: "lines", x: g.grid, y: g.mean, customdata: cd, name: label, legendgroup: lg,
      showlegend: legend, line: {color: col, width: 2}, xaxis: xa, yaxis: ya,
      hovertemplate: "<b>" + esc(label) + "</b><br>" + (seeds > 1 ? "mean of %{customdata[0]} seeds" : "trial " +
          esc(D.trials.id[g.members[0]])) +
        "<br>" + esc(D.curves.x) + " %{x}<br>" + esc(metric) + " %{y:.4g}" +
            (seeds > 1 ? " (range %{customdata[1]} to %{customdata[2]})" : "") + "<extra></extra>"});
  });
  return traces;
}

function layout(extra) {
  var base = {margin: {l: 60, r: 20, t: 30, b: 50}, hovermode: "closest", font: {size: 12},
    legend: {font: {size: 11}, itemclick: "toggle", itemdoubleclick: "toggleothers"}, height: 420};
  for (var k in extra) base[k] = extra[k];
  return base;
}

function draw(name, traces, lay) {
  var div = document.getElementById("chart-" + name);
  if (!div) return Promise.resolve();
  return Plotly.react(div, traces, lay, CONFIG).then(function () { window.radas.drawn[name] = true; });
}

var views = {
  curves: function () {
    var m = metricName();
    return draw("curves", curveTraces(m, "x", "y", true), layout({height: 480,
      xaxis: {title: {text: D.curves.x}}, yaxis: {title: {text: m}}, legend: {title: {text: "config"}}}));
  },
  history: function () {
    var m = metricName(), ys = D.last[m], xs = [], y = [], text = [], best = [], bestText = [], cur = null, who = "";
    for (var i = 0; i < ys.length; i++) {
      xs.push(i + 1); y.push(ys[i]);
      text.push(D.trials.id[i] + "<br>" + esc(D.configs[D.trials.config[i]]) + seedText(i));
      if (ys[i] !== null && (cur === null || (bestIsMax() ? ys[i] > cur : ys[i] < cur))) {
        cur = ys[i]; who = D.trials.id[i];
      }
      best.push(cur); bestText.push(who);
    }
    return draw("history", [
      {type: "scatter", mode: "markers", x: xs, y: y, text: text, name: "trial", marker: {size: 6, color: "#4c72b0",
          opacity: 0.7},
        hovertemplate: "trial %{text}<br>#%{x}: " + esc(m) + " %{y:.4g}<extra></extra>"},
      {type: "scatter", mode: "lines", x: xs, y: best, text: bestText, name: "best so far (" + state.best + ")",
        line: {shape: "hv", color: "#c44e52", width: 2},
            hovertemplate: "best so far after %{x} trials: %{y:.4g} (trial %{text})<extra></extra>"}
    ], layout({xaxis: {title: {text: "trial, in the order they started"}}, yaxis: {title: {text: m}},
      legend: {orientation: "h", y: 1.12}}));
  },
  importance: function () {
    var m = metricName(), scores = importance(m);
    var order = scores.map(function (s, i) { return i; }).sort(function (a, b) { return scores[a] - scores[b]; });
    return draw("importance", [{type: "bar", orientation: "h", x: order.map(function (i) { return scores[i]; }),
      y: order.map(function (i) { return D.params[i].name; }), marker: {color: "#4c72b0"},
      text: order.map(function (i) { return scores[i].toFixed(2); }), textposition: "outside",
      hovertemplate: "%{y}: explains %{x:.1%} of the variance of " + esc(m) + " alone<extra></extra>"}],
      layout({height: 120 + 40 * D.params.length,
          xaxis: {title: {text: "share of the variance of the config means of " + m}, range: [0, 1.15]},
        margin: {l: 120, r: 20, t: 20, b: 50}}));
  },
  parallel: function () {
    var m = metricName(), rows = configMeans(m), dims = D.params.map(function (p, j) { return axis(p, j, rows); });
    var values = rows.map(function (r) { return r.value; });
    dims.push({label: m, values: values});
    return draw("parallel", [{type: "parcoords", dimensions: dims, labelangle: 0,
      line: {color: values, colorscale: "Viridis", reversescale: !bestIsMax(), showscale: true,
          colorbar: {title: {text: m}}}}],
      layout({height: 440, margin: {l: 80, r: 80, t: 60, b: 30}}));
  },
  slice: function () {
    var m = metricName(), n = D.params.length, traces = [], lay = layout({height: 360, showlegend: false,
      grid: {rows: 1, columns: n, pattern: "independent"}, yaxis: {title: {text: m}}});
    D.params.forEach(function (p, j) {
      var x = [], y = [], text = [], values = D.paramValues[j];
      for (var i = 0; i < values.length; i++) {
        if (D.last[m][i] === null) continue;
        x.push(p.kind === "cat" ? String(values[i]) : values[i]); y.push(D.last[m][i]);
        text.push(D.trials.id[i] + "<br>" + esc(D.configs[D.trials.config[i]]) + seedText(i));
      }
      var suffix = j ? String(j + 1) : "";
      traces.push({type: "scatter", mode: "markers", x: x, y: y, text: text, xaxis: "x" + suffix, yaxis: "y" + suffix,
        marker: {size: 6, opacity: 0.6, color: color(j)}, name: p.name,
        hovertemplate: "trial %{text}<br>" + esc(p.name) + " %{x}<br>" + esc(m) + " %{y:.4g}<extra></extra>"});
      var ax = {title: {text: p.name}};
      if (p.kind === "log") ax.type = "log";
      if (p.kind === "cat") { ax.type = "category"; ax.categoryorder = "array"; ax.categoryarray = p.categories; }
      lay["xaxis" + suffix] = ax;
      if (j) lay["yaxis" + suffix] = {matches: "y"};
    });
    return draw("slice", traces, lay);
  },
  grpo: function () {
    var names = D.grpo, cols = Math.min(3, names.length), rows = Math.ceil(names.length / cols), traces = [];
    var lay = layout({height: 300 * rows, grid: {rows: rows, columns: cols, pattern: "independent"},
      legend: {title: {text: "config"}}, annotations: []});
    names.forEach(function (name, j) {
      var suffix = j ? String(j + 1) : "";
      traces = traces.concat(curveTraces(name, "x" + suffix, "y" + suffix, j === 0));
      lay["xaxis" + suffix] = {title: {text: D.curves.x}};
      lay["yaxis" + suffix] = {title: {text: name}};
    });
    return draw("grpo", traces, lay);
  }
};

// the trials' last value of metric m, averaged per config (the seeds), with each config's parameter values
function configMeans(m) {
  var sums = {}, counts = {}, first = {};
  for (var i = 0; i < D.trials.id.length; i++) {
    var c = D.trials.config[i], v = D.last[m][i];
    if (!(c in first)) first[c] = i;
    if (v === null) continue;
    sums[c] = (sums[c] || 0) + v; counts[c] = (counts[c] || 0) + 1;
  }
  return Object.keys(counts).map(function (c) { return {config: +c, trial: first[c], value: sums[c] / counts[c]}; });
}

function axis(p, j, rows) {
  var raw = rows.map(function (r) { return D.paramValues[j][r.trial]; });
  if (p.kind === "cat") {
    return {label: p.name, values: raw.map(function (v) { return p.categories.indexOf(String(v)); }),
      tickvals: p.categories.map(function (c, k) { return k; }), ticktext: p.categories};
  }
  if (p.kind === "log") {
    var logs = raw.map(function (v) { return Math.log10(v); }), lo = Math.floor(Math.min.apply(null, logs)),
        hi = Math.ceil(Math.max.apply(null, logs)), tv = [];
    for (var e = lo; e <= hi; e++) tv.push(e);
    return {label: p.name + " (log)", values: logs, tickvals: tv, ticktext: tv.map(function (e) { return "1e" + e; })};
  }
  return {label: p.name, values: raw};
}

// first-order importance: the share of the variance of the config means explained by each parameter's
// values alone (numbers with many values in ten quantile bins)
function importance(m) {
  var rows = configMeans(m), ys = rows.map(function (r) { return r.value; });
  var mean = ys.reduce(function (a, b) { return a + b; }, 0) / (ys.length || 1);
  var total = ys.reduce(function (a, y) { return a + (y - mean) * (y - mean); }, 0);
  return D.params.map(function (p, j) {
    if (!total) return 0;
    var keys = rows.map(function (r) { return D.paramValues[j][r.trial]; }), distinct = {};
    keys.forEach(function (k) { distinct[k] = 1; });
    if (p.kind !== "cat" && Object.keys(distinct).length > 10) {
      var sorted = keys.slice().sort(function (a, b) { return a - b; });
      keys = keys.map(function (k) {
        var b = 0;
        for (var q = 1; q < 10; q++) if (k >= sorted[Math.floor(q * sorted.length / 10)]) b = q;
        return b;
      });
    }
    var s = {}, c = {};
    keys.forEach(function (k, i) { s[k] = (s[k] || 0) + ys[i]; c[k] = (c[k] || 0) + 1; });
    var between = 0;
    for (var k in s) { var g = s[k] / c[k]; between += c[k] * (g - mean) * (g - mean); }
    return between / total;
  });
}

function defaultBest() {
  var m = metricName();
  if (m === D.sweepMetric && D.mode) return D.mode;
  return D.lowerIsBetter[state.metric] ? "min" : "max";
}

function redraw(names) {
  return names.reduce(function (p, name) {
    return p.then(function () { return views[name] && document.getElementById("chart-" +
        name) ? views[name]() : null; });
  }, Promise.resolve());
}

// after a frame, so that what was drawn is shown before the next view blocks the page
function later() { return new Promise(function (resolve) { requestAnimationFrame(function () { setTimeout(resolve,
    0); }); }); }

function start() {
  var pick = document.getElementById("metric"), best = document.getElementById("best"),
      seeds = document.getElementById("every-seed");
  var asked = decodeURIComponent((location.hash.match(/metric=([^&]*)/) || [])[1] || "");
  if (D.metrics.indexOf(asked) >= 0) state.metric = D.metrics.indexOf(asked);
  pick.value = String(state.metric);
  state.best = best.value = defaultBest();
  pick.addEventListener("change", function () {
    state.metric = +pick.value; state.best = best.value = defaultBest();
    history.replaceState(null, "", "#metric=" + encodeURIComponent(metricName()));
    redraw(["curves", "history", "importance", "slice", "parallel"]);
  });
  best.addEventListener("change", function () { state.best = best.value; redraw(["history", "parallel"]); });
  if (seeds) seeds.addEventListener("change", function () { state.seeds = seeds.checked; redraw(["curves", "grpo"]); });
  // what the first screen shows first, the others one after the other
  var order = ["curves", "history", "importance", "slice", "grpo", "parallel"], first = order.slice(0, 2);
  redraw(first).then(function () {
    window.radas.firstAt = performance.now();
    return order.slice(2).reduce(function (p,
        name) { return p.then(later).then(function () { return redraw([name]); }); }, Promise.resolve());
  }).then(function () {
    window.radas.ready = true;
    window.radas.readyAt = performance.now();
  });
}
window.radas.views = views;

// Plotly itself: gzipped in the page, unpacked here (nothing is fetched)
var packed = document.getElementById("radas-plotly");
if (window.Plotly || !packed) { window.radas.plotlyAt = performance.now(); start(); return; }
var text = atob(packed.textContent), bytes = new Uint8Array(text.length);
for (var i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
new Response(new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"))).text().then(function (code) {
  var script = document.createElement("script");
  script.textContent = code;
  document.head.appendChild(script);
  window.radas.plotlyAt = performance.now();
  start();
}).catch(function (e) { console.error("radas: the charts could not be drawn: " + e); });
})();
"""
