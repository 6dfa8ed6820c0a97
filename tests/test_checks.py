"""ce_lib.checks, the one helper every chapter asserts with: it must pass true claims, print a line
that does not depend on the CPU, and fail false ones with a message naming the claim.

The neighbours in the check_rounded tests are hand-computed from the bit patterns (float32
1/3 = 0x3EAAAAAB, float16 0.1 = 0x2E66, bfloat16 1/3 = 0x3EAB), not taken from the helper.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from ce_lib import checks
from ce_lib.checks import (
    EPS16,
    EPS32,
    EPS64,
    EPSBF16,
    CheckFailed,
    check_bound,
    check_close,
    check_equal,
    check_rounded,
    check_true,
    glue,
)


def test_machine_epsilons() -> None:
    assert (EPS64, EPS32, EPS16, EPSBF16) == (2.0**-52, 2.0**-23, 2.0**-10, 2.0**-7)
    assert 1.0 + EPS64 != 1.0 and 1.0 + EPS64 / 2 == 1.0
    assert torch.finfo(torch.bfloat16).eps == EPSBF16


def test_check_failed_is_an_assertion_error() -> None:
    # pytest and nbval report it like any failed assert
    assert issubclass(CheckFailed, AssertionError)


# ------------------------------------------------------------------------------- check_close


def test_close_passes_and_prints_the_tolerance_not_the_residual(capsys) -> None:
    a = np.array([1.0, 2.0 + 2 * EPS64])
    check_close("sums agree", a, np.array([1.0, 2.0]), rtol=4 * EPS64)
    assert capsys.readouterr().out == "✓ sums agree (rtol 4·EPS64)\n"
    check_close("not a whole number of EPS64", 1.0, 1.0, rtol=2.5 * EPS64, atol=64 * EPS64)
    assert capsys.readouterr().out == "✓ not a whole number of EPS64 (rtol 5.6e-16, atol 64·EPS64)\n"
    check_close("within atol", 1e-12, 0.0, atol=1e-9)
    assert capsys.readouterr().out == "✓ within atol (atol 1e-09)\n"
    check_close("both", 1.0, 1.0 + 1e-10, rtol=1e-9, atol=1e-12)
    assert capsys.readouterr().out == "✓ both (rtol 1e-09, atol 1e-12)\n"
    check_close("identical", [1.5, -0.0], [1.5, 0.0])
    assert capsys.readouterr().out == "✓ identical (exactly)\n"
    check_close("quiet", 1.0, 1.0, rtol=EPS64, quiet=True)
    assert capsys.readouterr().out == ""


def test_close_tolerance_is_atol_plus_rtol_times_expected() -> None:
    check_close("at the edge", 1.0 + 1e-6, 1.0, rtol=0.5e-6, atol=0.5e-6 + 1e-15, quiet=True)
    with pytest.raises(CheckFailed):
        check_close("just past the edge", 1.0 + 1e-6, 1.0, rtol=0.5e-6, atol=0.4e-6, quiet=True)
    # rtol scales with |expected|, not |actual|
    check_close("relative to expected", 110.0, 100.0, rtol=0.1, quiet=True)
    with pytest.raises(CheckFailed):
        check_close("relative to expected", 100.0, 110.0 - 1e-9, rtol=0.09, quiet=True)


def test_close_failure_names_the_claim_the_worst_element_and_the_amount() -> None:
    actual = np.array([[1.0, 2.0], [3.0, 4.004]])
    expected = np.array([[1.0, 2.001], [3.0, 4.0]])
    with pytest.raises(CheckFailed) as info:
        check_close("softmax matches torch", actual, expected, rtol=1e-4)
    message = str(info.value)
    assert message.startswith("softmax matches torch: ")
    assert "at index (1, 1)" in message  # the larger excess, not the first mismatch
    assert "4.004" in message and "4.0" in message
    assert "|actual - expected| = 4.000e-03" in message
    assert "rtol 0.0001" in message


def test_close_scalar_failure_has_no_index() -> None:
    with pytest.raises(CheckFailed, match=r"^loss: \|actual - expected\| = 1\.000e-03 \(actual"):
        check_close("loss", 1.001, 1.0, rtol=1e-6)


@pytest.mark.parametrize(
    ("actual", "expected", "which"),
    [(np.nan, 1.0, "actual"), (1.0, np.nan, "expected"), ([1.0, np.nan], [1.0, np.nan], "actual")],
)
def test_close_nan_always_fails(actual, expected, which) -> None:
    with pytest.raises(CheckFailed, match=f"^nan claim: NaN in {which}$"):
        check_close("nan claim", actual, expected, rtol=1.0, atol=1.0)


def test_close_infinities() -> None:
    check_close("same infinities", [np.inf, -np.inf], [np.inf, -np.inf], quiet=True)
    check_close("same infinities with rtol", np.inf, np.inf, rtol=1e-3, quiet=True)
    for actual, expected in [(1.0, np.inf), (-np.inf, np.inf), (np.inf, 1e308), (np.inf, -np.inf)]:
        with pytest.raises(CheckFailed, match=r"^inf claim: "):
            check_close("inf claim", actual, expected, rtol=1e-3)
        with pytest.raises(CheckFailed, match=r"^inf claim: "):
            check_close("inf claim", actual, expected)


def test_close_requires_equal_shapes() -> None:
    with pytest.raises(CheckFailed, match=r"^shape claim: shapes differ, \(3,\) .* \(1, 3\)"):
        check_close("shape claim", np.ones(3), np.ones((1, 3)), rtol=1.0)
    with pytest.raises(CheckFailed, match="shapes differ"):
        check_close("no broadcasting", np.ones(3), 1.0, rtol=1.0)


@pytest.mark.parametrize(("rtol", "atol"), [(-1e-9, 0.0), (0.0, -1.0), (np.inf, 0.0), (0, np.nan)])
def test_close_rejects_bad_tolerances(rtol, atol) -> None:
    with pytest.raises(ValueError, match="rtol and atol"):
        check_close("claim", 1.0, 1.0, rtol=rtol, atol=atol)


def test_close_rejects_complex() -> None:
    with pytest.raises(TypeError, match="real numbers"):
        check_close("claim", np.array([1 + 1j]), np.array([1.0]))


def test_close_accepts_torch_tensors_of_any_float_dtype(capsys) -> None:
    for dtype, eps in [
        (torch.float64, EPS64),
        (torch.float32, EPS32),
        (torch.float16, EPS16),
        (torch.bfloat16, EPSBF16),
    ]:
        x = torch.tensor([1.0, 3.0], dtype=dtype) / 3
        check_close(f"{dtype}", x, np.array([1 / 3, 1.0]), rtol=eps, quiet=True)
        off = np.array([np.nextafter(1 / 3, 1.0), 1.0])  # differs from float64 1/3 too
        with pytest.raises(CheckFailed, match=f"^{dtype}: .* at index \\(0,\\)"):
            check_close(f"{dtype}", x, off, rtol=eps / 64)
    grad = torch.ones(2, requires_grad=True) * 2  # a tensor in an autograd graph
    check_close("autograd tensor", grad, torch.tensor([2.0, 2.0]))
    assert capsys.readouterr().out == "✓ autograd tensor (exactly)\n"


def test_close_compares_float32_in_float64_exactly() -> None:
    # float32(0.1) is 0.100000001490116..., not 0.1: the comparison sees that
    with pytest.raises(CheckFailed):
        check_close("float32 0.1", np.float32(0.1), 0.1, rtol=1e-9)
    check_close("float32 0.1", np.float32(0.1), 0.1, rtol=EPS32 / 2)


# ------------------------------------------------------------------------------- check_equal


def test_equal(capsys) -> None:
    check_equal("counts", np.array([3, 4]), [3, 4])
    check_equal("overflow", np.float32(np.inf), np.inf)
    check_equal("silent", 0.0, -0.0, quiet=True)
    assert capsys.readouterr().out == "✓ counts (exactly)\n✓ overflow (exactly)\n"
    with pytest.raises(CheckFailed, match=r"^one ulp: \|actual - expected\| = 2\.2"):
        check_equal("one ulp", 1.0 + EPS64, 1.0)
    with pytest.raises(CheckFailed, match="NaN"):
        check_equal("nan", np.nan, np.nan)
    with pytest.raises(CheckFailed, match="shapes differ"):
        check_equal("shape", [1.0], [[1.0]])


# -------------------------------------------------------------------------------- check_true


def test_true(capsys) -> None:
    check_true("monotone", True)
    check_true("all positive", np.array([1.0, 2.0]) > 0)
    check_true("torch all", torch.tensor([True, True]))
    check_true("silent", True, quiet=True)
    assert capsys.readouterr().out == "✓ monotone\n✓ all positive\n✓ torch all\n"
    with pytest.raises(CheckFailed, match=r"^ordered: false \(p\[2\] = 0\.5\)$"):
        check_true("ordered", np.array([True, False]), detail="p[2] = 0.5")
    with pytest.raises(CheckFailed, match=r"^flag: false$"):
        check_true("flag", False)
    with pytest.raises(CheckFailed, match=r"^empty: false$"):
        check_true("empty", np.array([], dtype=bool))
    with pytest.raises(CheckFailed):
        check_true("nan is not true enough to be trusted", np.array([np.nan]) > 0)


# ------------------------------------------------------------------------------- check_bound


def test_bound(capsys) -> None:
    check_bound("residual small", np.array([1e-12, -3e-13]), upper=1e-9)
    check_bound("probabilities", torch.tensor([0.0, 0.5, 1.0]), lower=0.0, upper=1.0)
    check_bound("positive", 2.0, lower=0.0)
    check_bound("silent", 0.0, upper=1.0, quiet=True)
    assert capsys.readouterr().out == (
        "✓ residual small (≤ 1e-09)\n✓ probabilities (≥ 0, ≤ 1)\n✓ positive (≥ 0)\n"
    )
    with pytest.raises(
        CheckFailed, match=r"^gap: max value 2\.000e-09 exceeds the upper bound 1e-09"
    ):
        check_bound("gap", np.array([0.0, 2e-9]), upper=1e-9)
    with pytest.raises(
        CheckFailed, match=r"^loss: min value -1\.000e-03 is below the lower bound 0"
    ):
        check_bound("loss", -1e-3, lower=0.0)
    with pytest.raises(CheckFailed, match=r"^nan: NaN$"):
        check_bound("nan", [0.0, np.nan], upper=1.0)
    with pytest.raises(ValueError, match="upper, lower or both"):
        check_bound("no bound", 1.0)


# ----------------------------------------------------------------------------- check_rounded

THIRD_F32 = 0.3333333432674408  # 0x3EAAAAAB, the float32 nearest to 1/3
THIRD_F32_BELOW = 0.3333333134651184  # 0x3EAAAAAA
TENTH_F16 = 0.0999755859375  # 0x2E66, the float16 nearest to 0.1
TENTH_F16_ABOVE = 0.10003662109375  # 0x2E67
THIRD_BF16 = 0.333984375  # 0x3EAB, the bfloat16 nearest to 1/3
THIRD_BF16_BELOW = 0.33203125  # 0x3EAA


def test_hand_computed_neighbours_are_what_the_formats_hold() -> None:
    assert float(np.float32(1 / 3)) == THIRD_F32
    assert np.float32(1 / 3).view(np.uint32) == 0x3EAAAAAB
    assert float(np.float16(0.1)) == TENTH_F16
    assert np.float16(0.1).view(np.uint16) == 0x2E66
    assert float(torch.tensor(1 / 3, dtype=torch.bfloat16)) == THIRD_BF16


def test_rounded_passes_on_the_nearest_number(capsys) -> None:
    check_rounded("float32 third", np.float32(THIRD_F32), 1 / 3)
    check_rounded("float16 tenth", np.array([TENTH_F16], dtype=np.float16), [0.1])
    check_rounded(
        "bfloat16 third",
        torch.tensor([THIRD_BF16, -THIRD_BF16], dtype=torch.bfloat16),
        [1 / 3, -1 / 3],
    )
    check_rounded("torch float32", torch.tensor(THIRD_F32), 1 / 3)
    check_rounded("exact overflow", np.float32(np.inf), np.inf, quiet=True)
    assert capsys.readouterr().out == (
        "✓ float32 third (correctly rounded)\n✓ float16 tenth (correctly rounded)\n"
        "✓ bfloat16 third (correctly rounded)\n✓ torch float32 (correctly rounded)\n"
    )


def test_rounded_fails_one_neighbour_away() -> None:
    with pytest.raises(CheckFailed, match=r"^f32: 0\.3333333134651184 is not the nearest"):
        check_rounded("f32", np.float32(THIRD_F32_BELOW), 1 / 3)
    with pytest.raises(CheckFailed, match=r"f16: .* at index \(1,\)"):
        check_rounded("f16", np.array([TENTH_F16, TENTH_F16_ABOVE], dtype=np.float16), [0.1, 0.1])
    with pytest.raises(CheckFailed, match=r"neighbours 0\.33203125, 0\.3359375"):
        check_rounded("bf16", torch.tensor(THIRD_BF16, dtype=torch.bfloat16), 0.3)
    with pytest.raises(CheckFailed, match=r"^bf16 negative: "):
        check_rounded(
            "bf16 negative", torch.tensor([-THIRD_BF16_BELOW], dtype=torch.bfloat16), [-1 / 3]
        )


def test_rounded_halfway_either_neighbour_is_nearest() -> None:
    # 1 + 2**-24 lies exactly between the float32 numbers 1 and 1 + 2**-23
    check_rounded("tie below", np.float32(1.0), 1 + 2.0**-24, quiet=True)
    check_rounded("tie above", np.float32(1 + 2.0**-23), 1 + 2.0**-24, quiet=True)


def test_rounded_around_zero() -> None:
    tiny_bf16 = 2.0**-133  # the smallest bfloat16 subnormal
    zero = torch.zeros(2, dtype=torch.bfloat16)
    check_rounded("bf16 zero", zero, [0.0, tiny_bf16 / 2], quiet=True)
    with pytest.raises(CheckFailed, match="neighbours"):
        check_rounded("bf16 zero", zero, [0.0, tiny_bf16 * 0.75])
    with pytest.raises(CheckFailed):
        check_rounded("bf16 -zero", -zero, [0.0, -tiny_bf16 * 0.75])
    check_rounded("f32 zero", np.float32(0.0), 2.0**-150, quiet=True)  # half the least subnormal


def test_rounded_nan_shapes_and_dtypes() -> None:
    with pytest.raises(CheckFailed):
        check_rounded("nan", np.float32(np.nan), np.nan)
    with pytest.raises(CheckFailed):
        check_rounded("nan reference", np.float32(1.0), np.nan)
    with pytest.raises(CheckFailed, match="shapes differ"):
        check_rounded("shape", np.ones(2, dtype=np.float32), np.ones(3))
    with pytest.raises(TypeError, match="floating-point result, got dtype int64"):
        check_rounded("int", np.array([1], dtype=np.int64), [1.0])


# -------------------------------------------------------------------------------------- glue


def test_glue_outside_a_kernel_prints_nothing_and_starts_no_shell(monkeypatch, capsys) -> None:
    import IPython
    import myst_nb

    calls = []
    monkeypatch.setattr(myst_nb, "glue", lambda *args, **kwargs: calls.append(args))
    assert IPython.get_ipython() is None
    assert glue("ch00_n", 3, "d") is None
    assert glue("ch00_x", 0.1234567, ".4f") is None
    assert glue("ch00_s", "text") is None
    assert capsys.readouterr() == ("", "")
    assert calls == [], "outside a kernel there is nothing to glue to"
    assert IPython.get_ipython() is None, "glue created an IPython shell"


def test_glue_needs_a_format_for_floats() -> None:
    with pytest.raises(ValueError, match=r"glue\('ch00_x'\): give fmt for a float"):
        glue("ch00_x", 0.5)
    with pytest.raises(ValueError, match="give fmt"):
        glue("ch00_x", np.float64(0.5))


def test_glue_hands_formatted_text_to_myst_nb(monkeypatch) -> None:
    calls = []
    import IPython
    import myst_nb

    monkeypatch.setattr(IPython, "get_ipython", lambda: object())  # as in a kernel
    monkeypatch.setattr(
        myst_nb, "glue", lambda name, value, display: calls.append((name, value, display))
    )
    glue("ch00_p", np.float64(1 / 3), ".6f")
    assert len(calls) == 1
    name, value, display = calls[0]
    assert (name, str(value), repr(value), display) == ("ch00_p", "0.333333", "0.333333", False)


def test_glue_in_a_script_run_prints_nothing() -> None:
    # A downloaded chapter run as a plain script: no kernel, no output.
    proc = subprocess.run(
        [sys.executable, "-c", "from ce_lib.checks import glue; glue('ch00_x', 2.5, '.2f')"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")


def test_module_docstring_example_holds(capsys) -> None:
    p = np.array([0.2, 0.3, 0.5])
    checks.check_close("softmax sums to one", p.sum(), 1.0, rtol=4 * EPS64)
    assert capsys.readouterr().out == "✓ softmax sums to one (rtol 4·EPS64)\n"
