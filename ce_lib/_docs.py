"""What both backends share: the docstrings of the public functions, and the constants
their formulas use. Neither backend imports the other; both attach these docstrings.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

#: torch.nn.functional.binary_cross_entropy clamps each log at -100 so that p = 0 or 1 stays finite.
LOG_CLAMP = -100.0

DOCS: dict[str, str] = {}

DOCS["logsumexp"] = r"""Log-sum-exp along ``axis``, without overflow.

    .. math:: \operatorname{logsumexp}(x) = \log \sum_j e^{x_j} = m + \log \sum_j e^{x_j - m},
       \quad m = \max_j x_j

    Args:
        x: floating-point array.
        axis: the axis to reduce.
        keepdims: keep ``axis`` with length 1.

    Returns:
        An array of ``x``'s dtype. ``-inf`` entries contribute nothing (a row of only ``-inf``, or
        an empty ``axis``, gives ``-inf``, the log of 0); ``+inf`` gives ``+inf``. NaN in ``x``
        raises ``ValueError``.
    """

DOCS["log_softmax"] = r"""Logarithm of the softmax along ``axis``, computed without forming the softmax.

    .. math:: \log \operatorname{softmax}(x)_i = x_i - \operatorname{logsumexp}(x)

    Args:
        x: floating-point array of logits; ``-inf`` marks an impossible class.
        axis: the class axis.

    Returns:
        An array of ``x``'s shape and dtype. Raises ``ValueError`` for NaN or ``+inf`` logits and
        for a slice whose logits are all ``-inf``.
    """

DOCS["softmax"] = r"""Softmax along ``axis``: turns logits into a probability distribution.

    .. math:: \operatorname{softmax}(x)_i = \frac{e^{x_i}}{\sum_j e^{x_j}}
       = e^{x_i - \operatorname{logsumexp}(x)}

    Computed as :math:`e^{x_i - m} / \sum_j e^{x_j - m}` with :math:`m = \max_j x_j`, which cannot
    overflow.

    Args:
        x: floating-point array of logits; ``-inf`` marks an impossible class (probability 0).
        axis: the class axis.

    Returns:
        An array of ``x``'s shape and dtype whose slices along ``axis`` sum to 1. Raises
        ``ValueError`` for NaN or ``+inf`` logits and for a slice whose logits are all ``-inf``.
    """

DOCS["sigmoid"] = r"""The logistic sigmoid, elementwise, without overflow for any input.

    .. math:: \sigma(x) = \frac{1}{1 + e^{-x}} = \frac{e^{x}}{1 + e^{x}}

    The first form is used for :math:`x \ge 0` and the second for :math:`x < 0`, so ``exp`` only
    ever sees non-positive arguments.

    Args:
        x: floating-point array.

    Returns:
        An array of ``x``'s shape and dtype with values in [0, 1]. NaN raises ``ValueError``.
    """

DOCS["log_sigmoid"] = r"""The logarithm of the sigmoid, elementwise, stable for any input.

    .. math:: \log \sigma(x) = -\operatorname{softplus}(-x) = \min(x, 0) - \log(1 + e^{-|x|})

    Args:
        x: floating-point array.

    Returns:
        An array of ``x``'s shape and dtype with values in (-inf, 0]. NaN raises ``ValueError``.
    """

DOCS["entropy"] = r"""Shannon entropy of the distributions along the last axis.

    .. math:: H(p) = -\sum_i p_i \log p_i, \qquad 0 \log 0 = 0

    Args:
        p: probabilities, one distribution per slice along the last axis (entries in [0, 1]
            summing to 1). Integer or boolean one-hot rows are accepted.
        base: logarithm base; ``None`` (default) gives nats, ``2`` gives bits.

    Returns:
        An array of shape ``p.shape[:-1]``.
    """

DOCS["cross_entropy"] = r"""Cross entropy of ``q`` relative to ``p``, along the last axis.

    .. math:: H(p, q) = -\sum_i p_i \log q_i = H(p) + \mathrm{KL}(p \,\|\, q),
       \qquad 0 \log q = 0

    Args:
        p: the true distribution(s) (entries in [0, 1] summing to 1 along the last axis);
            integer or boolean one-hot rows are accepted.
        q: the predicted distribution(s), floating-point, broadcastable against ``p``.
        base: logarithm base; ``None`` (default) gives nats, ``2`` gives bits.

    Returns:
        An array of the broadcast shape without its last axis; ``inf`` where some
        :math:`p_i > 0` has :math:`q_i = 0`.
    """

DOCS["kl_divergence"] = r"""Kullback–Leibler divergence of ``q`` from ``p``, along the last axis.

    .. math:: \mathrm{KL}(p \,\|\, q) = \sum_i p_i \log \frac{p_i}{q_i} = H(p, q) - H(p),
       \qquad 0 \log \frac{0}{q} = 0

    Args:
        p: the true distribution(s); integer or boolean one-hot rows are accepted.
        q: the approximating distribution(s), floating-point, broadcastable against ``p``.
        base: logarithm base; ``None`` (default) gives nats, ``2`` gives bits.

    Returns:
        A non-negative array of the broadcast shape without its last axis; 0 exactly where
        ``p == q``, ``inf`` where some :math:`p_i > 0` has :math:`q_i = 0`.
    """

DOCS["binary_cross_entropy"] = r"""Binary cross entropy between predicted probabilities and targets.

    .. math:: \ell_i = -w_i \left[ t_i \log p_i + (1 - t_i) \log(1 - p_i) \right]

    Each logarithm is clamped at :math:`-100`, exactly as
    ``torch.nn.functional.binary_cross_entropy`` does, so ``p = 0`` or ``1`` gives a finite loss.
    Prefer :func:`binary_cross_entropy_with_logits` when the probabilities come from a sigmoid.

    Args:
        probs: predicted probabilities :math:`p \in [0, 1]`, any shape, floating-point.
        target: targets :math:`t \in [0, 1]` of the same shape (integer or boolean 0/1 accepted).
        weight: optional weights :math:`w`, broadcastable to ``probs``.
        reduction: ``"mean"`` (over all elements), ``"sum"`` or ``"none"``.

    Returns:
        The loss, in ``probs``' dtype: a scalar, or per element for ``reduction="none"``.
    """

DOCS["binary_cross_entropy_with_logits"] = r"""Binary cross entropy of ``sigmoid(logits)``, computed from the logits without overflow.

    .. math:: \ell_i = -w_i \left[ \rho\, t_i \log \sigma(z_i) + (1 - t_i) \log(1 - \sigma(z_i)) \right]
       = w_i \left[ (1 - t_i) \operatorname{softplus}(z_i) + \rho\, t_i \operatorname{softplus}(-z_i) \right]

    with :math:`\operatorname{softplus}(z) = \log(1 + e^{z}) = \max(z, 0) + \log(1 + e^{-|z|})`,
    exact for any finite :math:`z` (for :math:`z = 40`, :math:`t = 0` it gives 40, where
    ``log(1 - sigmoid(40))`` is ``-inf``). Equals
    ``torch.nn.functional.binary_cross_entropy_with_logits`` to rounding, and is more accurate for
    small losses: both terms are non-negative, so nothing cancels (at :math:`z = -30, t = 0`
    PyTorch's form keeps 2 correct digits of :math:`9.36 \times 10^{-14}`, this one all of them).

    Args:
        logits: raw scores :math:`z`, any shape, finite, floating-point.
        target: targets :math:`t \in [0, 1]` of the same shape (integer or boolean 0/1 accepted).
        weight: optional weights :math:`w`, broadcastable to ``logits``.
        pos_weight: optional weight :math:`\rho` of the positive term, broadcast along the last
            axis (one per class in multi-label problems): :math:`\rho > 1` raises recall.
        reduction: ``"mean"`` (over all elements), ``"sum"`` or ``"none"``.

    Returns:
        The loss, in ``logits``' dtype.
    """

DOCS["categorical_cross_entropy"] = r"""Categorical cross entropy from predicted probabilities, classes on the last axis.

    .. math:: \ell_n = -\sum_{c=1}^{C} t_{nc} \log p_{nc}

    The form the tutorials teach; with a one-hot target it is :math:`-\log p_{n,y_n}`. Each
    logarithm is clamped at :math:`-100` (as in :func:`binary_cross_entropy`), so a zero
    probability gives a large finite loss. When the probabilities come from a softmax, use
    :func:`softmax_cross_entropy` on the logits instead: it is exact where this one saturates.

    Args:
        probs: predicted distributions, shape ``(..., C)``, rows in [0, 1] summing to 1.
        target: either distributions of the same shape (one-hot or soft rows; integers
            accepted), or integer class indices of shape ``probs.shape[:-1]``.
        reduction: ``"mean"`` (over rows), ``"sum"`` or ``"none"``.

    Returns:
        The loss, in ``probs``' dtype: a scalar, or one value per row for ``reduction="none"``.
    """

DOCS["softmax_cross_entropy"] = r"""Cross entropy between ``softmax(logits)`` and the target; equals ``F.cross_entropy``.

    For class indices :math:`y_n`, class weights :math:`w` and label smoothing :math:`\varepsilon`:

    .. math:: \ell_n = (1 - \varepsilon)\, w_{y_n} \left(\operatorname{logsumexp}(z_n) - z_{n,y_n}\right)
       + \frac{\varepsilon}{C} \sum_{c} w_c \left(\operatorname{logsumexp}(z_n) - z_{nc}\right)

    and ``"mean"`` divides :math:`\sum_n \ell_n` by :math:`\sum_n w_{y_n}` over the elements whose
    target is not ``ignore_index`` (PyTorch's weighted mean). For class probabilities
    :math:`t_n`: :math:`\ell_n = -\sum_c w_c \tilde t_{nc} \log \operatorname{softmax}(z_n)_c` with
    :math:`\tilde t = (1 - \varepsilon) t + \varepsilon / C`, and ``"mean"`` divides by the number
    of elements. Never forms ``log(softmax(z))``.

    Two regularizers of large language models are built in (both off by default, and then the
    result is bit for bit the one without them). **Logit soft-capping** (Gemma 2) with cap
    :math:`c` first replaces every logit by :math:`s = c \tanh(z / c)`, which lies in
    :math:`(-c, c)`; everything above, and the z-loss, then uses :math:`s`. **z-loss** (PaLM) with
    weight :math:`k` adds to every element that is not ignored (every row, for probability
    targets)

    .. math:: \ell_n \mathrel{+}= k \left(\operatorname{logsumexp}(s_n)\right)^2,

    which pulls the log-normalizer :math:`\log Z_n` towards 0. Class weights do not scale it
    (it regularizes the normalizer of the whole row, not a class), but ``"mean"`` divides it by
    the loss's own denominator, so that ``mean`` is ``sum / denominator`` for the total.
    ``F.cross_entropy(c * tanh(z / c), ...) + k * lse**2`` masked and reduced the same way is
    the explicit formula; this computes it in the same single pass (no extra logits-sized
    buffer). Compared with Liger Kernel's ``lse_square_scale`` and ``softcap``: the same terms,
    except that with class weights Liger divides the z-loss sum by the *number* of non-ignored
    elements and the loss by their weight sum; here both use the weight sum. PaLM used
    :math:`k = 10^{-4}`, Gemma 2 :math:`c = 30` for its final logits.

    Small plain calls (2-D float32/float64 logits of at most :math:`2^{17}` entries, int64
    indices, no weight, no ignored element, no knob) run ``F.cross_entropy`` itself in the torch
    backend, after the same validation, so loss and gradient are PyTorch's bit for bit;
    everything else runs ce_lib's one-pass kernel (see the API reference).

    Args:
        logits: unnormalised scores of shape ``(C,)``, ``(N, C)`` or ``(N, C, d1, ...)``: the class
            axis is 1 (0 for 1-D input), as in PyTorch. ``-inf`` marks an impossible class.
        target: integer class indices of shape ``(N, d1, ...)`` (``()`` for 1-D logits), each in
            ``[0, C)`` or equal to ``ignore_index``; or class probabilities of the logits' shape.
        weight: optional class weights of shape ``(C,)``, finite and non-negative (PyTorch also
            accepts negative weights; see the API reference's deviations).
        ignore_index: a class-index target value that contributes neither loss nor gradient nor
            count (padding). Ignored for probability targets.
        reduction: ``"mean"``, ``"sum"`` or ``"none"`` (one loss per element, shape ``(N, d1, ...)``).
        label_smoothing: :math:`\varepsilon \in [0, 1]`, mixing the target with the uniform
            distribution.
        z_loss: :math:`k \ge 0`, finite, keyword-only: the weight of the z-loss term (0: off).
        logit_softcap: :math:`c > 0`, finite, or ``None`` (off), keyword-only: the cap of
            :math:`c \tanh(z / c)`. With a cap, infinite logits are its limits :math:`\pm c`
            (finite loss, zero gradient), so ``-inf`` no longer masks a class; NaN still raises.

    Returns:
        The loss, in the logits' dtype (float16 is computed in float32). When the mean's
        denominator :math:`\sum_n w_{y_n}` is 0 (every target is ``ignore_index``, or every
        remaining target's class has weight 0) the mean is 0 and so is its gradient, even with
        label smoothing, where PyTorch returns NaN. An ignored element or one of weight 0 has
        loss 0 even if the logit of its stand-in class is ``-inf``.

    Raises:
        TypeError: integer or boolean logits; a target that is neither integer nor floating.
        ValueError: inconsistent shapes, class indices out of range, target probabilities outside
            [0, 1], a bad ``weight``/``reduction``/``label_smoothing``/``z_loss``/
            ``logit_softcap``, NaN or ``+inf`` logits (without a cap), or a row whose logits are all
            ``-inf``.
    """

DOCS["softmax_jacobian"] = r"""The Jacobian of softmax, batched over all other axes.

    .. math:: J_{ij} = \frac{\partial p_i}{\partial z_j} = p_i (\delta_{ij} - p_j),
       \qquad J = \operatorname{diag}(p) - p p^\top

    Args:
        logits: floating-point array; the classes lie along ``axis``.
        axis: the class axis.

    Returns:
        An array of shape ``batch + (C, C)``, where ``batch`` is the logits' shape without
        ``axis``; ``J[..., i, j]`` is the derivative of output ``i`` with respect to input ``j``.
        Each ``J`` is symmetric, its rows sum to 0, and it is positive semi-definite of rank
        ``C - 1`` when every :math:`p_i > 0`.
    """

DOCS["softmax_cross_entropy_value_and_grad"] = r"""The loss of :func:`softmax_cross_entropy` and its gradient, in one pass over the logits.

    .. math:: \frac{\partial \ell_n}{\partial z_n} = S_n \operatorname{softmax}(z_n) - a_n,
       \qquad S_n = \sum_c a_{nc}

    where :math:`a_n` is the effective target row: :math:`a_n = \text{one-hot}(y_n)` in the plain
    case, so the gradient is :math:`(\operatorname{softmax}(z_n) - y_n)/N` for the mean. With
    z-loss :math:`k` and soft-capping :math:`c` (:math:`s = c \tanh(z / c)`,
    :math:`p_n = \operatorname{softmax}(s_n)`) the row becomes

    .. math:: \frac{\partial \ell_n}{\partial z_n} = \left(S_n p_n - a_n
       + 2 k \operatorname{logsumexp}(s_n)\, p_n\right) \odot \left(1 - (s_n / c)^2\right),

    the z-loss term only for elements that are not ignored, the last factor only with a cap
    (:math:`1 - \tanh^2`, computed from the :math:`\tanh` the loss used). The arguments are
    those of :func:`softmax_cross_entropy`.

    Returns:
        ``(loss, grad)``, ``grad`` with the logits' shape and dtype; for ``reduction="none"`` it
        is the gradient of the sum of the per-element losses.
    """

DOCS["softmax_cross_entropy_grad"] = r"""Gradient of :func:`softmax_cross_entropy` with respect to the logits, in closed form.

    .. math:: \frac{\partial L}{\partial z_{n}} = \frac{1}{N}\left(\operatorname{softmax}(z_n)
       - \text{one-hot}(y_n)\right) \quad \text{(plain mean)}

    With weights, ``ignore_index``, label smoothing or probability targets the row becomes
    :math:`S_n \operatorname{softmax}(z_n) - a_n` (see
    :func:`softmax_cross_entropy_value_and_grad`), scaled by the mean's denominator; ``z_loss``
    adds :math:`2 k \operatorname{logsumexp}(s_n) \operatorname{softmax}(s_n)` and
    ``logit_softcap`` multiplies by :math:`1 - \tanh^2(z / c)` (same page). For
    ``reduction="none"`` it is the gradient of the sum of the per-element losses.

    Returns:
        An array of the logits' shape and dtype.
    """

DOCS["binary_cross_entropy_with_logits_grad"] = r"""Gradient of :func:`binary_cross_entropy_with_logits` with respect to the logits.

    .. math:: \frac{\partial \ell_i}{\partial z_i} = w_i \left[ (1 + (\rho - 1) t_i)\, \sigma(z_i)
       - \rho\, t_i \right] = w_i (\sigma(z_i) - t_i) \quad \text{when } \rho = 1

    divided by the number of elements for ``reduction="mean"``; for ``"none"`` it is the
    gradient of the sum of the per-element losses.

    Returns:
        An array of the logits' shape and dtype.
    """

DOCS["linear_cross_entropy_value_and_grad"] = r"""Softmax cross entropy of the logits ``input @ linear_weight.T + linear_bias``, and its gradients.

    The value is that of :func:`softmax_cross_entropy` applied to the logits
    :math:`Z = X W^\top + b` (the semantics of ``torch.nn.functional.linear_cross_entropy``), but
    the :math:`N \times V` logits are never formed: the rows of :math:`X` are processed
    ``chunk_size`` at a time, and the closed-form gradient :math:`G` of each chunk's logits is
    consumed at once,

    .. math:: \nabla_X L = G W, \qquad \nabla_W L = G^\top X, \qquad \nabla_b L = \textstyle\sum_n G_n.

    Only one chunk of logits (and one of its gradient) exists at any time. The mean divides by
    the denominator of the whole batch, so chunking changes nothing but rounding.

    Args:
        input: :math:`X`, shape ``(N, d)`` or ``(d,)``, floating-point.
        linear_weight: :math:`W`, shape ``(V, d)``, the input's dtype.
        target: class indices of shape ``(N,)`` (``()`` for 1-D input), or class probabilities
            of shape ``(N, V)`` (``(V,)``).
        linear_bias: optional :math:`b`, shape ``(V,)``, the input's dtype.
        weight, reduction, ignore_index, label_smoothing: as in :func:`softmax_cross_entropy`
            (``ignore_index=None`` means -100, as in PyTorch's ``linear_cross_entropy``).
        chunk_size: rows of :math:`X` per chunk; ``None`` picks :math:`\max(64, 2^{22}/V)` rows
            (16 MiB of float32 logits per chunk, with at most N rows). Beyond the gradients
            themselves, the extra memory is one chunk of logits (overwritten by their gradient)
            and a cache-sized slab of :math:`2^{20}` elements.
        z_loss, logit_softcap: as in :func:`softmax_cross_entropy`, applied to the logits
            :math:`Z` slab by slab (a cap adds one more slab-sized buffer).

    Returns:
        ``(loss, grad_input, grad_linear_weight, grad_linear_bias)``: the loss as reduced, and its
        gradients with the shapes and dtype of ``input``, ``linear_weight`` and ``linear_bias``
        (``None`` without a bias). For ``reduction="none"`` they are the gradients of the sum of
        the per-row losses.
    """

DOCS["sigmoid_focal_loss"] = r"""Binary focal loss of Lin et al. (2017): ``torchvision.ops.sigmoid_focal_loss``, computed stably.

    With :math:`p = \sigma(z)`, :math:`p_t = p\,t + (1 - p)(1 - t)` and the binary cross entropy
    :math:`\mathrm{ce}` of :func:`binary_cross_entropy_with_logits`:

    .. math:: \ell_i = \alpha_{t,i}\, (1 - p_{t,i})^{\gamma}\, \mathrm{ce}(z_i, t_i),
       \qquad \alpha_t = \alpha\, t + (1 - \alpha)(1 - t)

    and :math:`\alpha_t = 1` when :math:`\alpha < 0` (no balancing), exactly as torchvision
    defines it. :math:`\gamma = 0` and :math:`\alpha < 0` give binary cross entropy; a larger
    :math:`\gamma` shrinks the loss of well-classified elements (:math:`p_t \to 1`).
    Computed without ``log(sigmoid)`` and without the cancellation of :math:`1 - p_t`:
    :math:`1 - p_t = (1 - t)\,\sigma(z) + t\,\sigma(-z)` and
    :math:`\mathrm{ce} = (1 - t)\operatorname{softplus}(z) + t \operatorname{softplus}(-z)`
    are sums of non-negative terms, finite for any finite :math:`z`.

    Args:
        logits: raw scores :math:`z`, any shape, finite, floating-point.
        target: targets :math:`t \in [0, 1]` of the same shape (soft targets allowed, as in
            torchvision; integer or boolean 0/1 accepted).
        alpha: weight :math:`\alpha \le 1` of the positive class (default 0.25); a negative
            value disables the balancing term.
        gamma: focusing parameter :math:`\gamma \ge 0` (default 2).
        reduction: ``"none"`` (the default, as in torchvision), ``"mean"`` over all elements,
            or ``"sum"``.

    Returns:
        The loss, in ``logits``' dtype (half precision computed in float32 and rounded once).
        In the torch backend the gradient with respect to the logits (and soft targets) is the
        closed form of :func:`sigmoid_focal_loss_grad`.

    Raises:
        TypeError: non-floating logits, a non-numeric target, or ``alpha``/``gamma`` that are
            not real numbers.
        ValueError: shapes that differ, targets outside [0, 1], NaN or infinite logits,
            :math:`\gamma < 0`, :math:`\alpha > 1`, non-finite ``alpha`` or ``gamma``, or a bad
            ``reduction``.
    """

DOCS["sigmoid_focal_loss_grad"] = r"""Gradient of :func:`sigmoid_focal_loss` with respect to the logits, in closed form.

    With :math:`q = 1 - p_t = (1 - t)\,\sigma(z) + t\,\sigma(-z)`, :math:`\partial\mathrm{ce}/\partial z
    = \sigma(z) - t` and :math:`\partial q / \partial z = \sigma(z)\sigma(-z)(1 - 2t)`:

    .. math:: \frac{\partial \ell}{\partial z} = \alpha_t\, q^{\gamma}
       \left[ \sigma(z) - t + \gamma\, \mathrm{ce}\; r\, (1 - 2t) \right],
       \qquad r = \frac{\sigma(z)\,\sigma(-z)}{q} = \frac{1}{1 + (1 - t) e^{z} + t e^{-z}}

    The textbook factor :math:`q^{\gamma - 1}`, infinite where :math:`q = 0` when
    :math:`\gamma < 1`, never appears: :math:`r \in [0, 1]` is computed from :math:`e^{-|z|}`, so
    the gradient is finite and exact for any finite logits and any :math:`\gamma \ge 0`. The
    arguments are those of :func:`sigmoid_focal_loss`.

    Returns:
        An array of the logits' shape and dtype: divided by the number of elements for
        ``reduction="mean"``; for ``"none"`` the gradient of the sum of the per-element losses.
    """

DOCS["softmax_focal_loss"] = r"""Multi-class focal loss: softmax cross entropy scaled by :math:`(1 - p_y)^\gamma`.

    For a class-index target :math:`y_n` and :math:`p_n = \operatorname{softmax}(z_n)`:

    .. math:: \ell_n = -\, w_{y_n} \left(1 - p_{n,y_n}\right)^{\gamma} \log p_{n,y_n}

    with the target, ``weight``, ``ignore_index`` and ``reduction`` semantics of
    :func:`softmax_cross_entropy`: ``"mean"`` divides :math:`\sum_n \ell_n` by
    :math:`\sum_n w_{y_n}` over the elements whose target is not ``ignore_index`` (0 when that
    sum is 0). :math:`\gamma = 0` is :func:`softmax_cross_entropy` itself, bit for bit (the same
    kernel computes it). For :math:`\gamma > 0`, :math:`-\log p_y` is computed as
    :math:`\operatorname{log1p}\bigl(\sum_{c \ne y} e^{z_c - z_y}\bigr)` when :math:`z_y` is
    within 1 of the largest logit and :math:`1 - p_y` as :math:`-\operatorname{expm1}(\log p_y)`,
    so a confident row keeps all the digits of its small loss.

    Args:
        logits: unnormalised scores of shape ``(C,)``, ``(N, C)`` or ``(N, C, d1, ...)``: the
            class axis is 1 (0 for 1-D input). ``-inf`` marks an impossible class.
        target: integer class indices of shape ``(N, d1, ...)`` (``()`` for 1-D logits), each in
            ``[0, C)`` or equal to ``ignore_index``. Class probabilities are not accepted.
        gamma: focusing parameter :math:`\gamma \ge 0` (default 2).
        weight: optional class weights of shape ``(C,)``, finite and non-negative.
        ignore_index: a target value that contributes neither loss nor gradient nor count.
        reduction: ``"mean"``, ``"sum"`` or ``"none"`` (one loss per element).

    Returns:
        The loss, in the logits' dtype (half precision computed in float32 and rounded once).
        In the torch backend the gradient is the closed form of
        :func:`softmax_focal_loss_value_and_grad`.

    Raises:
        TypeError: non-floating logits, a target that is not integer, a ``gamma`` that is not a
            real number.
        ValueError: :math:`\gamma < 0` or non-finite, and everything
            :func:`softmax_cross_entropy` refuses (shapes, class indices out of range, bad
            ``weight``, NaN or ``+inf`` logits, a row whose logits are all ``-inf``).
    """

DOCS["softmax_focal_loss_value_and_grad"] = r"""The loss of :func:`softmax_focal_loss` and its gradient with respect to the logits.

    With :math:`\lambda = -\log p_y` and :math:`u = 1 - p_y`, :math:`\partial \lambda / \partial z_j
    = p_j - [j = y]` and :math:`\partial u / \partial z_j = p_y (p_j - [j = y])`, so

    .. math:: \frac{\partial \ell}{\partial z_j} = w_y \left[ u^{\gamma}
       + \gamma\, u^{\gamma - 1} p_y \lambda \right] (p_j - [j = y])
       = w_y\, u^{\gamma} \left(1 + \gamma\, p_y \frac{\lambda}{u}\right) (p_j - [j = y])

    The right-hand form is the one computed: :math:`\lambda / u \to 1` as :math:`p_y \to 1`, so
    the gradient is finite and exact even for :math:`\gamma < 1`, where the factor
    :math:`u^{\gamma - 1}` alone is infinite; the target column uses :math:`-u` for
    :math:`p_y - 1`. The arguments are those of :func:`softmax_focal_loss`.

    Returns:
        ``(loss, grad)``, ``grad`` with the logits' shape and dtype, scaled by the mean's
        denominator for ``"mean"``; for ``reduction="none"`` it is the gradient of the sum of
        the per-element losses.
    """

DOCS["softmax_focal_loss_grad"] = r"""Gradient of :func:`softmax_focal_loss` with respect to the logits, in closed form.

    .. math:: \frac{\partial \ell}{\partial z_j} = w_y\, (1 - p_y)^{\gamma}
       \left(1 + \gamma\, \frac{p_y \log(1/p_y)}{1 - p_y}\right) (p_j - [j = y])

    The second element of :func:`softmax_focal_loss_value_and_grad` (see there). For
    :math:`\gamma = 0` it is :func:`softmax_cross_entropy_grad`.

    Returns:
        An array of the logits' shape and dtype.
    """


def document(*functions: Callable[..., Any]) -> None:
    """Give each function the shared docstring of its name: one semantics, written once.

    (Called after the definitions rather than as a decorator, so that mutation testers, which
    skip decorated functions, still mutate them.)
    """
    for fn in functions:
        fn.__doc__ = DOCS[fn.__name__]
