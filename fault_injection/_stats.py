"""Statistics for campaigns: confidence intervals on rates and sample sizes.

- `wilson`: the 95% Wilson score interval, reported on every rate (it behaves at 0 and n, unlike
  the normal approximation).
- `clopper_pearson_upper`: the exact one-sided upper bound, used where a gate must bound a rate
  from a zero (or small) count: zero events in 2,995 trials bound the rate below 0.1% at 95%
  one-sided (the "rule of three"), while the two-sided Wilson upper bound needs 3,838 trials.
- `leveugle_sample_size`: injections needed for an error margin (Leveugle et al., DATE 2009).
- `poisson_rate_interval`: an exact interval on a Poisson count, for expected events per mission-year.
"""

from __future__ import annotations

import math

Z95 = 1.959963984540054  # two-sided 95% normal quantile


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Two-sided Wilson score interval for k successes in n trials (0, 1) when n == 0."""
    if n < 0 or not 0 <= k <= max(n, 0):
        raise ValueError(f"need 0 <= k <= n, got k={k}, n={n}")
    if n == 0:
        return (0.0, 1.0)
    p = k / n
    z2 = z * z
    denom = 1.0 + z2 / n
    centre = (p + z2 / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denom
    lo, hi = max(0.0, centre - half), min(1.0, centre + half)
    # Rounding must never push the interval off the point estimate.
    return (min(lo, p), max(hi, p))


def _binom_cdf(k: int, n: int, p: float) -> float:
    """P(X <= k) for X ~ Binomial(n, p), summed in log space (exact enough for bisection)."""
    if p <= 0.0:
        return 1.0
    if p >= 1.0:
        return 1.0 if k >= n else 0.0
    lp, lq = math.log(p), math.log1p(-p)
    total = 0.0
    for i in range(k + 1):
        total += math.exp(math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) + i * lp + (n - i) * lq)
    return min(total, 1.0)


def clopper_pearson_upper(k: int, n: int, confidence: float = 0.95) -> float:
    """Exact one-sided upper bound on a binomial rate: the p with P(X <= k | p) = 1 - confidence."""
    if n <= 0 or not 0 <= k <= n:
        raise ValueError(f"need 0 <= k <= n and n > 0, got k={k}, n={n}")
    alpha = 1.0 - confidence
    if k == n:
        return 1.0
    if k == 0:
        return 1.0 - alpha ** (1.0 / n)
    lo, hi = k / n, 1.0
    for _ in range(80):
        mid = (lo + hi) / 2
        if _binom_cdf(k, n, mid) > alpha:
            lo = mid
        else:
            hi = mid
    return hi


def leveugle_sample_size(margin: float, population: float = math.inf, confidence_z: float = 1.96,
                         p: float = 0.5) -> int:
    """Injections needed for `margin` at the given confidence: Leveugle et al. (DATE 2009), eq. 1.

    With an infinite population: 384 for +-5% and 9,604 for +-1% at 95%."""
    if not 0 < margin < 1:
        raise ValueError(f"margin must be in (0, 1), got {margin}")
    base = confidence_z ** 2 * p * (1 - p) / margin ** 2
    if math.isinf(population):
        return int(round(base))
    return int(round(population / (1 + margin ** 2 * (population - 1) / (confidence_z ** 2 * p * (1 - p)))))


def poisson_rate_interval(count: int, exposure: float, confidence: float = 0.95) -> tuple[float, float]:
    """Interval on a Poisson rate: `count` events over `exposure` units of time. Exact (Garwood)
    up to 100 events; beyond, the Wilson-Hilferty approximation (relative error well under 1%)."""
    if count < 0 or exposure <= 0:
        raise ValueError(f"need count >= 0 and exposure > 0, got {count}, {exposure}")
    alpha = 1.0 - confidence
    z = _normal_quantile(1 - alpha / 2)
    if count > 100:
        k, k1 = count, count + 1
        lower = k * (1 - 1 / (9 * k) - z / (3 * math.sqrt(k))) ** 3
        upper = k1 * (1 - 1 / (9 * k1) + z / (3 * math.sqrt(k1))) ** 3
        return (lower / exposure, upper / exposure)

    def cdf(k: int, mu: float) -> float:  # P(X <= k), X ~ Poisson(mu), in log space
        return sum(math.exp(i * math.log(mu) - mu - math.lgamma(i + 1)) for i in range(k + 1)) if mu > 0 else 1.0

    def solve(target: float, k: int) -> float:  # mu with cdf(k, mu) == target (decreasing in mu)
        lo, hi = 0.0, 4.0 * (k + 10)
        for _ in range(100):
            mid = (lo + hi) / 2
            if cdf(k, mid) > target:
                lo = mid
            else:
                hi = mid
        return hi

    lower = 0.0 if count == 0 else solve(1 - alpha / 2, count - 1)
    upper = solve(alpha / 2, count)
    return (lower / exposure, upper / exposure)


def _normal_quantile(p: float) -> float:
    """The standard normal quantile by bisection on erf (exact enough for interval bounds)."""
    lo, hi = -10.0, 10.0
    for _ in range(100):
        mid = (lo + hi) / 2
        if 0.5 * (1 + math.erf(mid / math.sqrt(2))) < p:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2
