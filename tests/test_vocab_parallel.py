"""vocab_parallel_cross_entropy and linear_cross_entropy(group=) against PyTorch on gathered logits.

The multi-process tests start each group ONCE (a start costs seconds on a 2-core machine) with
ce_lib.torch.vocab_parallel.launch (gloo on 127.0.0.1, timeouts everywhere), run every case
inside it, and check the results here against ``F.cross_entropy`` of the full logits (or of
``F.linear``) in float64. The in-process tests use a one-rank gloo group.
"""

from __future__ import annotations

import itertools
import math
from datetime import timedelta
from typing import Any

import pytest
import torch
import torch.distributed as dist
import torch.nn.functional as F
from strategies import one_rank_group

import ce_lib.torch as ct
from ce_lib.torch.vocab_parallel import _loss, demos, launch
from ce_lib.torch.vocab_parallel.demos import CountCollectives, my_columns

IGNORE = -100
ROWS = 6
WORLD_SPLITS = {2: [3, 5], 3: [1, 4, 2]}


# ---------------------------------------------------------------------------------------------
# Cases, and the inputs each one builds (the same on every rank and in the parent).


def _cases() -> list[dict[str, Any]]:
    cases = []
    for target, weight, eps, reduction in itertools.product(
            ("index", "prob"), (False, True), (0.0, 0.15), ("mean", "sum", "none")):
        cases.append({"target": target, "weight": weight, "eps": eps, "reduction": reduction})
    for weight, eps in itertools.product((False, True), (0.0, 0.15)):
        cases.append({"target": "index", "weight": weight, "eps": eps, "reduction": "mean",
                      "all_ignored": True})
    for target, eps in (("index", 0.0), ("index", 0.15), ("prob", 0.15)):
        cases.append({"target": target, "weight": True, "eps": eps, "reduction": "mean",
                      "dtype": "float32"})
    cases.append({"target": "index", "weight": True, "eps": 0.15, "reduction": "none",
                  "one_row": True})
    for target, reduction in (("index", "mean"), ("index", "none"), ("prob", "sum")):
        cases.append({"target": target, "weight": True, "eps": 0.15, "reduction": reduction,
                      "linear": True})
    cases.append({"target": "index", "weight": False, "eps": 0.0, "reduction": "mean",
                  "linear": True, "dtype": "float32"})
    # z-loss and soft-capping (a cap of 2.5 saturates logits of 3 randn), alone and together
    for target, weight, eps, reduction, zl, cap, extra in (
            ("index", True, 0.15, "mean", 0.05, 2.5, {}),
            ("index", False, 0.0, "none", 0.0, 2.5, {}),
            ("index", True, 0.0, "sum", 0.05, None, {}),
            ("prob", True, 0.15, "mean", 0.05, 2.5, {}),
            ("prob", False, 0.0, "none", 0.05, None, {}),
            ("index", True, 0.15, "mean", 0.05, 2.5, {"all_ignored": True}),
            ("index", True, 0.15, "none", 0.05, 2.5, {"one_row": True}),
            ("index", True, 0.15, "mean", 0.05, 2.5, {"dtype": "float32"}),
            ("prob", False, 0.15, "sum", 0.05, 2.5, {"dtype": "float32"}),
            ("index", True, 0.15, "mean", 0.05, 2.5, {"linear": True}),
            ("prob", True, 0.0, "none", 0.05, 2.5, {"linear": True}),
            ("index", False, 0.0, "sum", 0.05, 2.5, {"linear": True, "dtype": "float32"}),
    ):
        cases.append({"target": target, "weight": weight, "eps": eps, "reduction": reduction,
                      "z_loss": zl, "logit_softcap": cap, **extra})
    for i, c in enumerate(cases):
        c["seed"] = i
    return cases


CASES = _cases()


def _name(c: dict[str, Any]) -> str:
    flags = [k for k in ("all_ignored", "one_row", "linear") if c.get(k)]
    if c.get("z_loss"):
        flags.append(f"zloss{c['z_loss']}")
    if c.get("logit_softcap"):
        flags.append(f"softcap{c['logit_softcap']}")
    return "-".join([c["target"], "w" if c["weight"] else "now", f"eps{c['eps']}", c["reduction"],
                     c.get("dtype", "float64"), *flags])


def _regularizers(c: dict[str, Any]) -> dict[str, Any]:
    """The z_loss / logit_softcap keywords of a case (none for the cases without them)."""
    return {k: c[k] for k in ("z_loss", "logit_softcap") if k in c}


def _inputs(c: dict[str, Any], classes: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(1000 + c["seed"])
    rows = 1 if c.get("one_row") else ROWS
    z = 3 * torch.randn(rows, classes, generator=g, dtype=torch.float64)
    t = torch.randint(0, classes, (rows,), generator=g)
    if c.get("target") == "index" and c["eps"] == 0 and not c.get("linear"):
        z[0, 0], t[0] = -torch.inf, 1  # a masked class (not the target)
    if rows > 1:
        t[1] = IGNORE
    if c.get("all_ignored"):
        t[:] = IGNORE
    q = torch.softmax(torch.randn(rows, classes, generator=g, dtype=torch.float64), 1)
    w = 0.5 + torch.rand(classes, generator=g, dtype=torch.float64)
    up = torch.rand(rows, generator=g, dtype=torch.float64) + 0.5
    x = torch.randn(rows, 4, generator=g, dtype=torch.float64)
    lw = torch.randn(classes, 4, generator=g, dtype=torch.float64)
    lb = torch.randn(classes, generator=g, dtype=torch.float64)
    if c.get("one_row"):
        z, t, q, up = z[0], t[0], q[0], up[0]
    return {"z": z, "t": t, "q": q, "w": w, "up": up, "x": x, "lw": lw, "lb": lb}


def _dtype(c: dict[str, Any]) -> torch.dtype:
    return torch.float32 if c.get("dtype") == "float32" else torch.float64


def _upstream(c: dict[str, Any], inp: dict[str, torch.Tensor]) -> torch.Tensor:
    """Upstream gradient: per row for "none", 1.7 for a scalar loss (the scaling must follow)."""
    return inp["up"] if c["reduction"] == "none" else torch.tensor(1.7, dtype=torch.float64)


def _run_case(c: dict[str, Any], splits: list[int], rank: int) -> dict[str, Any]:
    """One case on this rank: its loss, the gradients of its slice, the collectives called."""
    inp = _inputs(c, sum(splits))
    cols = my_columns(splits, rank)
    dt = _dtype(c)
    target = inp["q"][..., cols].to(dt) if c["target"] == "prob" else inp["t"]
    weight = inp["w"][cols].to(dt) if c["weight"] else None
    kw = {"weight": weight, "reduction": c["reduction"], "label_smoothing": c["eps"],
          **_regularizers(c)}
    if c.get("linear"):
        leaves = [inp["x"].to(dt), inp["lw"][cols].to(dt), inp["lb"][cols].to(dt)]
        leaves = [a.clone().requires_grad_() for a in leaves]
        with CountCollectives() as fwd:
            loss = ct.linear_cross_entropy(leaves[0], leaves[1], target, linear_bias=leaves[2],
                                           chunk_size=4, group=dist.group.WORLD, **kw)
    else:
        leaves = [inp["z"][..., cols].to(dt).clone().requires_grad_()]
        with CountCollectives() as fwd:
            loss = ct.vocab_parallel_cross_entropy(leaves[0], target, **kw)
    with CountCollectives() as bwd:
        loss.backward(_upstream(c, inp).to(dt))
    return {"loss": loss.detach(), "grads": [a.grad for a in leaves], "fwd": fwd.calls,
            "bwd": bwd.calls}


def _bad_inputs(rank: int, world: int) -> dict[str, tuple[str, str, float]]:
    """Bad input on one rank (or all): what every rank raises, and how long it took."""
    splits = [3] * world
    inp = _inputs({"seed": 0, "eps": 0.0}, sum(splits))
    cols = my_columns(splits, rank)
    z, t, w = inp["z"][:, cols], inp["t"], inp["w"][cols]
    last = rank == world - 1
    x, lw = inp["x"], inp["lw"][cols]
    vp = ct.vocab_parallel_cross_entropy
    cases = {
        "batch": lambda: vp(z[: ROWS - last], t[: ROWS - last]),
        "index too large": lambda: vp(z, torch.where(t == 2, 3 * world, t)),
        "negative index": lambda: vp(z, torch.where(t == 2, -1, t)),
        "weight length": lambda: vp(z, t, weight=w[:2] if rank == 0 else w),
        "weight on some ranks": lambda: vp(z, t, weight=w if last else None),
        "targets differ": lambda: vp(z, (t + 1) % 3 if last else t),
        "dtype": lambda: vp(z.float() if last else z, t),
        "label_smoothing": lambda: vp(z, t, label_smoothing=0.1 if last else 0.0),
        "reduction": lambda: vp(z, t, reduction="average" if last else "mean"),
        "probability shape": lambda: vp(z, inp["q"][:, : 2 if last else 3]),
        "linear_weight": lambda: ct.linear_cross_entropy(
            x, lw[:, :3] if last else lw, t, group=dist.group.WORLD),
        "linear requires_grad": lambda: ct.linear_cross_entropy(
            x.requires_grad_(last), lw, t, group=dist.group.WORLD),
        "z_loss differs": lambda: vp(z, t, z_loss=1e-4 if last else 0.0),
        "logit_softcap differs": lambda: vp(z, t, logit_softcap=30.0 if last else None),
        "logit_softcap bits differ": lambda: vp(
            z, t, logit_softcap=math.nextafter(30.0, 31.0) if last else 30.0),
        "bad z_loss on rank 0": lambda: vp(z, t, z_loss=-1.0 if rank == 0 else 0.0),
        "bad logit_softcap on the last rank": lambda: vp(
            z, t, logit_softcap=math.inf if last else 30.0),
        "linear z_loss differs": lambda: ct.linear_cross_entropy(
            x, lw, t, group=dist.group.WORLD, z_loss=1e-4 if last else 0.0),
    }
    out = demos.errors_of(cases)
    # The group is still in step: a valid call after all those errors gives the right loss.
    out["after"] = ("ok", repr(float(vp(z, t))), 0.0)
    return out


SUBGROUP_CASE = {"target": "index", "eps": 0.0, "linear": True, "seed": 7}
SUBGROUP_CLASSES = 6


def _subgroup_losses(rank: int, world: int) -> list[float]:
    """Each rank alone in a group of its own (a proper subgroup of the world), holding the whole
    vocabulary: the loss must be the single-process one, so the group must be the one passed."""
    groups = [dist.new_group([r]) for r in range(world)]  # every rank creates every group
    inp = _inputs(SUBGROUP_CASE, SUBGROUP_CLASSES)
    x, w, t = inp["x"], inp["lw"], inp["t"]
    mine = groups[rank]
    return [float(ct.linear_cross_entropy(x, w, t, group=mine)),
            float(ct.vocab_parallel_cross_entropy(x @ w.T, t, group=mine))]


def _worker(rank: int, world: int) -> dict[str, Any]:
    splits = WORLD_SPLITS[world]
    return {
        "cases": [_run_case(c, splits, rank) for c in CASES],
        "bad": _bad_inputs(rank, world),
        "normalization": demos.normalization(rank, world),
        "subgroup": _subgroup_losses(rank, world),
    }


@pytest.fixture(scope="module", params=[2, 3], ids=["2 ranks", "3 ranks"])
def group_run(request: pytest.FixtureRequest) -> tuple[int, list[dict[str, Any]]]:
    world = request.param
    return world, launch.run(_worker, world, timeout=90)


# ---------------------------------------------------------------------------------------------
# Reference: F.cross_entropy on the gathered inputs, float64.


def _reference(c: dict[str, Any], classes: int) -> tuple[torch.Tensor, list[torch.Tensor]]:
    inp = _inputs(c, classes)
    dt = _dtype(c)
    target = inp["q"].to(dt).double() if c["target"] == "prob" else inp["t"]
    weight = inp["w"].to(dt).double() if c["weight"] else None
    if c.get("linear"):
        leaves = [inp[k].to(dt).double().requires_grad_() for k in ("x", "lw", "lb")]
        z = F.linear(*leaves)
    else:
        leaves = [inp["z"].to(dt).double().requires_grad_()]
        z = leaves[0]
    loss = _explicit_formula(c, z, target, weight)
    loss.backward(_upstream(c, inp))
    if c.get("all_ignored"):  # ce_lib: the mean over no counted target is 0 (PyTorch: NaN)
        assert torch.isnan(loss)
        loss = torch.zeros_like(loss)
    return loss.detach(), [a.grad for a in leaves]


def _explicit_formula(c: dict[str, Any], z: torch.Tensor, target: torch.Tensor,
                      weight: torch.Tensor | None) -> torch.Tensor:
    """F.cross_entropy(c tanh(z / c), ...) + z_loss * logsumexp(...)**2, masked and reduced alike.

    The z-loss term counts the rows whose target is not ignored (every row for probabilities),
    is not scaled by the class weights, and the mean divides it by the loss's denominator.
    """
    cap, zl = c.get("logit_softcap"), c.get("z_loss", 0.0)
    s = z if cap is None else cap * torch.tanh(z / cap)
    loss = F.cross_entropy(s, target, weight=weight, reduction=c["reduction"],
                           label_smoothing=c["eps"])
    if not zl:
        return loss
    lse = torch.logsumexp(s, -1)
    if target.is_floating_point():
        counted, denominator = torch.ones_like(lse, dtype=torch.bool), float(lse.numel())
    else:
        counted = target != IGNORE
        w_y = torch.ones_like(lse) if weight is None else weight[target.clamp(min=0)]
        denominator = torch.where(counted, w_y, 0).sum()
    term = torch.where(counted, zl * lse**2, 0)
    if c["reduction"] == "none":
        return loss + term
    if c["reduction"] == "sum":
        return loss + term.sum()
    return loss + term.sum() / denominator  # NaN, as PyTorch's mean, when nothing counts


def _close(actual: torch.Tensor, expected: torch.Tensor, dtype: torch.dtype) -> None:
    tol = 1e-12 if dtype == torch.float64 else 1e-5
    scale = float(expected.abs().max()) if expected.numel() else 0.0
    torch.testing.assert_close(actual.double(), expected, rtol=tol, atol=tol * scale)


@pytest.mark.parametrize("index", range(len(CASES)), ids=[_name(c) for c in CASES])
def test_equals_pytorch_on_gathered_logits(group_run: Any, index: int) -> None:
    world, results = group_run
    c = CASES[index]
    splits = WORLD_SPLITS[world]
    ref_loss, ref_grads = _reference(c, sum(splits))
    losses = [r["cases"][index]["loss"] for r in results]
    for loss in losses:  # every rank: the same loss, bit for bit
        assert torch.equal(loss, losses[0])
        assert loss.dtype == _dtype(c)
    _close(losses[0], ref_loss, _dtype(c))
    per_rank = [r["cases"][index]["grads"] for r in results]
    if c.get("linear"):
        for grads in per_rank:  # the input's gradient is complete on every rank
            _close(grads[0], ref_grads[0], _dtype(c))
        _close(torch.cat([g[1] for g in per_rank]), ref_grads[1], _dtype(c))
        _close(torch.cat([g[2] for g in per_rank]), ref_grads[2], _dtype(c))
    else:
        _close(torch.cat([g[0] for g in per_rank], -1), ref_grads[0], _dtype(c))


REGULARIZED = [i for i, c in enumerate(CASES) if _regularizers(c)]


@pytest.mark.parametrize("index", REGULARIZED, ids=[_name(CASES[i]) for i in REGULARIZED])
def test_regularizers_equal_single_process_ce_lib(group_run: Any, index: int) -> None:
    """z_loss / logit_softcap across ranks: ce_lib.torch's single-process result, same dtype."""
    world, results = group_run
    c = CASES[index]
    inp = _inputs(c, sum(WORLD_SPLITS[world]))
    dt = _dtype(c)
    target = inp["q"].to(dt) if c["target"] == "prob" else inp["t"]
    kw = {"weight": inp["w"].to(dt) if c["weight"] else None, "reduction": c["reduction"],
          "label_smoothing": c["eps"], **_regularizers(c)}
    if c.get("linear"):
        leaves = [inp[k].to(dt).clone().requires_grad_() for k in ("x", "lw", "lb")]
        loss = ct.linear_cross_entropy(leaves[0], leaves[1], target, linear_bias=leaves[2],
                                       chunk_size=4, **kw)
    else:
        leaves = [inp["z"].to(dt).clone().requires_grad_()]
        loss = ct.softmax_cross_entropy(leaves[0], target, **kw)
    loss.backward(_upstream(c, inp).to(dt))
    per_rank = [r["cases"][index]["grads"] for r in results]
    _close(results[0]["cases"][index]["loss"], loss.detach().double(), dt)
    if c.get("linear"):
        _close(per_rank[0][0], leaves[0].grad.double(), dt)
        for k in (1, 2):
            _close(torch.cat([g[k] for g in per_rank]), leaves[k].grad.double(), dt)
    else:
        _close(torch.cat([g[0] for g in per_rank], -1), leaves[0].grad.double(), dt)


@pytest.mark.parametrize("index", range(len(CASES)), ids=[_name(c) for c in CASES])
def test_communication(group_run: Any, index: int) -> None:
    """Forward: 2 all-gathers of O(N) values; backward: none (linear form: 1 all-reduce of N*d)."""
    world, results = group_run
    c = CASES[index]
    rows = 1 if c.get("one_row") else ROWS
    for r in results:
        fwd, bwd = r["cases"][index]["fwd"], r["cases"][index]["bwd"]
        assert [name for name, _ in fwd] == ["all_gather_single"] * 2
        record, stats = fwd[0][1], fwd[1][1]
        assert record == (world + 1) * _loss._RECORD  # output + input: fixed size
        assert stats == (world + 1) * _loss._STATS * rows  # five numbers per row per rank
        if c.get("linear"):
            assert bwd == [("all_reduce", rows * 4)]
        else:
            assert bwd == []


BAD = {
    # case: (exception type, a phrase every rank's message contains)
    "batch": ("ValueError", "batch differs between ranks"),
    "index too large": ("ValueError", "outside [0, "),
    "negative index": ("ValueError", "class index -1 outside"),
    "weight length": ("ValueError", "weight must have shape (3,)"),
    "weight on some ranks": ("ValueError", "weight must be given on every rank"),
    "targets differ": ("ValueError", "class indices differ between ranks"),
    "dtype": ("TypeError", "same dtype on every rank"),
    "label_smoothing": ("ValueError", "label_smoothing must be the same on every rank"),
    "reduction": ("ValueError", "reduction must be one of"),
    "probability shape": ("ValueError", "target of class probabilities must have"),
    "linear_weight": ("ValueError", "linear_weight must have shape"),
    "linear requires_grad": ("ValueError", "require grad alike on every rank"),
    "z_loss differs": ("ValueError", "z_loss must be the same on every rank"),
    "logit_softcap differs": ("ValueError", "logit_softcap must be the same on every rank"),
    "logit_softcap bits differ": ("ValueError", "logit_softcap must be the same on every rank"),
    "bad z_loss on rank 0": ("ValueError", "z_loss must be a finite number >= 0, got -1.0"),
    "bad logit_softcap on the last rank": ("ValueError", "logit_softcap must be a finite number"),
    "linear z_loss differs": ("ValueError", "z_loss must be the same on every rank"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_raises_on_every_rank(group_run: Any, case: str) -> None:
    _, results = group_run
    kind, phrase = BAD[case]
    for r in results:
        got_kind, message, seconds = r["bad"][case]
        assert got_kind == kind, (case, got_kind, message)
        assert phrase in message, message
        assert seconds < 5  # nobody waited for a timeout
    assert len({r["bad"]["after"][1] for r in results}) == 1  # the group is still in step


def test_a_proper_subgroup_is_the_group_used(group_run: Any) -> None:
    """With each rank alone in its own group, every rank computes the whole vocabulary's loss
    (the world would wrongly combine the ranks' copies as shards of a larger vocabulary)."""
    _, results = group_run
    inp = _inputs(SUBGROUP_CASE, SUBGROUP_CLASSES)
    expected = float(F.cross_entropy(inp["x"] @ inp["lw"].T, inp["t"], ignore_index=IGNORE))
    for rank_result in results:
        for loss in rank_result["subgroup"]:
            assert math.isclose(loss, expected, rel_tol=1e-12), (loss, expected)


def test_normalization_recipe(group_run: Any) -> None:
    """DDP + accumulation: summing and dividing by the global count gives the full-batch gradient."""
    _, results = group_run
    for r in results:
        n = r["normalization"]
        for right, ref in zip(n["global count"], n["reference"], strict=True):
            torch.testing.assert_close(right, ref, rtol=1e-12, atol=1e-12 * float(ref.abs().max()))
        worst = max(float((a - b).abs().max() / b.abs().max())
                    for a, b in zip(n["naive"], n["reference"], strict=True))
        assert worst > 1e-2  # averaging micro-batch means is visibly wrong with unequal lengths


# ---------------------------------------------------------------------------------------------
# In this process: a one-rank group, no group at all, and the launcher's failure reports.


@pytest.mark.parametrize("index", range(len(CASES)), ids=[_name(c) for c in CASES])
def test_one_rank_group(index: int) -> None:
    c = CASES[index]
    with one_rank_group():
        result = _run_case(c, [9], 0)
    ref_loss, ref_grads = _reference(c, 9)
    _close(result["loss"], ref_loss, _dtype(c))
    for got, want in zip(result["grads"], ref_grads, strict=True):
        _close(got, want, _dtype(c))


def test_several_slabs_and_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Blocks of 2 rows (the kernel's slabs) inside chunks of 4 rows give the same result."""
    monkeypatch.setattr(_loss, "default_block", lambda columns: 2)
    for index in (0, 11, 14, len(CASES) - 3):
        test_one_rank_group(index)


NO_GROUP = r"group was given but torch\.distributed has no initialized process group"


def test_without_process_group_is_softmax_cross_entropy() -> None:
    assert not dist.is_initialized()
    inp = _inputs({"seed": 3, "eps": 0.0}, 7)
    z = inp["z"].clone().requires_grad_()
    z2 = inp["z"].clone().requires_grad_()
    kw = {"weight": inp["w"], "label_smoothing": 0.2, "z_loss": 0.01, "logit_softcap": 4.0}
    loss = ct.vocab_parallel_cross_entropy(z, inp["t"], **kw)
    ref = ct.softmax_cross_entropy(z2, inp["t"], **kw)
    loss.backward()
    ref.backward()
    assert torch.equal(loss, ref) and torch.equal(z.grad, z2.grad)
    with pytest.raises(RuntimeError, match=NO_GROUP):
        ct.vocab_parallel_cross_entropy(z, inp["t"], group=object())
    with pytest.raises(RuntimeError, match=NO_GROUP):
        ct.linear_cross_entropy(inp["x"], inp["lw"], inp["t"], group=object())


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda z, t: ct.vocab_parallel_cross_entropy(z.long(), t), TypeError, "logits must be"),
        (lambda z, t: ct.vocab_parallel_cross_entropy(z[:, :0], t), ValueError, "one column"),
        (lambda z, t: ct.vocab_parallel_cross_entropy(z[None], t), ValueError, r"\(N, V_r\)"),
        (lambda z, t: ct.vocab_parallel_cross_entropy(z, t.bool()), TypeError, "target must"),
        (lambda z, t: ct.vocab_parallel_cross_entropy(z, t.float().requires_grad_()),
         ValueError, "target must not require grad"),
        (lambda z, t: ct.vocab_parallel_cross_entropy(z, t, weight=-torch.ones(9)), ValueError,
         "weight must be finite and non-negative"),
        (lambda z, t: ct.vocab_parallel_cross_entropy(z, t, label_smoothing=2.0), ValueError,
         "label_smoothing"),
        (lambda z, t: ct.vocab_parallel_cross_entropy(z, t, ignore_index=1.5), TypeError,
         "ignore_index"),
        (lambda z, t: ct.vocab_parallel_cross_entropy(z, t, z_loss=math.nan), ValueError,
         "z_loss must be a finite number >= 0"),
        (lambda z, t: ct.vocab_parallel_cross_entropy(z, t, z_loss="0.1"), TypeError,
         "z_loss must be a float"),
        (lambda z, t: ct.vocab_parallel_cross_entropy(z, t, logit_softcap=0.0), ValueError,
         "logit_softcap must be a finite number > 0"),
        (lambda z, t: ct.vocab_parallel_cross_entropy(z, t, logit_softcap=True), TypeError,
         "logit_softcap must be a float or None"),
        (lambda z, t: ct.linear_cross_entropy(z, torch.ones(3, 9, dtype=torch.float64), t,
                                              logit_softcap=-30.0, group=dist.group.WORLD),
         ValueError, "logit_softcap must be a finite number > 0"),
        (lambda z, t: ct.linear_cross_entropy(z, torch.ones(3, 9, dtype=torch.float32), t,
                                              group=dist.group.WORLD), TypeError, "input's dtype"),
        (lambda z, t: ct.linear_cross_entropy(z, torch.ones(3, 9, dtype=torch.float64), t,
                                              linear_bias=torch.ones(2, dtype=torch.float64),
                                              group=dist.group.WORLD), ValueError, "linear_bias"),
        (lambda z, t: ct.linear_cross_entropy(z, torch.ones(3, 9, dtype=torch.float64), t,
                                              linear_bias=torch.ones(3),
                                              group=dist.group.WORLD), TypeError, "linear_bias"),
        (lambda z, t: ct.linear_cross_entropy(z, torch.ones(3, 9, dtype=torch.float64), t,
                                              chunk_size=0, group=dist.group.WORLD),
         ValueError, "chunk_size"),
        (lambda z, t: ct.linear_cross_entropy(z[0, 0], torch.ones(3, 9, dtype=torch.float64),
                                              t, group=dist.group.WORLD), ValueError, "input"),
    ],
)
def test_bad_input_one_rank(call: Any, error: type[Exception], match: str) -> None:
    inp = _inputs({"seed": 4, "eps": 0.0}, 9)
    with one_rank_group(), pytest.raises(error, match=match):
        call(inp["z"], inp["t"])


def _fails_on_rank_1(rank: int, world: int) -> int:
    if rank == 1:
        raise ValueError("rank 1 fails on purpose")
    return rank


def test_launcher_reports_a_failed_rank() -> None:
    with pytest.raises(launch.RankFailed, match="rank 1 fails on purpose"):
        launch.run(_fails_on_rank_1, 2, timeout=60)
    with pytest.raises(ValueError, match="world_size"):
        launch.run(_fails_on_rank_1, 0)


def test_chapter_experiments_on_one_rank() -> None:
    """The chapter's experiments, in this process on a one-rank group, hold as on two."""
    with one_rank_group():
        out = demos.chapter(0, 1, splits=([9], [7]))
    for name, r in out["knobs"].items():
        if name != "every target ignored":
            _close(r["loss"], r["ref_loss"], torch.float64)
        _close(r["grad"], r["ref_grad"], torch.float64)
        assert len(r["forward_calls"]) == 2 and r["backward_calls"] == []
    lin = out["linear"]
    for key in ("loss", "grad_x", "grad_w", "grad_b"):
        _close(lin[key], lin["ref_" + key], torch.float64)
    for name, (kind, message, seconds) in out["bad inputs"].items():
        alone = name.startswith("batch size differs")  # one rank: nothing to differ from
        assert kind == ("no error" if alone else "ValueError") and seconds < 5, message
    assert out["loss_parallel"]["class indices"][0] == "ok"
    assert out["loss_parallel"]["class indices"][2] < 1e-12
    n = out["normalization"]
    for right, ref in zip(n["global count"], n["reference"], strict=True):
        _close(right, ref, torch.float64)


def test_launcher_child_reports_in_process() -> None:
    """The child's side of the launcher (children are not measured by coverage): run it here."""
    import pickle
    import queue as queue_mod

    store = dist.TCPStore("127.0.0.1", 0, None, is_master=True, timeout=timedelta(seconds=30))
    results: queue_mod.Queue[Any] = queue_mod.Queue()
    threads = torch.get_num_threads()
    try:
        launch._child(0, 1, store.port, 30.0, threads, _fails_on_rank_1, (), results)
        launch._child(1, 2, store.port, 0.5, threads, _fails_on_rank_1, (), results)
    finally:
        torch.set_num_threads(threads)
    rank, ok, out = results.get_nowait()
    assert (rank, ok, pickle.loads(out)) == (0, True, 0)
    rank, ok, out = results.get_nowait()  # rank 1 of 2: nobody joins, the init times out
    assert (rank, ok) == (1, False) and "Traceback" in out
    assert not dist.is_initialized()


def _table(*records: dict[str, int]) -> torch.Tensor:
    base = {"rows": 4, "columns": 3, "index_target": 1, "dtype": 0, "batch_ndim": 1}
    return torch.stack([_loss._record({**base, **r}, None) for r in records])


@pytest.mark.parametrize(
    ("field", "error", "match"),
    [
        ("rows", ValueError, r"the batch differs between ranks \(N = 4 on rank 0, 5 on rank 1\)"),
        ("dtype", TypeError, "same dtype on every rank, got torch.float64 on rank 0, "),
        ("index_target", ValueError, "class indices on every rank or class probabilities"),
        ("t_hash", ValueError, "class indices differ between ranks"),
        ("has_weight", ValueError, "weight must be given on every rank"),
        ("ignore_index", ValueError, "ignore_index must be the same on every rank"),
        ("features", ValueError, "the same number of features"),
        ("z_loss", ValueError, "z_loss must be the same on every rank"),
        ("logit_softcap", ValueError, "logit_softcap must be the same on every rank"),
    ],
)
def test_ranks_that_disagree(field: str, error: type[Exception], match: str) -> None:
    """The checks made on the gathered records: the same message on every rank."""
    table = _table({field: 0}, {field: 1 if field != "rows" else 5})
    if field == "rows":
        table[0, _loss._FIELDS.index("rows")] = 4
    agree = (("features", "input must have the same number of features d on every rank"),)
    with pytest.raises(error, match=match):
        _loss._check_agreement(table, "logits", agree)
    _loss._check_agreement(_table({}, {}), "logits", agree)  # agreeing ranks pass


def test_an_error_travels_to_every_rank() -> None:
    table = torch.stack([_loss._record({}, None), _loss._record({}, TypeError("weight: bad ü"))])
    with pytest.raises(TypeError, match="on rank 1 of the group: weight: bad ü"):
        _loss._raise_first_error(table, 0, None)
    own = TypeError("weight: bad ü")
    with pytest.raises(TypeError) as info:
        _loss._raise_first_error(table, 1, own)
    assert info.value is own  # the failing rank raises its own exception
    _loss._raise_first_error(torch.stack([_loss._record({}, None)] * 2), 0, None)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"t": torch.tensor([0, 1])}, r"target of class indices must have shape \(4,\)"),
        ({"t": torch.full((4, 2), 0.5, dtype=torch.float64)}, "this rank's slice's shape"),
        ({"w": torch.ones(3, dtype=torch.float64, requires_grad=True)},
         "weight must not require grad"),
    ],
)
def test_more_bad_targets_and_weights(kwargs: dict[str, Any], match: str) -> None:
    z = torch.zeros(4, 3, dtype=torch.float64)
    t = kwargs.get("t", torch.tensor([0, 1, 2, 0]))
    with one_rank_group(), pytest.raises(ValueError, match=match):
        ct.vocab_parallel_cross_entropy(z, t, weight=kwargs.get("w"))


def test_z_loss_skips_ignored_rows_even_of_minus_inf() -> None:
    """An ignored row of -inf logits (LSE = -inf): no z-loss term, no NaN, a zero gradient."""
    c = {"seed": 7, "eps": 0.1, "weight": True, "reduction": "mean", "z_loss": 0.05}
    inp = _inputs(c, 9)
    z = inp["z"].clone()
    z[1] = -torch.inf  # row 1 is ignored
    counted = inp["t"] != IGNORE
    zv = z.clone().requires_grad_()
    zr = z[counted].clone().requires_grad_()
    with one_rank_group():
        loss = ct.vocab_parallel_cross_entropy(zv, inp["t"], weight=inp["w"], label_smoothing=0.1,
                                               z_loss=0.05)
        loss.backward()
    ref = _explicit_formula(c, zr, inp["t"][counted], inp["w"])
    ref.backward()
    _close(loss.detach(), ref.detach(), torch.float64)
    _close(zv.grad[counted], zr.grad, torch.float64)
    assert torch.equal(zv.grad[1], torch.zeros(9, dtype=torch.float64))


def test_regularizers_off_change_nothing() -> None:
    """z_loss=0.0 and logit_softcap=None given explicitly: bit for bit the call without them."""
    inp = _inputs({"seed": 8, "eps": 0.0}, 9)
    results = []
    with one_rank_group():
        for kw in ({}, {"z_loss": 0.0, "logit_softcap": None}):
            z = inp["z"].clone().requires_grad_()
            loss = ct.vocab_parallel_cross_entropy(z, inp["t"], weight=inp["w"],
                                                   label_smoothing=0.1, **kw)
            loss.backward()
            results.append((loss.detach(), z.grad))
    assert torch.equal(results[0][0], results[1][0])
    assert torch.equal(results[0][1], results[1][1])


def test_empty_batch() -> None:
    z = torch.zeros(0, 3, dtype=torch.float64, requires_grad=True)
    with one_rank_group():
        loss = ct.vocab_parallel_cross_entropy(z, torch.zeros(0, dtype=torch.int64))
        loss.backward()
    assert float(loss.detach()) == 0.0 and z.grad.shape == (0, 3)  # an empty mean is 0


def test_linear_default_chunk_size() -> None:
    """Without chunk_size, as many rows per chunk as one process would take for the whole V."""
    inp = _inputs({"seed": 5, "eps": 0.0}, 9)
    x = inp["x"].clone().requires_grad_()
    xr = inp["x"].clone().requires_grad_()
    with one_rank_group():
        loss = ct.linear_cross_entropy(x, inp["lw"], inp["t"], group=dist.group.WORLD)
        loss.backward()
    ref = F.cross_entropy(F.linear(xr, inp["lw"]), inp["t"])
    ref.backward()
    _close(loss.detach(), ref.detach(), torch.float64)
    _close(x.grad, xr.grad, torch.float64)


@pytest.mark.parametrize("regularizers", [{}, {"z_loss": 0.05, "logit_softcap": 2.5}],
                         ids=["plain", "z_loss+softcap"])
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_is_computed_in_float32(dtype: torch.dtype,
                                               regularizers: dict[str, Any]) -> None:
    inp = _inputs({"seed": 6, "eps": 0.1}, 9)
    z = inp["z"].to(dtype).requires_grad_()
    with one_rank_group():
        loss = ct.vocab_parallel_cross_entropy(z, inp["t"], label_smoothing=0.1, **regularizers)
        loss.backward()
    z32 = z.detach().float().requires_grad_()
    c = {"eps": 0.1, "reduction": "mean", **regularizers}
    ref = _explicit_formula(c, z32, inp["t"], None)
    ref.backward()
    assert loss.dtype == dtype and z.grad.dtype == dtype
    ulp = float(torch.finfo(dtype).eps)  # the float32 value rounded once: within one ulp
    torch.testing.assert_close(loss.float(), ref.detach(), rtol=ulp, atol=0)
    torch.testing.assert_close(z.grad.float(), z32.grad.to(dtype).float(), rtol=0,
                               atol=float(torch.finfo(dtype).eps) * float(z32.grad.abs().max()))
