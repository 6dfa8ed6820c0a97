"""Cross entropy of logits split by vocabulary across the ranks of a ``torch.distributed`` group.

Rank ``r`` holds the columns ``[o_r, o_r + V_r)`` of the ``(N, V)`` logits, ``o_r = V_0 + ... +
V_{r-1}``. Every row's loss is a sum over classes with coefficients ``a_c`` (the target, class
weights and label smoothing exactly as ``torch.nn.functional.cross_entropy`` defines them, see
:mod:`ce_lib._softmax_ce`):

    loss_n = sum_c a_nc (LSE_n - z_nc),        dloss_n/dz_nc = A_n softmax(z_n)_c - a_nc,

with ``LSE_n = logsumexp_c z_nc`` and ``A_n = sum_c a_nc``. Both sums split over the ranks'
columns. Each rank computes, for every row, five numbers from its own columns: its max ``m_r``,
its log-sum-exp ``lse_r``, ``A_r = sum a_c``, ``gap_r = sum a_c (m_r - z_c)`` (every term >= 0)
and the target's weight if the target class is one of its columns. ONE all-gather of these
``5 N`` numbers gives every rank the same table, from which each computes, in the same order,

    LSE_n = logsumexp_r lse_r,   loss_n = sum_r [A_r (LSE_n - m_r) + gap_r],

a sum of non-negative terms (no cancellation). The backward pass needs ``LSE_n`` and ``A_n``
(kept from the forward pass) and the rank's own logits: no communication. Before that, one
all-gather of a small fixed-size record (shapes, dtype, reduction, smoothing, the range and a
hash of the class indices, and the error, if any, that the rank's own arguments raised) lets
every rank check the whole call, so bad input on one rank makes EVERY rank raise the same
error instead of leaving the others waiting in a collective.

Soft-capping (``c tanh(z / c)``) is elementwise: each rank caps its own block before the
statistics, and multiplies its local gradient by ``1 - tanh(z / c)**2``. The z-loss
``z_loss LSE_n**2`` of a counted row needs only ``LSE_n``, which every rank has after the
gather: it adds ``z_loss LSE_n**2`` to the row's loss and ``2 z_loss LSE_n`` to ``A_n`` (the
factor of the softmax in the gradient). Neither adds communication.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from ... import _validation as v
from ..._reduction import mean_scale
from .._tensors import as_tensor, compute_dtype, kind

#: Fields of the record each rank contributes to the first all-gather.
_FIELDS = (
    "error",  # 0: none, 1: ValueError, 2: TypeError, 3: RuntimeError raised by this rank's arguments
    "rows",  # N
    "columns",  # V_r
    "index_target",  # 1 class indices, 0 probabilities
    "dtype",  # index of the logits' dtype in _DTYPES
    "t_min",  # smallest class index that is not ignore_index (or 2**62)
    "t_max",  # largest (or -1)
    "t_hash",  # a hash of the class indices: every rank must hold the same
    "has_weight",
    "ignore_index",
    "reduction",
    "label_smoothing",  # the float64's bits
    "features",  # d of the linear form (0 for logits)
    "grad",  # bit 0: input needs grad, bit 1: linear_weight, bit 2: linear_bias (linear form)
    "has_bias",
    "batch_ndim",  # 0 for 1-D logits/input, 1 for 2-D
    "z_loss",  # the float64's bits
    "logit_softcap",  # the float64's bits (0.0's, i.e. 0, for None)
)
_RECORD = 80  #: int64 values per rank: the fields, then the error message's bytes
# The error message travels with the record, so every rank can repeat it (496 bytes: the record
# kept its size of 80 values when the z_loss and logit_softcap fields came).
_MESSAGE_BYTES = 8 * (_RECORD - len(_FIELDS))
_DTYPES = (torch.float64, torch.float32, torch.float16, torch.bfloat16)
_ERRORS: tuple[type[Exception], ...] = (ValueError, TypeError, RuntimeError)
_NO_MIN = 1 << 62
_STATS = 5  # m_r, lse_r, A_r, gap_r, target weight


def _all_gather(out: torch.Tensor, inp: torch.Tensor, group: Any) -> None:
    """One collective: ``out`` (R * k, ...) receives every rank's ``inp`` (k, ...), rank order."""
    gather = getattr(dist, "all_gather_single", None) or dist.all_gather_into_tensor
    gather(out, inp, group=group)


def resolve_group(group: Any, name: str = "group") -> tuple[Any, int, int] | None:
    """``(group, rank, world_size)``, or None when no process group exists and none was asked for.

    Raises RuntimeError (on this rank only: without a process group there is nobody to wait for)
    when ``group`` is given but torch.distributed has no initialized process group.
    """
    if not (dist.is_available() and dist.is_initialized()):
        if group is not None:
            raise RuntimeError(
                f"{name} was given but torch.distributed has no initialized process group: "
                "call torch.distributed.init_process_group first"
            )
        return None
    if group is None:
        group = dist.group.WORLD
    rank = dist.get_rank(group)
    if rank < 0:
        raise RuntimeError(f"{name}: this process (global rank {dist.get_rank()}) is not a member")
    return group, rank, dist.get_world_size(group)


@dataclass
class Plan:
    """A validated call: this rank's view and what every rank agreed on."""

    group: Any
    rank: int
    world: int
    rows: int  #: N
    columns: int  #: V_r
    num_classes: int  #: the global V
    offset: int  #: o_r, the global index of this rank's first column
    index_target: bool
    target: torch.Tensor  #: (N,) global class indices or (N, V_r) probabilities
    weight: torch.Tensor | None  #: (V_r,) in the compute dtype
    ignore_index: int
    reduction: str
    eps: float
    dtype: torch.dtype  #: of the result
    cd: torch.dtype  #: the compute dtype
    loss_shape: tuple[int, ...]
    record: torch.Tensor  #: (world, _RECORD): every rank's record
    z_loss: float = 0.0  #: the weight of z_loss * LSE_n**2 per counted row (0: off)
    softcap: float | None = None  #: c of the soft-capping c * tanh(z / c) (None: off)


def _record(fields: dict[str, int], error: Exception | None) -> torch.Tensor:
    rec = torch.zeros(_RECORD, dtype=torch.int64)
    for i, name in enumerate(_FIELDS):
        rec[i] = int(fields.get(name, 0))
    if error is not None:
        rec[0] = next(i for i, t in enumerate(_ERRORS, 1) if isinstance(error, t))
        msg = str(error).encode("utf-8")[:_MESSAGE_BYTES]
        raw = torch.zeros(_MESSAGE_BYTES, dtype=torch.uint8)
        raw[: len(msg)] = torch.tensor(list(msg), dtype=torch.uint8)
        rec[len(_FIELDS):] = raw.view(torch.int64)
    return rec


def _column(table: torch.Tensor, name: str) -> list[int]:
    return table[:, _FIELDS.index(name)].tolist()


def _raise_first_error(table: torch.Tensor, rank: int, local: Exception | None) -> None:
    """Every rank raises: the failing rank its own exception, the others its type and message."""
    codes = _column(table, "error")
    bad = [r for r, c in enumerate(codes) if c]
    if not bad:
        return
    if local is not None:
        raise local
    first = bad[0]
    raw = table[first, len(_FIELDS):].contiguous().view(torch.uint8)
    msg = bytes(raw.tolist()).rstrip(b"\0").decode("utf-8", errors="replace")
    raise _ERRORS[codes[first] - 1](
        f"on rank {first} of the group: {msg} (every rank raises this error, so that none is "
        "left waiting in a collective)"
    )


def _differs(table: torch.Tensor, name: str) -> list[int] | None:
    col = _column(table, name)
    return col if len(set(col)) > 1 else None


def _per_rank(values: list[int]) -> str:
    return ", ".join(f"{x} on rank {r}" for r, x in enumerate(values))


def _index_hash(t: torch.Tensor) -> int:
    """A position-dependent hash of int64 class indices (wraps around; equal inputs, equal hash)."""
    if t.numel() == 0:
        return 0
    mult = torch.arange(t.numel(), dtype=torch.int64, device=t.device) * 2654435761 + 97
    return int(((t.reshape(-1).to(torch.int64) + 1) * mult).sum())


def _eps_bits(eps: float) -> int:
    return struct.unpack("<q", struct.pack("<d", eps))[0]


Describe = Callable[[], tuple[tuple[int, ...], torch.dtype, str, dict[str, int]]]
"""Returns (logits shape, logits dtype, its kind, extra record fields), raising on bad input."""


def _local_checks(
    describe: Describe,
    target: Any,
    weight: Any,
    ignore_index: object,
    reduction: object,
    label_smoothing: object,
    logits_name: str,
    device: torch.device,
    z_loss: object = 0.0,
    logit_softcap: object = None,
) -> tuple[dict[str, int], Any]:
    """The checks one rank can make alone; returns the record's fields and the resolved args."""
    fields: dict[str, int] = {"rows": -1, "columns": -1, "index_target": -1, "dtype": -1}
    ii = v.check_ignore_index(ignore_index)
    red = v.check_reduction(reduction)
    eps = v.check_label_smoothing(label_smoothing)
    zl = v.check_z_loss(z_loss)
    cap = v.check_logit_softcap(logit_softcap)
    fields.update(ignore_index=ii, reduction=v.REDUCTIONS.index(red),
                  label_smoothing=_eps_bits(eps), z_loss=_eps_bits(zl),
                  logit_softcap=_eps_bits(0.0 if cap is None else cap))
    logits_shape, logits_dtype, logits_kind, extra = describe()
    fields.update(extra)
    v.check_floating(logits_kind, logits_name, logits_dtype)
    if len(logits_shape) not in (1, 2):
        raise ValueError(f"{logits_name} must have shape (V_r,) or (N, V_r): this rank's columns, "
                         f"got shape {logits_shape}")
    if logits_shape[-1] == 0:
        raise ValueError(f"{logits_name} must hold at least one column (class) on every rank, "
                         f"got shape {logits_shape}")
    batch = logits_shape[:-1]
    rows, cols = (batch[0] if batch else 1), logits_shape[-1]
    fields.update(rows=rows, columns=cols, batch_ndim=len(batch),
                  dtype=_DTYPES.index(logits_dtype) if logits_dtype in _DTYPES else len(_DTYPES))
    target = as_tensor(target, "target")
    if target.device != device:
        target = target.to(device)
    tk = kind(target)
    if target.requires_grad:
        raise ValueError("target must not require grad: the loss is differentiated with respect "
                         f"to {logits_name} only")
    if tk == "i":
        if tuple(target.shape) != batch:
            raise ValueError(f"target of class indices must have shape {batch} (the global class "
                             f"index of each row) for {logits_name} of shape {logits_shape}, "
                             f"got shape {tuple(target.shape)}")
        t = target.reshape(-1).to(torch.int64)
        valid = t[t != ii]
        fields.update(index_target=1, t_hash=_index_hash(t),
                      t_min=int(valid.min()) if valid.numel() else _NO_MIN,
                      t_max=int(valid.max()) if valid.numel() else -1)
    elif tk == "f":
        shape = (*batch, cols)
        if tuple(target.shape) != shape:
            raise ValueError(f"target of class probabilities must have this rank's slice's shape "
                             f"{shape}, got shape {tuple(target.shape)}")
        v.check_probabilities(target, "target")
        fields.update(index_target=0)
        t = target.reshape(rows, cols)
    else:
        raise TypeError("target must hold integer class indices or floating-point class "
                        f"probabilities, got dtype {target.dtype}")
    if weight is not None:
        weight = as_tensor(weight, "weight").to(device)
        v.check_weight(weight, kind(weight), cols)
        if weight.requires_grad:
            raise ValueError("weight must not require grad")
        fields.update(has_weight=1)
    return fields, (t, weight, ii, red, eps, rows, cols, batch, logits_dtype, zl, cap)


def plan(
    describe: Describe,
    device: torch.device,
    target: Any,
    weight: Any,
    ignore_index: object,
    reduction: object,
    label_smoothing: object,
    grp: tuple[Any, int, int],
    logits_name: str = "logits",
    agree: tuple[tuple[str, str], ...] = (),
    z_loss: object = 0.0,
    logit_softcap: object = None,
) -> Plan:
    """Validate on this rank, gather every rank's record (collective 1), check them all alike."""
    group, rank, world = grp
    local: Exception | None = None
    fields: dict[str, int] = {}
    resolved = None
    try:
        fields, resolved = _local_checks(describe, target, weight, ignore_index, reduction,
                                         label_smoothing, logits_name, device, z_loss,
                                         logit_softcap)
    except _ERRORS as exc:
        local = exc
    table = torch.empty(world * _RECORD, dtype=torch.int64, device=device)
    _all_gather(table, _record(fields, local).to(device), group)
    table = table.reshape(world, _RECORD).cpu()
    _raise_first_error(table, rank, local)
    assert resolved is not None
    t, weight, ii, red, eps, rows, cols, batch, dtype, zl, cap = resolved
    _check_agreement(table, logits_name, agree)
    columns = _column(table, "columns")
    num_classes = sum(columns)
    if _column(table, "index_target")[0] == 1:
        lo = min(_column(table, "t_min"))
        hi = max(_column(table, "t_max"))
        bad = lo if lo < 0 else hi if hi >= num_classes else None
        if bad is not None:
            raise ValueError(
                f"target contains class index {bad} outside [0, {num_classes}) (and not "
                f"ignore_index={ii}): the global vocabulary is the {world} ranks' columns "
                f"({_per_rank(columns)})"
            )
    cd = compute_dtype(dtype)
    return Plan(
        group=group, rank=rank, world=world, rows=rows, columns=cols, num_classes=num_classes,
        offset=sum(columns[:rank]), index_target=kind(t) == "i", target=t,
        weight=None if weight is None else weight.to(cd), ignore_index=ii, reduction=red,
        eps=eps, dtype=dtype, cd=cd, loss_shape=batch if red == "none" else (),
        record=table, z_loss=zl, softcap=cap,
    )


def _check_agreement(
    table: torch.Tensor, logits_name: str, agree: tuple[tuple[str, str], ...]
) -> None:
    """What every rank must hold alike; the same message on every rank."""
    rows = _differs(table, "rows")
    if rows or _differs(table, "batch_ndim"):
        raise ValueError(
            f"{logits_name}: the batch differs between ranks (N = "
            f"{_per_rank(_column(table, 'rows'))}): every rank holds all N rows and its own "
            "columns of the classes"
        )
    if _differs(table, "dtype"):
        names = [str(_DTYPES[i]) if i < len(_DTYPES) else "?" for i in _column(table, "dtype")]
        raise TypeError(f"{logits_name} must have the same dtype on every rank, got "
                        f"{_per_rank(names)}")
    if _differs(table, "index_target"):
        raise ValueError("target must be class indices on every rank or class probabilities on "
                         "every rank, not a mix")
    if _differs(table, "t_hash"):
        raise ValueError("target: the class indices differ between ranks; every rank must pass "
                         "the same (N,) global class indices")
    if _differs(table, "has_weight"):
        raise ValueError("weight must be given on every rank (its slice) or on none")
    for name in ("ignore_index", "reduction", "label_smoothing", "z_loss", "logit_softcap"):
        if _differs(table, name):
            raise ValueError(f"{name} must be the same on every rank")
    for name, message in agree:
        if _differs(table, name):
            raise ValueError(message)


# ---------------------------------------------------------------------------------------------
# The per-row statistics and the local gradient, for a block of rows of this rank's logits.


def _coefficients(p: Plan, z: torch.Tensor, start: int, stop: int) -> tuple[Any, Any, Any]:
    """Class-index targets of a block of rows: ((local column, mine), weight a_y, valid rows)."""
    t = p.target[start:stop]
    valid = t != p.ignore_index
    j = t - p.offset
    mine = valid & (j >= 0) & (j < p.columns)
    jj = torch.where(mine, j, 0)
    if p.weight is None:
        wy = mine.to(p.cd)
    else:
        wy = torch.where(mine, p.weight[jj], 0).to(p.cd)
    return (jj, mine), wy, valid


def _dense_coefficients(p: Plan, z: torch.Tensor, start: int, stop: int) -> torch.Tensor | None:
    """The coefficient block a (rows, V_r) when it is not a single column (smoothing or soft)."""
    eps = p.eps
    if p.index_target:
        if eps == 0:
            return None
        smooth = eps / p.num_classes
        w = torch.full((p.columns,), smooth, dtype=p.cd, device=z.device) if p.weight is None \
            else p.weight * smooth
        (jj, _), wy, valid = _coefficients(p, z, start, stop)
        a = w.expand(stop - start, -1) * valid.to(p.cd)[:, None]  # a new tensor
        r = torch.arange(stop - start, device=z.device)
        a[r, jj] += (1 - eps) * wy
        return a
    t = p.target[start:stop].to(p.cd)
    a = t * (1 - eps) if eps > 0 else t
    if p.weight is not None:
        a = a * p.weight
    if eps > 0:
        a = a + (eps / p.num_classes) * (1.0 if p.weight is None else p.weight)
    return a


def row_stats(p: Plan, z: torch.Tensor, start: int, stop: int, out: torch.Tensor) -> None:
    """This rank's 5 statistics of rows [start, stop) into ``out`` (5, stop - start).

    ``z`` are the block's logits (rows, V_r) in the compute dtype (left unchanged: with
    soft-capping the statistics are those of ``c * tanh(z / c)``, computed in a new block).
    """
    if p.softcap is not None:
        z = torch.tanh(z / p.softcap).mul_(p.softcap)
    m = z.amax(1)
    m_safe = torch.where(torch.isfinite(m), m, 0)
    lse = torch.log(torch.exp(z - m_safe[:, None]).sum(1)) + m_safe
    a = _dense_coefficients(p, z, start, stop)
    if a is None:  # class indices, no smoothing: one coefficient, at the target's column
        (jj, mine), wy, _ = _coefficients(p, z, start, stop)
        r = torch.arange(stop - start, device=z.device)
        coeff_sum = wy
        gap = torch.where(mine & (wy != 0), wy * (m - z[r, jj]), 0)
    else:
        coeff_sum = a.sum(1)
        gap = torch.where(a != 0, (m[:, None] - z) * a, 0).sum(1)
        wy = _coefficients(p, z, start, stop)[1] if p.index_target else None
    out[0] = m
    out[1] = lse
    out[2] = coeff_sum
    out[3] = gap
    out[4] = 0 if wy is None else wy


@dataclass
class Rows:
    """What every rank knows after the gather, per row (identical on every rank)."""

    lse: torch.Tensor  #: (N,) the global log-sum-exp (of the capped logits)
    coeff_sum: torch.Tensor  #: (N,) A_n, plus 2 z_loss LSE_n in counted rows: softmax's factor
    losses: torch.Tensor  #: (N,) per-row losses (with z_loss LSE_n**2 in counted rows)
    denominator: torch.Tensor | float  #: what the mean divides by


def combine(p: Plan, local: torch.Tensor) -> Rows:
    """Collective 2: gather every rank's (5, N) statistics and combine them, in rank order."""
    table = torch.empty(p.world * _STATS, p.rows, dtype=p.cd, device=local.device)
    _all_gather(table, local, p.group)
    table = table.reshape(p.world, _STATS, p.rows)
    m, lse_r, coeff, gap, wy = table.unbind(1)
    lse = torch.logsumexp(lse_r, 0)
    terms = torch.where(coeff != 0, coeff * (lse - m), 0) + gap
    losses = terms.sum(0)
    coeff_sum = coeff.sum(0)
    denominator: torch.Tensor | float = wy.sum() if p.index_target else float(p.rows)
    if p.z_loss != 0:  # z_loss LSE_n**2 per counted row: LSE_n is already global, no collective
        term, factor = p.z_loss * lse * lse, 2 * p.z_loss * lse
        if p.index_target:  # ignored rows get neither the term nor its gradient
            counted = p.target != p.ignore_index
            term, factor = torch.where(counted, term, 0), torch.where(counted, factor, 0)
        losses = losses + term
        coeff_sum = coeff_sum + factor
    return Rows(lse, coeff_sum, losses, denominator)


def reduced_loss(p: Plan, rows: Rows) -> torch.Tensor:
    if p.reduction == "none":
        out = rows.losses.reshape(p.loss_shape)
    elif p.reduction == "sum":
        out = rows.losses.sum()
    else:
        out = rows.losses.sum() * mean_scale(rows.denominator)
    return out.to(p.dtype)


def row_scale(p: Plan, rows: Rows, grad_output: torch.Tensor) -> torch.Tensor:
    """s_n: what each row's gradient is multiplied by (mean: 1/denominator; none: upstream)."""
    g = grad_output.to(p.cd)
    if p.reduction == "none":
        return g.reshape(-1).expand(p.rows) if g.numel() == 1 and p.rows != 1 else g.reshape(-1)
    scale = mean_scale(rows.denominator) if p.reduction == "mean" else 1.0
    return (g * scale).expand(p.rows)


def local_grad(p: Plan, rows: Rows, z: torch.Tensor, start: int, stop: int,
               scale: torch.Tensor) -> torch.Tensor:
    """s_n (A_n softmax(z_n) - a_n) on this rank's columns, written over ``z`` (compute dtype).

    With z-loss, ``A_n`` is ``A_n + 2 z_loss LSE_n`` (counted rows; see :func:`combine`). With
    soft-capping the softmax is that of the capped logits ``c tanh(z / c)``, and the result is
    multiplied by their derivative ``1 - tanh(z / c)**2``: the one extra block this takes
    holds the capped logits.
    """
    s = scale[start:stop]
    if p.softcap is None:
        g = z
    else:
        z.div_(p.softcap).tanh_()  # z: tanh(z / c)
        g = z * p.softcap  # the capped logits, then the gradient with respect to them
    g.sub_(rows.lse[start:stop, None]).exp_()
    g.mul_((rows.coeff_sum[start:stop] * s)[:, None])
    a = _dense_coefficients(p, g, start, stop)
    if a is None:
        (jj, mine), wy, _ = _coefficients(p, g, start, stop)
        r = torch.arange(stop - start, device=g.device)
        g[r, jj] -= torch.where(mine, wy * s, 0)
    else:
        g.sub_(a * s[:, None])
    if p.softcap is not None:
        z.square_().neg_().add_(1).mul_(g)  # (1 - tanh(z / c)**2) dloss/ds
    if p.index_target:  # ignored rows: exactly 0 (no 0 * inf from a row of -inf logits)
        valid = p.target[start:stop] != p.ignore_index
        z.masked_fill_(~valid[:, None], 0)
    return z


def blocks(num_rows: int, block: int) -> Iterator[tuple[int, int]]:
    for start in range(0, num_rows, block):
        yield start, min(start + block, num_rows)


def default_block(num_columns: int) -> int:
    """Rows per block: about 2**20 logits (4 MiB of float32), at least one row."""
    return max(1, (1 << 20) // max(num_columns, 1))
