"""Interactive figures for the book's website: Vega specifications built in Python.

A chapter builds a chart here and displays it. On the website the chart runs in the reader's
browser (``book/_static/vega/ce_interactive.js`` loads the vendored Vega runtime from the site
itself, no network); in Jupyter or Colab, and in print, the chapter's static figure stands in.

**One definition of each formula.** A formula is an :class:`Expr`, a small expression tree
that renders itself as a Vega expression (the JavaScript the browser evaluates) *and* evaluates
itself in NumPy float64. The chapters and ``tests/test_interactive.py`` evaluate the very
expressions the browser runs and compare them with ``ce_lib``; ``tests/test_site.py`` moves
the sliders in headless Chromium and compares what the browser computed with ``ce_lib``.
Everything in the browser is computed stably: log-sum-exp subtracts the largest logit, the
sigmoid never exponentiates a positive number, ``log1p`` keeps its relative accuracy.

The stored HTML is deterministic (no random ids, no timestamps, no paths): nbval compares it.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .plotting import COLORS

__all__ = [
    "Chart",
    "Expr",
    "absolute",
    "bce_explorer",
    "binary_cross_entropy_of_logit",
    "datum",
    "entropy_kl_explorer",
    "exp",
    "lift",
    "log",
    "log1p",
    "logsumexp",
    "maximum",
    "pick",
    "sigmoid",
    "signal",
    "smoothed_cross_entropy",
    "softmax_explorer",
    "softplus",
    "temperature_smoothing_explorer",
    "where",
]

Env = Mapping[str, Any]


class Expr:
    """A formula that is both a Vega expression (:attr:`js`) and a NumPy function (call it).

    Build one from :func:`signal` (a slider's value), :func:`datum` (a field of a data row),
    numbers, the arithmetic operators and the functions of this module. ``expr(**values)``
    evaluates it in float64 with the given values of the signals and fields.
    """

    __slots__ = ("_fn", "js")

    def __init__(self, js: str, fn: Callable[[Env], Any]) -> None:
        self.js = js
        self._fn = fn

    def __call__(self, **env: Any) -> np.ndarray:
        with np.errstate(all="ignore"):  # where() evaluates both branches, as NumPy does
            return np.asarray(self._fn(env), dtype=np.float64)

    def __repr__(self) -> str:
        return f"Expr({self.js!r})"

    def _binary(self, other: Any, op: str, fn: Callable[[Any, Any], Any], swap: bool) -> Expr:
        a, b = (lift(other), self) if swap else (self, lift(other))
        return Expr(f"({a.js} {op} {b.js})", lambda env: fn(a._fn(env), b._fn(env)))

    def __add__(self, other: Any) -> Expr:
        return self._binary(other, "+", np.add, False)

    def __radd__(self, other: Any) -> Expr:
        return self._binary(other, "+", np.add, True)

    def __sub__(self, other: Any) -> Expr:
        return self._binary(other, "-", np.subtract, False)

    def __rsub__(self, other: Any) -> Expr:
        return self._binary(other, "-", np.subtract, True)

    def __mul__(self, other: Any) -> Expr:
        return self._binary(other, "*", np.multiply, False)

    def __rmul__(self, other: Any) -> Expr:
        return self._binary(other, "*", np.multiply, True)

    def __truediv__(self, other: Any) -> Expr:
        return self._binary(other, "/", np.divide, False)

    def __rtruediv__(self, other: Any) -> Expr:
        return self._binary(other, "/", np.divide, True)

    def __neg__(self) -> Expr:
        return Expr(f"(-{self.js})", lambda env: np.negative(self._fn(env)))

    def ge(self, other: Any) -> Expr:
        """``self >= other`` as 1.0 or 0.0 (a condition for :func:`where`)."""
        return self._binary(other, ">=", lambda a, b: np.greater_equal(a, b) * 1.0, False)

    def eq(self, other: Any) -> Expr:
        """``self == other`` as 1.0 or 0.0 (a condition for :func:`where`)."""
        return self._binary(other, "==", lambda a, b: np.equal(a, b) * 1.0, False)


def lift(x: Any) -> Expr:
    """An :class:`Expr` as it is, a real number as a constant."""
    if isinstance(x, Expr):
        return x
    if isinstance(x, bool) or not isinstance(x, (int, float)) or not np.isfinite(x):
        raise TypeError(f"a formula takes Expr objects and finite real numbers, got {x!r}")
    value = float(x)
    text = repr(int(value)) if value.is_integer() else repr(value)
    return Expr(text if value >= 0 else f"({text})", lambda env: value)


def _variable(js: str, key: str) -> Expr:
    if not key.isidentifier():
        raise ValueError(f"name must be an identifier, got {key!r}")

    def get(env: Env) -> Any:
        if key not in env:
            raise KeyError(f"no value given for {key!r}")
        return np.asarray(env[key], dtype=np.float64)

    return Expr(js, get)


def signal(name: str) -> Expr:
    """The value of the chart's signal ``name`` (a slider or a toggle)."""
    return _variable(name, name)


def datum(name: str) -> Expr:
    """The field ``name`` of the current data row (``datum.name`` in Vega)."""
    return _variable(f"datum.{name}", name)


def _call(name: str, fn: Callable[..., Any], *args: Any) -> Expr:
    xs = [lift(a) for a in args]
    js = f"{name}({', '.join(x.js for x in xs)})"
    return Expr(js, lambda env: fn(*(x._fn(env) for x in xs)))


def exp(x: Any) -> Expr:
    """:math:`e^x`."""
    return _call("exp", np.exp, x)


def log(x: Any) -> Expr:
    """The natural logarithm."""
    return _call("log", np.log, x)


def absolute(x: Any) -> Expr:
    """:math:`|x|`."""
    return _call("abs", np.abs, x)


def maximum(*xs: Any) -> Expr:
    """The largest of the arguments (elementwise)."""
    if not xs:
        raise ValueError("maximum needs at least one argument")
    return _call("max", lambda *a: np.maximum.reduce(np.broadcast_arrays(*a)), *xs)


def where(condition: Expr, if_true: Any, if_false: Any) -> Expr:
    """``condition ? if_true : if_false``."""
    c, a, b = lift(condition), lift(if_true), lift(if_false)
    return Expr(
        f"({c.js} ? {a.js} : {b.js})",
        lambda env: np.where(c._fn(env) != 0, a._fn(env), b._fn(env)),
    )


def pick(xs: Sequence[Any], index: Any) -> Expr:
    """Element ``index`` (0-based) of a list of formulas: ``[x0, x1, ...][index]``."""
    items, i = [lift(x) for x in xs], lift(index)
    if not items:
        raise ValueError("pick needs at least one item")

    def fn(env: Env) -> Any:
        values = np.broadcast_arrays(*(x._fn(env) for x in items))
        return np.choose(np.asarray(i._fn(env)).astype(np.intp), values)

    return Expr(f"[{', '.join(x.js for x in items)}][{i.js}]", fn)


# ---------------------------------------------------------------------------------------------
# The formulas: each written once, evaluated by the browser and by NumPy alike.


def log1p(x: Any) -> Expr:
    r""":math:`\log(1 + x)`, accurate for tiny :math:`x` (Vega has no ``log1p``).

    Goldberg's trick: with :math:`u = 1 \oplus x`, :math:`\log(u) \cdot x / (u - 1)` cancels the
    rounding of :math:`u` to first order, so the result keeps a relative error of a few ulp.
    """
    x = lift(x)
    u = 1 + x
    return where(u.eq(1), x, log(u) * x / (u - 1))


def softplus(x: Any) -> Expr:
    r""":math:`\log(1 + e^x) = \max(x, 0) + \log(1 + e^{-|x|})`: never overflows."""
    x = lift(x)
    return maximum(x, 0) + log1p(exp(-absolute(x)))


def sigmoid(x: Any) -> Expr:
    r""":math:`\sigma(x) = 1 / (1 + e^{-x})`, exponentiating only non-positive numbers."""
    x = lift(x)
    e = exp(-absolute(x))
    return where(x.ge(0), 1 / (1 + e), e / (1 + e))


def logsumexp(xs: Sequence[Any]) -> Expr:
    r""":math:`\log \sum_i e^{x_i} = m + \log \sum_i e^{x_i - m}` with :math:`m = \max_i x_i`."""
    items = [lift(x) for x in xs]
    if not items:
        raise ValueError("logsumexp needs at least one term")
    m = maximum(*items)
    total = exp(items[0] - m)
    for x in items[1:]:
        total = total + exp(x - m)
    return m + log(total)


def binary_cross_entropy_of_logit(z: Any, t: Any) -> Expr:
    r"""Binary cross entropy from the logit: :math:`\log(1 + e^z) - t z`.

    Written as :math:`(\max(z, 0) - t z) + \log(1 + e^{-|z|})`, the form PyTorch uses: for a
    right and confident logit the first bracket is exactly 0 and the small loss keeps its
    relative accuracy (``softplus(z) - t z`` would cancel).
    """
    z = lift(z)
    return (maximum(z, 0) - z * t) + log1p(exp(-absolute(z)))


def smoothed_cross_entropy(logits: Sequence[Any], target: Any, smoothing: Any) -> Expr:
    r"""Softmax cross entropy of class ``target`` with label smoothing :math:`\varepsilon`.

    :math:`-\sum_c y^{LS}_c \log p_c = \operatorname{logsumexp}(z) - (1 - \varepsilon) z_y -
    \frac{\varepsilon}{C} \sum_c z_c`, since :math:`-\log p_c = \operatorname{logsumexp}(z) -
    z_c` and the weights :math:`y^{LS}` sum to one. ``smoothing=0`` gives the plain loss.
    """
    zs = [lift(z) for z in logits]
    eps = lift(smoothing)
    total = zs[0]
    for z in zs[1:]:
        total = total + z
    return logsumexp(zs) - (1 - eps) * pick(zs, target) - eps / len(zs) * total


def _xlogx(x: Any) -> Expr:
    """:math:`x \\log x`, with the limit 0 at :math:`x = 0` (JavaScript gives 0 * -Infinity = NaN)."""
    x = lift(x)
    return where(x.ge(1e-300), x * log(maximum(x, 1e-300)), 0)


# ---------------------------------------------------------------------------------------------
# Charts


@dataclass
class Chart:
    """A Vega specification, the formulas it computes, and its HTML for a notebook output.

    ``formulas`` maps ``"<dataset>.<field>"`` to the :class:`Expr` of each computed field, so
    that a chapter or a test can evaluate exactly what the browser evaluates. ``static_figure``
    is the label of the chapter's static figure: on the website the chart takes its place (and
    the figure's caption), in print and without JavaScript the static figure shows.
    """

    name: str
    title: str
    static_figure: str
    spec: dict[str, Any]
    formulas: dict[str, Expr] = field(default_factory=dict)

    @property
    def defaults(self) -> dict[str, float]:
        """The starting value of every signal (slider, toggle) of the chart."""
        return {s["name"]: s["value"] for s in self.spec["signals"]}

    def columns(self, dataset: str) -> dict[str, np.ndarray]:
        """The input columns of a data set as Vega builds them (its grid, or its rows)."""
        entry = next((d for d in self.spec["data"] if d["name"] == dataset), None)
        if entry is None:
            raise KeyError(f"no data set {dataset!r} in chart {self.name!r}")
        source = entry["transform"][0]
        if source["type"] == "sequence":  # d3.range: start + i * step, stop excluded
            start, stop, step = source["start"], source["stop"], source["step"]
            n = max(0, int(np.ceil((stop - start) / step)))
            return {source["as"]: start + np.arange(n) * step}
        keys = sorted({k for row in entry["values"] for k in row})
        return {k: np.array([row[k] for row in entry["values"]], dtype=np.float64) for k in keys}

    def evaluate(self, key: str, **signals: float) -> np.ndarray:
        """Evaluate the formula of ``"<dataset>.<field>"`` in NumPy, as the browser does.

        Signals not given keep their starting values; the data set's grid or rows supply the
        ``datum`` fields.
        """
        if key not in self.formulas:
            raise KeyError(f"no formula {key!r} in chart {self.name!r}")
        unknown = set(signals) - set(self.defaults)
        if unknown:
            raise ValueError(f"chart {self.name!r} has no signal {sorted(unknown)}")
        env = {**self.defaults, **signals, **self.columns(key.split(".")[0])}
        return self.formulas[key](**env)

    def to_json(self) -> str:
        """The Vega specification as compact JSON, safe inside an HTML ``<script>`` element."""
        text = json.dumps(self.spec, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")

    def _repr_html_(self) -> str:
        name, figure = html.escape(self.name), html.escape(self.static_figure)
        return (
            f'<div class="ce-interactive" id="ce-{name}" data-ce-static="{figure}">\n'
            f'<p class="ce-interactive-fallback">Interactive figure: {html.escape(self.title)}. '
            "It runs in the browser on the book's website; here the static figure "
            "stands in for it.</p>\n"
            f'<script type="application/json" class="ce-interactive-spec">{self.to_json()}'
            "</script>\n</div>"
        )

    def __repr__(self) -> str:
        return f"Chart({self.name!r})"


class _Builder:
    """Collects a spec's data sets and records the formula behind every computed field."""

    def __init__(self) -> None:
        self.data: list[dict[str, Any]] = []
        self.formulas: dict[str, Expr] = {}

    def dataset(
        self, name: str, fields: Mapping[str, Expr], source: dict[str, Any] | None = None
    ) -> None:
        transforms = [source] if source else []
        for key, expr in fields.items():
            transforms.append({"type": "formula", "as": key, "expr": expr.js})
            self.formulas[f"{name}.{key}"] = expr
        entry: dict[str, Any] = {"name": name}
        if not source:
            entry["values"] = [{}]
        entry["transform"] = transforms
        self.data.append(entry)


def _grid(var: str, start: float, stop: float, step: float) -> dict[str, Any]:
    # stop is exclusive in Vega's sequence: add half a step to include it
    return {"type": "sequence", "start": start, "stop": stop + step / 2, "step": step, "as": var}


def _slider(name: str, label: str, value: float, lo: float, hi: float, step: float) -> dict:
    return {
        "name": name,
        "value": float(value),
        "bind": {"input": "range", "min": lo, "max": hi, "step": step, "name": label},
    }


def _choice(name: str, label: str, value: int, options: list[int], labels: list[str]) -> dict:
    return {
        "name": name,
        "value": value,
        "bind": {"input": "radio", "options": options, "labels": labels, "name": label},
    }


def _config() -> dict[str, Any]:
    """Text and axes in the page's own text colour: readable in light and in dark mode."""
    ink = "currentColor"
    return {
        "axis": {
            "labelColor": ink,
            "titleColor": ink,
            "domainColor": ink,
            "tickColor": ink,
            "gridColor": ink,
            "gridOpacity": 0.12,
            "labelFontSize": 11,
            "titleFontSize": 12,
            "titleFontWeight": "normal",
        },
        "text": {"fill": ink, "fontSize": 12},
        "title": {"color": ink},
    }


def _spec(
    description: str,
    width: float,
    height: float,
    signals: list[dict],
    builder: _Builder,
    scales: list[dict],
    marks: list[dict],
) -> dict[str, Any]:
    return {
        "description": description,
        "width": width,
        "height": height,
        "padding": 8,
        "autosize": "pad",
        "config": _config(),
        "signals": signals,
        "data": builder.data,
        "scales": scales,
        "marks": marks,
    }


def _linear(name: str, domain: list[float], range_: list[float], **extra: Any) -> dict:
    return {"name": name, "type": "linear", "domain": domain, "range": range_, "zero": False,
            "nice": False, **extra}


def _axis(scale: str, orient: str, title: str, **extra: Any) -> dict:
    return {"scale": scale, "orient": orient, "title": title, "grid": True, **extra}


def _panel(x: float, y: float, w: float, h: float, axes: list, marks: list) -> dict:
    return {
        "type": "group",
        "encode": {"enter": {"x": {"value": x}, "y": {"value": y}, "width": {"value": w},
                             "height": {"value": h}}},
        "axes": axes,
        "marks": marks,
    }


def _line(
    data: str, x: str, y: str, xs: str, ys: str, color: str, update: dict | None = None,
    **style: Any,
) -> dict:
    enter = {"stroke": {"value": color}, "strokeWidth": {"value": style.pop("width", 2)}}
    enter.update({k: {"value": v} for k, v in style.items()})
    return {
        "type": "line",
        "from": {"data": data},
        "clip": True,
        "encode": {"enter": enter, "update": {"x": {"scale": xs, "field": x},
                                               "y": {"scale": ys, "field": y},
                                               **(update or {})}},
    }


def _emphasis(condition: str) -> dict:
    """A line drawn thick and opaque when ``condition`` holds, thin and faint otherwise."""
    return {"strokeWidth": {"signal": f"{condition} ? 3 : 1.5"},
            "strokeOpacity": {"signal": f"{condition} ? 1 : 0.4"}}


def _text(data: str, expr: str, x: float, y: float, **style: Any) -> dict:
    enter = {"x": {"value": x}, "y": {"value": y}, "baseline": {"value": "top"}}
    enter.update({k: {"value": v} for k, v in style.items()})
    return {"type": "text", "from": {"data": data},
            "encode": {"enter": enter, "update": {"text": {"signal": expr}}}}


def _label(xs: str, ys: str, x: float, y: float, text: str, color: str, align: str) -> dict:
    """A fixed text at data coordinates (x, y)."""
    return {"type": "text", "encode": {"enter": {
        "x": {"scale": xs, "value": x}, "y": {"scale": ys, "value": y},
        "align": {"value": align}, "fill": {"value": color}, "text": {"value": text}}}}


def _point(data: str, x: str, y: str, xs: str, ys: str) -> dict:
    """The current position: a dot at the data set's single row."""
    return {"type": "symbol", "from": {"data": data}, "encode": {
        "enter": {"size": {"value": 90}, "fill": {"value": COLORS["reference"]}},
        "update": {"x": {"scale": xs, "field": x}, "y": {"scale": ys, "field": y}}}}


SEP = "   ·   "


def bce_explorer() -> Chart:
    """Chapter 2: binary cross entropy of a logit ``z`` and a label ``t``.

    Sliders: the logit ``z``; toggle: the label ``t``. Top panel: both branches of the loss,
    :math:`\\log(1 + e^{-z})` for :math:`t = 1` and :math:`\\log(1 + e^{z})` for :math:`t = 0`,
    the current one solid, and the current point. Bottom panel: the gradient
    :math:`\\sigma(z) - t`.
    """
    b = _Builder()
    z, t, zd = signal("z"), signal("t"), datum("z")
    b.dataset("curve", {
        "loss_t1": binary_cross_entropy_of_logit(zd, 1),
        "loss_t0": binary_cross_entropy_of_logit(zd, 0),
        "grad": sigmoid(zd) - t,
    }, _grid("z", -8, 8, 0.05))
    b.dataset("point", {
        "z": z,
        "p": sigmoid(z),
        "loss": binary_cross_entropy_of_logit(z, t),
        "grad": sigmoid(z) - t,
    })
    w = 520
    scales = [
        _linear("x", [-8, 8], [0, w]),
        _linear("yloss", [0, 8], [190, 0]),
        _linear("ygrad", [-1, 1], [100, 0]),
    ]
    on, off = COLORS["target"], COLORS["other"]
    loss_panel = _panel(0, 30, w, 190, [
        _axis("x", "bottom", "logit z"), _axis("yloss", "left", "loss (nats)"),
    ], [
        _line("curve", "z", "loss_t1", "x", "yloss", on, _emphasis("t == 1")),
        _line("curve", "z", "loss_t0", "x", "yloss", off, _emphasis("t == 0")),
        _label("x", "yloss", 7.6, 3.6, "t = 0: log(1 + e^z)", off, "right"),
        _label("x", "yloss", -7.6, 3.6, "t = 1: log(1 + e^−z)", on, "left"),
        _point("point", "z", "loss", "x", "yloss"),
    ])
    grad_panel = _panel(0, 270, w, 100, [
        _axis("x", "bottom", "logit z"),
        _axis("ygrad", "left", "σ(z) − t", tickCount=5),
    ], [
        _line("curve", "z", "grad", "x", "ygrad", COLORS["ours"]),
        _point("point", "z", "grad", "x", "ygrad"),
    ])
    readout = _text(
        "point",
        f"'p = σ(z) = ' + format(datum.p, '.4f') + '{SEP}loss = ' + format(datum.loss, '.4f')"
        f" + ' nats{SEP}gradient σ(z) − t = ' + format(datum.grad, '.4f')",
        0, 0, fontWeight="bold",
    )
    signals = [
        _slider("z", "logit z", 2, -8, 8, 0.1),
        _choice("t", "label t", 1, [0, 1], ["0 (no)", "1 (yes)"]),
    ]
    spec = _spec(
        "Binary cross entropy of a logit z and a label t: both branches of the loss, the "
        "current loss and the gradient sigma(z) - t.",
        w, 370, signals, b, scales, [readout, loss_panel, grad_panel],
    )
    return Chart("ch02-bce", "binary cross entropy of a logit", "fig-02-bce-explorer", spec,
                 b.formulas)


def _bars(data: str, x: str, y: str, xs: str, ys: str, color: dict, base: float = 0) -> dict:
    """Bars from ``base`` to the field ``y``, one per band of the field ``x``."""
    return {"type": "rect", "from": {"data": data}, "encode": {"update": {
        "x": {"scale": xs, "field": x}, "width": {"scale": xs, "band": 1},
        "y": {"scale": ys, "field": y}, "y2": {"scale": ys, "value": base}, "fill": color}}}


def _bar_labels(data: str, x: str, y: str, xs: str, ys: str, fmt: str) -> dict:
    """The value of each bar, printed above it (above the zero line for a negative bar)."""
    return {"type": "text", "from": {"data": data}, "encode": {
        "enter": {"align": {"value": "center"}, "fontSize": {"value": 11}},
        "update": {"x": {"scale": xs, "field": x, "band": 0.5},
                   "y": {"scale": ys, "signal": f"max(datum.{y}, 0)", "offset": -4},
                   "text": {"signal": f"format(datum.{y}, '{fmt}')"}}}}


def _band(name: str, n: int, width: float) -> dict:
    return {"name": name, "type": "band", "domain": list(range(n)), "range": [0, width],
            "padding": 0.25}


def softmax_explorer(logits: Sequence[float] = (2.0, 1.0, 0.1, -1.0, 0.5)) -> Chart:
    """Chapter 3: softmax, the loss of a chosen class and the gradient :math:`p - y`.

    One slider per logit :math:`z_c` (classes ``0..C-1``) and a choice of the target class
    :math:`y`. Left: the softmax probabilities, the target's bar in the target colour; right:
    the gradient :math:`p - y` of the loss with respect to each logit. The readout gives
    :math:`\\operatorname{logsumexp}(z)` and the loss :math:`\\operatorname{logsumexp}(z) - z_y`.
    """
    n = len(logits)
    if not 2 <= n <= 6:
        raise ValueError(f"logits must hold 2 to 6 values, got {n}")
    b = _Builder()
    zs = [signal(f"z{c}") for c in range(n)]
    y, c = signal("y"), datum("c")
    lse = logsumexp(zs)
    zc = pick(zs, c)
    b.dataset("classes", {
        "z": zc,
        "p": exp(zc - lse),
        "grad": exp(zc - lse) - where(c.eq(y), 1, 0),
    })
    b.data[-1]["values"] = [{"c": k} for k in range(n)]
    b.dataset("point", {"lse": lse, "loss": lse - pick(zs, y)})
    w = 250
    scales = [
        _band("xp", n, w), _band("xg", n, w),
        _linear("yp", [0, 1], [200, 0]), _linear("yg", [-1, 1], [200, 0]),
    ]
    # the target class in the book's colour of a true class, the others in that of the rest
    color = {"signal": f"datum.c == y ? '{COLORS['target']}' : '{COLORS['other']}'"}
    p_panel = _panel(0, 30, w, 200, [
        _axis("xp", "bottom", "class c", grid=False),
        _axis("yp", "left", "p_c = softmax(z)_c", tickCount=5),
    ], [_bars("classes", "c", "p", "xp", "yp", color),
        _bar_labels("classes", "c", "p", "xp", "yp", ".3f")])
    g_panel = _panel(w + 70, 30, w, 200, [
        _axis("xg", "bottom", "class c", grid=False),
        _axis("yg", "left", "gradient p_c − y_c", tickCount=5),
    ], [_bars("classes", "c", "grad", "xg", "yg", color),
        _bar_labels("classes", "c", "grad", "xg", "yg", ".3f")])
    readout = _text(
        "point",
        f"'logsumexp(z) = ' + format(datum.lse, '.4f') + '{SEP}loss of class ' + y + "
        f"' = logsumexp(z) − z_' + y + ' = ' + format(datum.loss, '.4f') + ' nats'",
        0, 0, fontWeight="bold",
    )
    signals = [_slider(f"z{k}", f"logit z{k}", float(v), -6, 6, 0.1)
               for k, v in enumerate(logits)]
    signals.append(_choice("y", "target class y", 0, list(range(n)),
                           [str(k) for k in range(n)]))
    spec = _spec(
        f"Softmax of {n} logits, the cross-entropy loss of the target class and its gradient "
        "p - y: bar charts that follow the sliders.",
        2 * w + 70, 260, signals, b, scales, [readout, p_panel, g_panel],
    )
    return Chart("ch03-softmax", "softmax, loss and gradient of five logits",
                 "fig-03-softmax-explorer", spec, b.formulas)


def temperature_smoothing_explorer(
    teacher: Sequence[float] = (6.0, 2.5, 1.0, -1.5, -3.0),
) -> Chart:
    """Chapter 8: temperature and label smoothing.

    Left, slider :math:`T`: the softmax of the fixed logits divided by :math:`T` (sharper for
    :math:`T < 1`, flatter for :math:`T > 1`). Right, slider :math:`\\varepsilon`: the
    label-smoothed loss of logits :math:`(g, 0, \\dots, 0)` with target class 0 against the gap
    :math:`g`, with the plain loss (:math:`\\varepsilon = 0`) for comparison, and its minimum at
    :math:`g^* = \\log\\frac{1 - \\varepsilon + \\varepsilon/C}{\\varepsilon/C}`, where the loss
    equals the entropy of the smoothed target.
    """
    n = len(teacher)
    if not 2 <= n <= 6:
        raise ValueError(f"teacher must hold 2 to 6 logits, got {n}")
    b = _Builder()
    temp, eps, c, g = signal("T"), signal("eps"), datum("c"), datum("g")
    scaled = [lift(float(v)) / temp for v in teacher]
    b.dataset("classes", {"p": exp(pick(scaled, c) - logsumexp(scaled))})
    b.data[-1]["values"] = [{"c": k} for k in range(n)]
    gap_logits = [g] + [lift(0)] * (n - 1)
    b.dataset("curve", {
        "loss": smoothed_cross_entropy(gap_logits, 0, eps),
        "loss_plain": smoothed_cross_entropy(gap_logits, 0, 0),
    }, _grid("g", 0, 12, 0.05))
    hi, lo = 1 - eps + eps / n, eps / n
    b.dataset("point", {
        # the minimiser is finite only for eps > 0: at eps = 0 the marker leaves the chart
        "g_star": where(lo.ge(1e-12), log(hi / maximum(lo, 1e-12)), 1e6),
        "loss_min": -(_xlogx(hi) + (n - 1) * _xlogx(lo)),
        "p0": exp(scaled[0] - logsumexp(scaled)),
    })
    w = 250
    scales = [
        _band("xc", n, w), _linear("yp", [0, 1], [200, 0]),
        _linear("xg", [0, 12], [0, w]), _linear("yl", [0, 2], [200, 0]),
    ]
    bar_color = {"value": COLORS["target"]}
    t_panel = _panel(0, 30, w, 200, [
        _axis("xc", "bottom", "class c", grid=False),
        _axis("yp", "left", "softmax(v / T)_c", tickCount=5),
    ], [_bars("classes", "c", "p", "xc", "yp", bar_color),
        _bar_labels("classes", "c", "p", "xc", "yp", ".3f")])
    marker = {"type": "rule", "from": {"data": "point"}, "clip": True, "encode": {
        "enter": {"stroke": {"value": COLORS["reference"]}, "strokeDash": {"value": [4, 3]}},
        "update": {"x": {"scale": "xg", "field": "g_star"},
                   "y": {"scale": "yl", "value": 0}, "y2": {"scale": "yl", "field": "loss_min"}}}}
    l_panel = _panel(w + 70, 30, w, 200, [
        _axis("xg", "bottom", "gap g = z_0 − z_c (target class 0)"),
        _axis("yl", "left", "loss (nats)", tickCount=5),
    ], [
        _line("curve", "g", "loss_plain", "xg", "yl", COLORS["naive"], strokeDash=[5, 4]),
        _line("curve", "g", "loss", "xg", "yl", COLORS["ours"], width=3),
        marker,
        {**_point("point", "g_star", "loss_min", "xg", "yl"), "clip": True},
        _label("xg", "yl", 11.8, 1.85, "dashed: ε = 0, no minimum", COLORS["naive"], "right"),
    ])
    readout = _text(
        "point",
        f"'T = ' + format(T, '.2f') + ': p_0 = ' + format(datum.p0, '.3f') + '{SEP}ε = ' + "
        "format(eps, '.2f') + (eps > 0 ? ': minimum ' + format(datum.loss_min, '.4f') + "
        "' nats at g* = ' + format(datum.g_star, '.3f') : ': no minimum, the loss falls "
        "for ever')",
        0, 0, fontWeight="bold",
    )
    signals = [
        _slider("T", "temperature T", 1, 0.25, 10, 0.05),
        _slider("eps", "label smoothing ε", 0.1, 0, 0.5, 0.01),
    ]
    spec = _spec(
        "Left: the softmax of fixed logits divided by a temperature T. Right: the "
        "label-smoothed cross entropy against the gap between the target logit and the "
        "others, and its minimum.",
        2 * w + 70, 260, signals, b, scales, [readout, t_panel, l_panel],
    )
    return Chart("ch08-temperature-smoothing", "temperature and label smoothing",
                 "fig-08-temperature-smoothing-explorer", spec, b.formulas)


def entropy_kl_explorer() -> Chart:
    """Chapter 6: cross entropy = entropy + KL divergence, for a binary label.

    Sliders: the soft label :math:`t` and the prediction :math:`p`. The curve
    :math:`H(t, p)` over :math:`p`, its floor :math:`H(t)` (reached at :math:`p = t`) and the
    KL divergence :math:`\\operatorname{KL}(t \\,\\|\\, p)`, the gap between them.
    """
    b = _Builder()
    t, p, pd = signal("t"), signal("p"), datum("p")

    def cross(t_: Expr, p_: Expr) -> Expr:
        return -(t_ * log(p_) + (1 - t_) * log(1 - p_))

    def entropy(t_: Expr) -> Expr:
        return -(_xlogx(t_) + _xlogx(1 - t_))

    def kl(t_: Expr, p_: Expr) -> Expr:
        return _xlogx(t_) - t_ * log(p_) + _xlogx(1 - t_) - (1 - t_) * log(1 - p_)

    b.dataset("curve", {"cross": cross(t, pd), "kl": kl(t, pd)}, _grid("p", 0.005, 0.995, 0.005))
    b.dataset("point", {"p": p, "cross": cross(t, p), "entropy": entropy(t), "kl": kl(t, p)})
    w = 520
    scales = [_linear("x", [0, 1], [0, w]), _linear("y", [0, 2.5], [240, 0])]

    def segment(y0: str, y1: str, color: str) -> dict:
        return {"type": "rule", "from": {"data": "point"}, "clip": True, "encode": {
            "enter": {"stroke": {"value": color}, "strokeWidth": {"value": 5}},
            "update": {"x": {"scale": "x", "field": "p"}, "y": {"scale": "y", "field": y0},
                       "y2": {"scale": "y", "field": y1}}}}

    floor = {"type": "rule", "from": {"data": "point"}, "encode": {
        "enter": {"stroke": {"value": COLORS["target"]}, "strokeDash": {"value": [5, 4]}},
        "update": {"x": {"value": 0}, "x2": {"value": w},
                   "y": {"scale": "y", "field": "entropy"}}}}
    panel = _panel(0, 30, w, 240, [
        _axis("x", "bottom", "prediction p"), _axis("y", "left", "nats", tickCount=6),
    ], [
        floor,
        _line("curve", "p", "cross", "x", "y", COLORS["target"], width=3),
        _line("curve", "p", "kl", "x", "y", COLORS["other"]),
        {"type": "rule", "from": {"data": "point"}, "clip": True, "encode": {
            "enter": {"stroke": {"value": "currentColor"}, "strokeOpacity": {"value": 0.5}},
            "update": {"x": {"scale": "x", "field": "p"}, "y": {"scale": "y", "value": 0},
                       "y2": {"scale": "y", "field": "entropy"}}}},
        segment("entropy", "cross", COLORS["other"]),
        _point("point", "p", "cross", "x", "y"),
        _label("x", "y", 0.2, 2.35, "H(t, p) = −[t log p + (1 − t) log(1 − p)]",
               COLORS["target"], "left"),
        _label("x", "y", 0.2, 2.15, "KL(t ‖ p) = H(t, p) − H(t)", COLORS["other"], "left"),
        _label("x", "y", 0.2, 1.95, "dashed: the floor H(t), reached at p = t",
               COLORS["target"], "left"),
    ])
    readout = _text(
        "point",
        "'H(t, p) = ' + format(datum.cross, '.4f') + ' = H(t) ' + "
        "format(datum.entropy, '.4f') + ' + KL ' + format(datum.kl, '.4f') + ' nats'",
        0, 0, fontWeight="bold",
    )
    signals = [
        _slider("t", "label t", 0.2, 0.01, 0.99, 0.01),
        _slider("p", "prediction p", 0.6, 0.01, 0.99, 0.01),
    ]
    spec = _spec(
        "Binary cross entropy H(t, p) against the prediction p for a soft label t, its floor "
        "the entropy H(t), and the KL divergence, the gap between them.",
        w, 300, signals, b, scales, [readout, panel],
    )
    return Chart("ch06-entropy-kl", "cross entropy, entropy and KL divergence",
                 "fig-06-entropy-kl-explorer", spec, b.formulas)
