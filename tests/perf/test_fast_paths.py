"""The fast normal distribution function the margin scan uses (:mod:`cockpit.pricing.normal`)
against scipy's ``ndtr``: relative error below 3e-13 for |z| ≤ 9, absolute below 1e-13 and never
negative beyond, and the edge values. (Accuracy, not speed: tests never assert timings.)"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtr  # type: ignore[import-untyped]

from cockpit.pricing.normal import fast_normal_cdf, normal_tail_ratio


def test_fast_normal_cdf_is_within_3e_13_of_ndtr_to_nine_deviations() -> None:
    z = np.linspace(-9.0, 9.0, 200_001)
    exact = ndtr(z)
    assert np.max(np.abs(fast_normal_cdf(z) / exact - 1)) < 3e-13


def test_fast_normal_cdf_far_tail_is_tiny_and_never_negative() -> None:
    z = np.linspace(-60.0, -9.0, 10_001)
    fast = fast_normal_cdf(z)
    assert np.all(fast >= 0)
    assert np.max(np.abs(fast - ndtr(z))) < 1e-13
    assert np.all(np.diff(fast) >= 0)  # still increasing where it has not underflowed


def test_fast_normal_cdf_edges_and_shapes() -> None:
    edges = fast_normal_cdf(np.array([np.inf, -np.inf, np.nan, 40.0, -40.0, 0.0]))
    np.testing.assert_array_equal(edges[[0, 1, 3, 4]], [1.0, 0.0, 1.0, 0.0])
    assert np.isnan(edges[2])
    assert abs(edges[5] - 0.5) < 1e-13
    assert fast_normal_cdf(0.25).shape == ()
    assert fast_normal_cdf([[0.1, -2.0]]).shape == (1, 2)


def test_tail_ratio_scale_and_buffers() -> None:
    y = np.linspace(0.0, 8.0, 1001)
    out, scratch = np.empty_like(y), np.empty_like(y)
    scaled = normal_tail_ratio(y, out=out, scratch=scratch, scale=-2.0)
    assert scaled is out
    np.testing.assert_allclose(scaled, -2.0 * ndtr(-y) * np.exp(0.5 * y * y), rtol=3e-13)
