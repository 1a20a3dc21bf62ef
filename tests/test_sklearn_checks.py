"""scikit-learn's own estimator checks, on vector input (the MLP encoder, a few epochs)."""

from __future__ import annotations

from sklearn.utils.estimator_checks import parametrize_with_checks

from coarse2fine import Discoverer

# Checks that cannot apply, with the reason; parametrize_with_checks runs them as xfail.
EXPECTED_FAILURES = {
    "check_clustering": (
        "a Discoverer learns from coarse labels: fit(X) without y is refused by design, and "
        "this clusterer check fits X alone"
    ),
}


def fast_discoverer() -> Discoverer:
    return Discoverer(
        "coarse_supervised",
        n_fine=2,
        clustering="global",
        epochs=2,
        n_init=2,
        precision="fp32",
        progress=False,
    )


@parametrize_with_checks([fast_discoverer()], expected_failed_checks=lambda est: EXPECTED_FAILURES)
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)
