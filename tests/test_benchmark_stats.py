"""The statistics the speed goals are read on (benchmarks/core.py ``ratios``)."""

import pytest

from benchmarks.core import ratios


def test_the_paired_median_is_taken_over_each_rounds_own_ratio():
    # rounds: 2/1, 10/2, 3/3 → per-round 2, 5, 1 (median 2); medians 3 and 2 → 1.5;
    # minima 2 and 1 → 2.
    assert ratios([2.0, 10.0, 3.0], [1.0, 2.0, 3.0]) == pytest.approx((2.0, 1.5, 2.0))


def test_a_burst_over_both_calls_of_a_round_leaves_the_paired_median_alone():
    # a takes 2× b in every round but round 0, whose a alone a burst tripled; a
    # longer burst triples both calls of rounds 1 and 2.  a's median lands in the
    # bursts, b's does not: their ratio says 6×, the rounds say 2×.
    a = [6.0, 6.0, 6.0, 2.0, 2.0]
    b = [1.0, 3.0, 3.0, 1.0, 1.0]
    paired, of_medians, _ = ratios(a, b)
    assert paired == pytest.approx(2.0)
    assert of_medians == pytest.approx(6.0)


def test_samples_of_different_rounds_are_not_paired():
    # the naive loop runs in the first rounds only: its ratio is of the medians
    got = ratios([9.0, 12.0, 30.0], [1.0, 2.0, 3.0, 4.0, 5.0], paired=False)
    assert got == pytest.approx((4.0, 4.0, 9.0))
    # paired samples must come from the same rounds: unequal lengths are an error
    with pytest.raises(ValueError):
        ratios([9.0, 12.0, 30.0], [1.0, 2.0, 3.0, 4.0, 5.0])
