"""dipnb.checks: one rule type and one message for every option system (TrainConfig, solver options, edits)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dipnb import checks
from dipnb.checks import check, choice, integer, real
from dipnb.config import TrainConfig
from dipnb.images import from_model_range, to_model_range, to_uint8
from dipnb.poisson.solvers import base as solver_options


@pytest.mark.parametrize("rule, value, kind, message", [
    (integer(1), 0, ValueError, "n must be an integer >= 1, got 0"),
    (integer(1), 2.5, TypeError, "n must be an integer >= 1, got 2.5"),
    (integer(1), True, TypeError, "n must be an integer >= 1, got True"),
    (integer(2, 64), 65, ValueError, r"n must be an integer in \[2, 64\], got 65"),
    (real(0, 1, lo_open=True), 0.0, ValueError, r"n must be a finite number in \(0, 1\], got 0.0"),
    (real(0, 1, hi_open=True), 1, ValueError, r"n must be a finite number in \[0, 1\), got 1"),
    (real(0), float("nan"), ValueError, "n must be a finite number >= 0, got nan"),
    (real(0), "0.2", TypeError, "n must be a finite number >= 0, got '0.2'"),
    (choice("AtoB", "BtoA"), "AB", ValueError, "n must be one of 'AtoB', 'BtoA', got 'AB'"),
    (choice("AtoB", "BtoA"), 1, TypeError, "n must be one of 'AtoB', 'BtoA', got 1"),
    (checks.boolean(), 1, TypeError, "n must be True or False, got 1"),
    (integer(1, optional=True), None, None, None),
    (integer(1), None, TypeError, r"n must be an integer >= 1, got None"),
    (real(0, 1), np.float32(0.5), None, None),
    (integer(0), np.int64(3), None, None),
])
def test_a_rule_says_what_is_wrong_and_picks_type_or_value_error(rule, value, kind, message):
    if kind is None:
        assert check("n", value, rule) is value and rule(value) is None
        return
    with pytest.raises(kind, match=f"^{message}$"):
        check("n", value, rule)


def test_the_option_systems_word_the_same_mistake_the_same_way():
    """TrainConfig's fields and the Poisson solvers' options are the same rules, so the same sentence."""
    with pytest.raises(ValueError) as a:
        TrainConfig(beta1=1.0)
    assert str(a.value) == "beta1 must be a finite number in [0, 1), got 1.0"
    assert solver_options.real(0, 1, hi_open=True, lo_open=False)(1.0) == "must be a finite number in [0, 1), got 1.0"
    assert isinstance(solver_options.integer(1), checks.Rule) and solver_options.choice is checks.choice


def test_model_range_conversions_are_the_formulas_they_replace():
    u = torch.arange(256, dtype=torch.uint8).reshape(1, 16, 16).expand(3, -1, -1)
    x = to_model_range(u)
    assert torch.equal(x, u.float().div(127.5).sub(1.0)) and x.min() == -1 and x.max() == 1
    noisy = torch.randn(3, 16, 16, generator=torch.Generator().manual_seed(0)) * 1.5
    assert torch.equal(from_model_range(noisy), (noisy + 1) / 2)
    old = ((noisy.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 0).numpy()
    assert np.array_equal(to_uint8(from_model_range(noisy)), old)  # bit for bit, clamped
    assert np.array_equal(to_uint8(from_model_range(x)), u.permute(1, 2, 0).numpy())  # a round trip
    assert torch.allclose(to_model_range(from_model_range(noisy)), noisy, atol=1e-6)
