"""Stopping rules as small objects, shared by every engine (plain NumPy).

Like TensorFlow Probability's convergence criteria, a rule is fed one value per pass and says when
to stop; the engines never write their own test inline.
"""

from __future__ import annotations


class ChangeBelow:
    """Stop once a (smoothed) objective changes by less than ``threshold`` between two passes.

    ``average=(a, b)`` compares the exponential average ``a * previous + b * value`` instead of
    the raw values (a noisy minibatch ELBO needs one; exact full-data values do not).
    """

    def __init__(self, threshold: float, average=None):
        self.threshold = float(threshold)
        self.average = average
        self.reset()

    def reset(self):
        """Forget every value seen (the objective changed: a new phase, an accepted move)."""
        self.value = None
        self.change = None

    def below(self, value: float) -> bool:
        """Whether ``value`` would be a change below threshold (without taking it)."""
        if self.value is None:
            return False
        if self.average is not None:
            value = self.average[0] * self.value + self.average[1] * value
        return abs(value - self.value) < self.threshold

    def update(self, value: float) -> bool:
        """Take the next value; True when the change from the previous one is below threshold."""
        previous = self.value
        if previous is None or self.average is None:
            self.value = value
        else:
            self.value = self.average[0] * previous + self.average[1] * value
        if previous is None:
            self.change = None
            return False
        self.change = self.value - previous
        return abs(self.change) < self.threshold
