"""The interactive figures' specifications (ce_lib/interactive.py) and the vendored Vega bundle.

The formulas the browser evaluates are Expr trees: here each is evaluated in NumPy float64 and
compared with ce_lib and PyTorch (independent implementations) over the ranges the sliders
allow. tests/test_site.py then checks that the browser computes the same numbers.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch

import ce_lib.numpy as cn
from ce_lib import interactive as ix
from ce_lib.checks import EPS64

ROOT = Path(__file__).resolve().parents[1]
VEGA = ROOT / "book" / "_static" / "vega"
CHARTS = {
    "bce": ix.bce_explorer,
    "softmax": ix.softmax_explorer,
    "smoothing": ix.temperature_smoothing_explorer,
    "entropy": ix.entropy_kl_explorer,
}
RTOL = 8 * EPS64


def close(actual, expected, rtol=RTOL, atol=0.0):
    np.testing.assert_allclose(np.asarray(actual, float), np.asarray(expected, float),
                               rtol=rtol, atol=atol)


# ---------------------------------------------------------------------------------------------
# The expression language


def test_expressions_render_as_fully_parenthesised_vega():
    a, b = ix.signal("a"), ix.datum("b")
    assert (a + 1).js == "(a + 1)"
    assert (2 - b).js == "(2 - datum.b)"
    assert (a * -1.5).js == "(a * (-1.5))"
    assert (1 / a).js == "(1 / a)"
    assert (-a).js == "(-a)"
    assert ix.where(a.ge(0), a, b).js == "((a >= 0) ? a : datum.b)"
    assert ix.pick([a, 0], b).js == "[a, 0][datum.b]"
    assert ix.maximum(a, b, 0).js == "max(a, datum.b, 0)"
    assert repr(a + 1) == "Expr('(a + 1)')"


def test_expressions_evaluate_like_their_javascript():
    a, b = ix.signal("a"), ix.datum("b")
    x = np.array([-2.0, 0.0, 3.0])
    close((a * b - 1 / b + (a - b) / 2)(a=1.5, b=x[x != 0]),
          1.5 * x[x != 0] - 1 / x[x != 0] + (1.5 - x[x != 0]) / 2)
    close((3 - a)(a=x), 3 - x)
    close((2 / a)(a=4.0), 0.5)
    close((1 + a)(a=x), 1 + x)
    close((2 * a)(a=x), 2 * x)
    close(ix.where(a.eq(0), 7, a)(a=x), [-2.0, 7.0, 3.0])
    close(ix.pick([a, b, 5], ix.datum("k"))(a=1, b=2, k=np.array([2, 0, 1])), [5, 1, 2])
    close(ix.maximum(a, b)(a=x, b=0.5), np.maximum(x, 0.5))
    close(ix.absolute(a)(a=x), np.abs(x))


def test_expressions_reject_bad_input():
    with pytest.raises(TypeError, match="finite real"):
        ix.lift(True)
    with pytest.raises(TypeError, match="finite real"):
        ix.lift(float("nan"))
    with pytest.raises(TypeError, match="finite real"):
        ix.signal("a") + "1"
    with pytest.raises(ValueError, match="identifier"):
        ix.datum("a b")
    with pytest.raises(KeyError, match="'a'"):
        ix.signal("a")()
    for empty in (ix.maximum, lambda: ix.pick([], 0), lambda: ix.logsumexp([])):
        with pytest.raises(ValueError, match="at least one"):
            empty()


def test_log1p_softplus_sigmoid_are_stable_and_accurate():
    x = ix.signal("x")
    tiny = np.array([1e-300, 1e-20, 3e-17, 1e-10, 1e-5, 0.1, 1.0, 1e5, 1e300])
    close(ix.log1p(x)(x=tiny), np.log1p(tiny), rtol=4 * EPS64)
    close(ix.log1p(x)(x=-tiny[:-3]), np.log1p(-tiny[:-3]), rtol=4 * EPS64)
    z = np.concatenate([-np.logspace(-8, np.log10(800), 300), [0.0],
                        np.logspace(-8, np.log10(800), 300)])
    close(ix.softplus(x)(x=z), np.logaddexp(0, z), rtol=4 * EPS64)
    assert np.isfinite(ix.softplus(x)(x=z)).all()
    sig = ix.sigmoid(x)(x=z)
    # torch flushes sigmoid(-800) = 3.5e-320 (subnormal) to 0: atol of the smallest normal
    tiny_normal = np.finfo(np.float64).tiny
    close(sig, torch.sigmoid(torch.from_numpy(z)).numpy(), rtol=4 * EPS64, atol=tiny_normal)
    close(sig, cn.sigmoid(z), rtol=4 * EPS64, atol=tiny_normal)


def test_logsumexp_is_shift_safe():
    rng = np.random.default_rng(0)
    zs = [ix.signal(f"z{k}") for k in range(5)]
    for shift in (0.0, 700.0, -800.0):
        z = rng.normal(0, 3, size=(200, 5)) + shift
        env = {f"z{k}": z[:, k] for k in range(5)}
        got = ix.logsumexp(zs)(**env)
        assert np.isfinite(got).all()
        close(got, torch.logsumexp(torch.from_numpy(z), dim=-1).numpy(),
              rtol=4 * EPS64, atol=4 * EPS64 * (abs(shift) + 10))


def test_smoothed_cross_entropy_is_pytorch_label_smoothing():
    rng = np.random.default_rng(1)
    z = rng.normal(0, 2, size=(300, 4))
    y = rng.integers(0, 4, size=300)
    zs = [ix.signal(f"z{k}") for k in range(4)]
    for eps in (0.0, 0.1, 0.35):
        got = ix.smoothed_cross_entropy(zs, ix.signal("y"), eps)(
            y=y, **{f"z{k}": z[:, k] for k in range(4)})
        ref = torch.nn.functional.cross_entropy(
            torch.from_numpy(z), torch.from_numpy(y), label_smoothing=eps, reduction="none")
        close(got, ref.numpy(), rtol=16 * EPS64, atol=16 * EPS64)


# ---------------------------------------------------------------------------------------------
# The four charts: their formulas against ce_lib


def test_bce_chart_matches_ce_lib():
    chart = ix.bce_explorer()
    zg = chart.columns("curve")["z"]
    assert zg[0] == -8 and abs(zg[-1] - 8) < 1e-12 and len(zg) == 321
    for t in (0, 1):
        ref = cn.binary_cross_entropy_with_logits(zg, np.full_like(zg, t), reduction="none")
        close(chart.evaluate(f"curve.loss_t{t}"), ref, rtol=4 * EPS64)
        grad = cn.binary_cross_entropy_with_logits_grad(zg, np.full_like(zg, t),
                                                         reduction="sum")
        close(chart.evaluate("curve.grad", t=t), grad, atol=2 * EPS64)
    for z in (-8.0, -3.3, 0.0, 0.1, 2.0, 8.0):
        for t in (0, 1):
            zt, tt = torch.tensor([z], dtype=torch.float64), torch.tensor([float(t)],
                                                                          dtype=torch.float64)
            zt.requires_grad_(True)
            loss = torch.nn.functional.binary_cross_entropy_with_logits(zt, tt)
            loss.backward()
            # torch's formula cancels for small losses (|z| large, right label): absolute
            # error a few EPS64; ce_lib's and the chart's keep relative accuracy
            close(chart.evaluate("point.loss", z=z, t=t), loss.item(), rtol=4 * EPS64,
                  atol=8 * EPS64)
            close(chart.evaluate("point.loss", z=z, t=t),
                  cn.binary_cross_entropy_with_logits(z, float(t)), rtol=4 * EPS64)
            close(chart.evaluate("point.grad", z=z, t=t), zt.grad.item(), atol=2 * EPS64)
            close(chart.evaluate("point.p", z=z, t=t), cn.sigmoid(z), rtol=4 * EPS64)


def test_softmax_chart_matches_ce_lib():
    chart = ix.softmax_explorer()
    rng = np.random.default_rng(2)
    settings = [np.array(list(chart.defaults[f"z{k}"] for k in range(5)))]
    settings += [np.round(rng.uniform(-6, 6, size=5), 1) for _ in range(5)]
    for z in settings:
        for y in range(5):
            sig = {f"z{k}": float(z[k]) for k in range(5)} | {"y": y}
            close(chart.evaluate("classes.p", **sig), cn.softmax(z), rtol=8 * EPS64)
            close(chart.evaluate("classes.z", **sig), z, rtol=0)
            grad = cn.softmax_cross_entropy_grad(z[None], np.array([y]))[0]
            close(chart.evaluate("classes.grad", **sig), grad, atol=4 * EPS64)
            loss = cn.softmax_cross_entropy(z, np.array(y))
            close(chart.evaluate("point.loss", **sig), loss, rtol=8 * EPS64, atol=8 * EPS64)
            close(chart.evaluate("point.lse", **sig), cn.logsumexp(z), rtol=4 * EPS64)
    with pytest.raises(ValueError, match="2 to 6"):
        ix.softmax_explorer([1.0])


def test_temperature_smoothing_chart_matches_ce_lib():
    chart = ix.temperature_smoothing_explorer()
    teacher = np.array([6.0, 2.5, 1.0, -1.5, -3.0])
    g = chart.columns("curve")["g"]
    logits = np.zeros((len(g), 5))
    logits[:, 0] = g
    target = np.zeros(len(g), dtype=int)
    for temp in (0.25, 1.0, 3.7, 10.0):
        # exp(z_c - lse) inherits the rounding of z_c - lse: relative u |z_c - lse| each
        spread = np.ptp(teacher / temp) + np.log(5)
        rtol = 4 * EPS64 * (1 + spread)
        close(chart.evaluate("classes.p", T=temp), cn.softmax(teacher / temp), rtol=rtol)
        close(chart.evaluate("point.p0", T=temp), cn.softmax(teacher / temp)[0], rtol=rtol)
    plain = cn.softmax_cross_entropy(logits, target, reduction="none")
    close(chart.evaluate("curve.loss_plain"), plain, rtol=8 * EPS64, atol=8 * EPS64)
    for eps in (0.01, 0.1, 0.37, 0.5):
        ref = cn.softmax_cross_entropy(logits, target, reduction="none", label_smoothing=eps)
        close(chart.evaluate("curve.loss", eps=eps), ref, rtol=8 * EPS64, atol=8 * EPS64)
        g_star = float(chart.evaluate("point.g_star", eps=eps))
        at_min = np.array([[g_star, 0, 0, 0, 0]])
        grad = cn.softmax_cross_entropy_grad(at_min, np.array([0]), label_smoothing=eps)
        close(grad, 0.0, atol=4 * EPS64)  # the minimiser: the gradient vanishes
        smoothed = (1 - eps) * np.eye(5)[0] + eps / 5
        loss_min = cn.softmax_cross_entropy(at_min, np.array([0]), label_smoothing=eps)
        close(chart.evaluate("point.loss_min", eps=eps), cn.entropy(smoothed), rtol=8 * EPS64)
        close(loss_min, cn.entropy(smoothed), rtol=8 * EPS64)
        assert chart.evaluate("curve.loss", eps=eps).min() >= loss_min - 8 * EPS64
    # without smoothing there is no minimum: the marker is moved off the chart
    assert chart.evaluate("point.g_star", eps=0.0) > 1e5
    close(chart.evaluate("point.loss_min", eps=0.0), 0.0, atol=0)
    with pytest.raises(ValueError, match="2 to 6"):
        ix.temperature_smoothing_explorer([1.0] * 7)


def test_entropy_kl_chart_matches_ce_lib():
    chart = ix.entropy_kl_explorer()
    pg = chart.columns("curve")["p"]
    assert abs(pg[0] - 0.005) < 1e-15 and abs(pg[-1] - 0.995) < 1e-12
    for t in (0.01, 0.2, 0.5, 0.77, 0.99):
        two = np.stack([pg, 1 - pg], axis=-1)
        target = np.array([t, 1 - t])
        close(chart.evaluate("curve.cross", t=t), cn.cross_entropy(target, two),
              rtol=8 * EPS64)
        close(chart.evaluate("curve.cross", t=t),
              cn.binary_cross_entropy(pg, np.full_like(pg, t), reduction="none"),
              rtol=8 * EPS64)
        close(chart.evaluate("curve.kl", t=t), cn.kl_divergence(target, two),
              rtol=1e-12, atol=16 * EPS64)
        for p in (0.01, t, 0.6, 0.99):
            sig = {"t": t, "p": p}
            close(chart.evaluate("point.entropy", **sig), cn.entropy(target), rtol=8 * EPS64)
            close(chart.evaluate("point.cross", **sig),
                  cn.cross_entropy(target, [p, 1 - p]), rtol=8 * EPS64)
            close(chart.evaluate("point.kl", **sig), cn.kl_divergence(target, [p, 1 - p]),
                  rtol=1e-12, atol=16 * EPS64)
    close(chart.evaluate("point.kl", t=0.3, p=0.3), 0.0, atol=4 * EPS64)


def test_chart_evaluate_rejects_unknown_names():
    chart = ix.bce_explorer()
    with pytest.raises(KeyError, match="no formula"):
        chart.evaluate("curve.nope")
    with pytest.raises(ValueError, match="no signal"):
        chart.evaluate("point.loss", temperature=2)
    with pytest.raises(KeyError, match="no data set"):
        chart.columns("nope")


# ---------------------------------------------------------------------------------------------
# The specifications and their HTML


@pytest.mark.parametrize("build", CHARTS.values(), ids=CHARTS.keys())
def test_spec_formulas_are_the_python_formulas(build):
    """Every computed field of the spec is exactly the rendered Expr, and nothing else is."""
    chart = build()
    in_spec = {
        f"{d['name']}.{t['as']}": t["expr"]
        for d in chart.spec["data"]
        for t in d["transform"]
        if t["type"] == "formula"
    }
    assert in_spec == {key: expr.js for key, expr in chart.formulas.items()}


@pytest.mark.parametrize("build", CHARTS.values(), ids=CHARTS.keys())
def test_sliders_are_labelled_and_bounded(build):
    chart = build()
    signals = chart.spec["signals"]
    assert signals, "an interactive chart has controls"
    for s in signals:
        bind = s["bind"]
        assert bind["name"].strip(), f"{s['name']}: a control needs a visible label"
        if bind["input"] == "range":
            assert bind["min"] <= s["value"] <= bind["max"] and bind["step"] > 0
        else:
            assert bind["input"] == "radio" and s["value"] in bind["options"]
            assert len(bind["labels"]) == len(bind["options"])
    assert chart.spec["description"], "the SVG gets an aria-label from the description"


@pytest.mark.parametrize("build", CHARTS.values(), ids=CHARTS.keys())
def test_html_is_deterministic_and_self_contained(build):
    chart, again = build(), build()
    page = chart._repr_html_()
    assert page == again._repr_html_()
    assert repr(chart) == f"Chart({chart.name!r})"
    spec_text = re.search(r'<script type="application/json" class="ce-interactive-spec">'
                          r"(.*?)</script>", page, re.S).group(1)
    assert json.loads(spec_text) == chart.spec
    assert "</" not in spec_text and "<" not in spec_text
    assert not re.search(r"https?:|//|0x[0-9a-f]{6,}|\d{4}-\d\d-\d\dT", page), \
        "no URL, address or timestamp in the stored output"
    assert f'data-ce-static="{chart.static_figure}"' in page
    assert chart.static_figure.startswith("fig-0")
    assert len(page) < 12_000, f"{chart.name}: {len(page)} bytes"


def test_to_json_escapes_html():
    chart = ix.bce_explorer()
    chart.spec["description"] = "a </script> & <b>"
    text = chart.to_json()
    assert "<" not in text and ">" not in text and "&" not in text
    assert json.loads(text)["description"] == "a </script> & <b>"


def test_chart_names_are_unique():
    names = [build().name for build in CHARTS.values()]
    figures = [build().static_figure for build in CHARTS.values()]
    assert len(set(names)) == len(names) and len(set(figures)) == len(figures)


# ---------------------------------------------------------------------------------------------
# The vendored bundle


def test_vendored_vega_is_pinned_licensed_and_small():
    versions = (VEGA / "VERSIONS").read_text(encoding="utf-8")
    match = re.search(r"^vega (\d+\.\d+\.\d+) \(npm\) sha512-\S+$", versions, re.M)
    assert match, versions
    script = (ROOT / "scripts" / "vendor_vega.sh").read_text(encoding="utf-8")
    assert f"VEGA_VERSION={match.group(1)}" in script, "VERSIONS and the script disagree"
    sha = hashlib.sha256((VEGA / "vega.min.js").read_bytes()).hexdigest()
    assert f"vega.min.js sha256 {sha}" in versions, "vega.min.js is not the vendored file"
    assert "BSD" in (VEGA / "LICENSE").read_text(encoding="utf-8")[:2000] or \
        "Redistribution and use" in (VEGA / "LICENSE").read_text(encoding="utf-8")
    third = (VEGA / "THIRD_PARTY_LICENSES.txt").read_text(encoding="utf-8")
    for bundled in ("d3-array@", "d3-scale@", "vega-view@", "vega-expression@"):
        assert bundled in third
    total = sum(p.stat().st_size for p in VEGA.iterdir())
    assert total < 1_000_000, f"book/_static/vega weighs {total} bytes"
    assert math.isclose(total, total)  # (the site test checks the whole site's extra weight)
