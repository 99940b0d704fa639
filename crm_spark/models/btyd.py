"""Buy-till-you-die models by maximum likelihood: BG/NBD for purchase counts (Fader, Hardie & Lee
2005, "Counting your customers the easy way"), Gamma-Gamma for spend (Fader & Hardie 2013, "The
Gamma-Gamma model of monetary value") and the discounted CLV built from both.

Inputs follow the papers: ``x`` repeat purchases, ``t_x`` time of the last repeat purchase and ``T``
the customer's age, all measured from the first purchase in one time unit (e.g. weeks); ``m_x`` is
the mean value of the ``x`` repeat transactions. With whole days or weeks, count purchase periods,
not transactions, so that x > 0 implies t_x > 0: a repeat purchase at t_x = 0 is a point of the
continuous-time density and, alone, makes the likelihood unbounded as alpha -> 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from scipy.optimize import minimize
from scipy.special import betaln, digamma, expit, gammaln, hyp2f1

# Log-parameters are boxed so a degenerate data set cannot push exp() into overflow; a fit that
# ends on the box is reported as not converged.
_LOG_BOUND = 20.0


@dataclass(frozen=True)
class BgNbdParams:
    """BG/NBD parameters with the fit's total log-likelihood, iterations and convergence."""

    r: float
    alpha: float
    a: float
    b: float
    log_likelihood: float = float("nan")
    iterations: int = 0
    converged: bool = True


@dataclass(frozen=True)
class GammaGammaParams:
    """Gamma-Gamma parameters with the fit's total log-likelihood and convergence."""

    p: float
    q: float
    v: float
    log_likelihood: float = float("nan")
    converged: bool = True


class Compressed(NamedTuple):
    """Distinct rows of ``compress`` and how many customers share each."""

    x: np.ndarray
    t_x: np.ndarray
    T: np.ndarray
    customers: np.ndarray
    extra: np.ndarray | None = None


def _arrays(*cols, names: str) -> list[np.ndarray]:
    out = [np.atleast_1d(np.asarray(c, dtype=float)) for c in cols]
    if any(c.shape != out[0].shape or c.ndim != 1 for c in out):
        raise ValueError(f"{names} must be 1-d arrays of equal length")
    if out[0].size == 0:
        raise ValueError(f"{names} are empty")
    if not all(np.isfinite(c).all() for c in out):
        raise ValueError(f"{names} contain NaN or infinite values")
    return out


def _check_rfm(x, t_x, T) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x, t_x, T = _arrays(x, t_x, T, names="x, t_x, T")
    if (x < 0).any() or (t_x < 0).any() or (T < 0).any():
        raise ValueError("x, t_x and T must be non-negative")
    if (x != np.round(x)).any():
        raise ValueError("x (repeat purchases) must be whole numbers")
    if (t_x > T).any():
        raise ValueError("t_x (last repeat purchase) must not exceed T (customer age)")
    if ((x == 0) & (t_x != 0)).any():
        raise ValueError("t_x must be 0 for customers without repeat purchases (x = 0)")
    return x, t_x, T


def _check_weights(weights, n: int) -> np.ndarray:
    if weights is None:
        return np.ones(n)
    (w,) = _arrays(weights, names="weights")
    if w.size != n or (w < 0).any() or w.sum() <= 0:
        raise ValueError(f"weights must be {n} non-negative numbers with a positive sum")
    return w


def compress(x, t_x, T, extra=None) -> Compressed:
    """Collapse identical (x, t_x, T[, extra]) rows into one row with a count.

    The likelihood only depends on the triple, so fitting the compressed rows with ``count`` as
    weights gives the same optimum. The Spark side does the same with
    ``groupBy("x", "t_x", "T").count()``; rows match only when bitwise equal, so round times to
    whole days or weeks first.

    Args:
        x, t_x, T: per-customer summaries.
        extra: optional (n,) or (n, k) further columns that must also match (e.g. ``m_x``).

    Returns:
        ``Compressed(x, t_x, T, customers, extra)``, rows sorted; ``extra`` is None when not given.

    Raises:
        ValueError: on empty, non-finite or ragged inputs.
    """
    x, t_x, T = _arrays(x, t_x, T, names="x, t_x, T")
    cols = [x[:, None], t_x[:, None], T[:, None]]
    if extra is not None:
        e = np.asarray(extra, dtype=float).reshape(x.size, -1)
        cols.append(e)
    rows, count = np.unique(np.hstack(cols), axis=0, return_counts=True)
    rest = None if extra is None else rows[:, 3:].reshape((-1,) + np.shape(extra)[1:])
    return Compressed(rows[:, 0], rows[:, 1], rows[:, 2], count, rest)


def _bgnbd_terms(r, alpha, a, b, x, t_x, T):
    # The two terms of eq. (6) without the factor common to both; the second exists for x > 0 only.
    xs = np.maximum(x, 1.0)  # keeps betaln's arguments positive where the term is discarded
    a3 = betaln(a, b + x) - betaln(a, b) - (r + x) * np.log(alpha + T)
    a4 = betaln(a + 1, b + xs - 1) - betaln(a, b) - (r + x) * np.log(alpha + t_x)
    return a3, np.where(x > 0, a4, -np.inf)


def bgnbd_log_likelihood(r, alpha, a, b, x, t_x, T) -> np.ndarray:
    """Per-customer BG/NBD log-likelihood, eq. (6) of Fader, Hardie & Lee (2005).

    Args:
        r, alpha: gamma mixing distribution of the purchase rate.
        a, b: beta mixing distribution of the dropout probability.
        x, t_x, T: repeat purchases, time of the last one, customer age.

    Returns:
        Array of log-likelihoods, one per customer.
    """
    a3, a4 = _bgnbd_terms(r, alpha, a, b, x, t_x, T)
    return gammaln(r + x) - gammaln(r) + r * np.log(alpha) + np.logaddexp(a3, a4)


def _bgnbd_ll_grad(params, x, t_x, T) -> tuple[np.ndarray, np.ndarray]:
    r, alpha, a, b = params
    a3, a4 = _bgnbd_terms(r, alpha, a, b, x, t_x, T)
    lse = np.logaddexp(a3, a4)
    w3, w4 = np.exp(a3 - lse), np.exp(a4 - lse)
    ll = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + lse
    dab, dabx, db = digamma(a + b), digamma(a + b + x), digamma(b)
    xs = np.maximum(x, 1.0)
    grad = np.stack([
        digamma(r + x) - digamma(r) + np.log(alpha) - w3 * np.log(alpha + T) - w4 * np.log(alpha + t_x),
        r / alpha - (r + x) * (w3 / (alpha + T) + w4 / (alpha + t_x)),
        dab - dabx + w4 / a,
        dab - dabx - db + w3 * digamma(b + x) + w4 * digamma(b + xs - 1),
    ])
    return ll, grad


def _fit(ll_grad, x0, weights, l2):
    wsum = weights.sum()

    def objective(logp):
        params = np.exp(logp)
        ll, grad = ll_grad(params)
        # Per-customer mean keeps tolerances independent of the number of customers.
        value = -(weights @ ll) / wsum + l2 * (params @ params)
        return value, -(grad @ weights) / wsum * params + 2 * l2 * params * params

    bounds = [(-_LOG_BOUND, _LOG_BOUND)] * len(x0)
    res = minimize(objective, np.log(x0), jac=True, method="L-BFGS-B", bounds=bounds,
                   options={"maxiter": 2000, "ftol": 1e-15, "gtol": 1e-10})
    # L-BFGS-B stops on changes of the objective, which drown in rounding noise along flat ridges
    # (Gamma-Gamma's q-v); Newton steps on the analytic gradient get the optimum to ~1e-9.
    logp, steps, decrement = res.x, 0, np.inf
    for _ in range(4):
        grad = objective(logp)[1]
        hess = np.array([objective(logp + 1e-5 * e)[1] - objective(logp - 1e-5 * e)[1]
                         for e in np.eye(logp.size)]) / 2e-5
        hess = (hess + hess.T) / 2
        if np.linalg.eigvalsh(hess).min() <= 0:
            decrement = np.inf
            break
        step = np.linalg.solve(hess, grad)
        # Newton decrement on the total log-likelihood: the gain still available if the fit
        # stopped here; 1e-8 means the parameters sit within 1e-4 standard errors of the optimum.
        decrement = wsum * (grad @ step)
        if decrement < 1e-20 or np.abs(step).max() > 0.1:
            break
        logp, steps = np.clip(logp - step, -_LOG_BOUND, _LOG_BOUND), steps + 1
    converged = decrement < 1e-8 and bool((np.abs(logp) < _LOG_BOUND - 1e-6).all())
    params = np.exp(logp)
    return params, float(weights @ ll_grad(params)[0]), int(res.nit) + steps, converged


def fit_bgnbd(x, t_x, T, weights=None, l2: float = 0.0) -> BgNbdParams:
    """Fit BG/NBD by maximising the weighted log-likelihood (L-BFGS-B on log-parameters).

    Args:
        x, t_x, T: repeat purchases, time of the last one, customer age (see ``compress``).
        weights: number of customers sharing each row; default 1 each.
        l2: penalty ``l2 * sum(params**2)`` added to the mean negative log-likelihood.

    Returns:
        Fitted parameters, the total (unpenalised) log-likelihood, iterations and convergence.

    Raises:
        ValueError: on empty, negative, non-finite or inconsistent inputs.
    """
    x, t_x, T = _check_rfm(x, t_x, T)
    w = _check_weights(weights, x.size)
    rate = (w @ x + 1.0) / (w @ T + 1.0)
    params, ll, nit, ok = _fit(lambda p: _bgnbd_ll_grad(p, x, t_x, T), np.array([1.0, 1.0 / rate, 1.0, 1.0]),
                               w, l2)
    r, alpha, a, b = map(float, params)
    return BgNbdParams(r, alpha, a, b, log_likelihood=ll, iterations=nit, converged=ok)


def _alive_logit(params: BgNbdParams, x, t_x, T):
    # log of the x>0 term of 1 / P(alive); -inf for x = 0, who cannot have dropped out yet.
    xs = np.maximum(x, 1.0)
    z = np.log(params.a) - np.log(params.b + xs - 1) + (params.r + x) * (
        np.log(params.alpha + T) - np.log(params.alpha + t_x))
    return np.where(x > 0, z, -np.inf)


def probability_alive(params: BgNbdParams, x, t_x, T) -> np.ndarray:
    """P(customer still active at T | x, t_x, T); equals 1 for x = 0.

    Raises:
        ValueError: on invalid inputs.
    """
    x, t_x, T = _check_rfm(x, t_x, T)
    return expit(-_alive_logit(params, x, t_x, T))


def expected_purchases(params: BgNbdParams, t, x, t_x, T) -> np.ndarray:
    """Expected repeat purchases in (T, T + t] given the history, eq. (10) of the paper.

    Args:
        params: fitted BG/NBD parameters (``a != 1``).
        t: horizon length(s); broadcasts against the customers (e.g. shape (k, 1) for a grid).
        x, t_x, T: the customers' histories.

    Returns:
        Expected purchases, broadcast shape of ``t`` and the customers.

    Raises:
        ValueError: on invalid inputs or negative ``t``.
    """
    x, t_x, T = _check_rfm(x, t_x, T)
    t = np.asarray(t, dtype=float)
    if (t < 0).any() or not np.isfinite(t).all():
        raise ValueError("t (prediction horizon) must be finite and non-negative")
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    front = (a + b + x - 1) / (a - 1)
    decay = np.exp((r + x) * (np.log(alpha + T) - np.log(alpha + T + t)))
    bracket = 1 - decay * hyp2f1(r + x, b + x, a + b + x - 1, t / (alpha + T + t))
    return front * bracket * expit(-_alive_logit(params, x, t_x, T))


def gamma_gamma_log_likelihood(p, q, v, x, m_x) -> np.ndarray:
    """Per-customer log density of the mean spend ``m_x`` over ``x >= 1`` transactions.

    Returns:
        Array of log-likelihoods, one per customer.
    """
    px = p * x
    return (gammaln(px + q) - gammaln(px) - gammaln(q) + q * np.log(v) + (px - 1) * np.log(m_x)
            + px * np.log(x) - (px + q) * np.log(v + x * m_x))


def _gg_ll_grad(params, x, m_x, log_xm):
    p, q, v = params
    px, s = p * x, np.log(v + x * m_x)
    ll = gamma_gamma_log_likelihood(p, q, v, x, m_x)
    dpq = digamma(px + q)
    grad = np.stack([x * (dpq - digamma(px) + log_xm - s), dpq - digamma(q) + np.log(v) - s,
                     q / v - (px + q) / (v + x * m_x)])
    return ll, grad


def fit_gamma_gamma(x, m_x, weights=None, l2: float = 0.0) -> GammaGammaParams:
    """Fit the Gamma-Gamma spend model by maximum likelihood.

    Args:
        x: repeat transactions per customer, each >= 1 (drop x = 0 customers first).
        m_x: mean value of those transactions, > 0.
        weights: number of customers sharing each row; default 1 each.
        l2: penalty ``l2 * sum(params**2)`` added to the mean negative log-likelihood.

    Returns:
        Fitted p, q, v with the total log-likelihood and convergence.

    Raises:
        ValueError: on empty, non-finite, x < 1 or non-positive spend.
    """
    x, m_x = _arrays(x, m_x, names="x, m_x")
    if (x < 1).any() or (x != np.round(x)).any():
        raise ValueError("x must be whole numbers >= 1 for the Gamma-Gamma model")
    if (m_x <= 0).any():
        raise ValueError("m_x (mean transaction value) must be positive")
    w = _check_weights(weights, x.size)
    log_xm = np.log(x * m_x)
    x0 = np.array([1.0, 2.0, (w @ m_x) / w.sum()])  # matches the mean spend p v / (q - 1)
    params, ll, _, ok = _fit(lambda p: _gg_ll_grad(p, x, m_x, log_xm), x0, w, l2)
    p, q, v = map(float, params)
    return GammaGammaParams(p, q, v, log_likelihood=ll, converged=ok)


def expected_average_spend(params: GammaGammaParams, x, m_x) -> np.ndarray:
    """E[M | x, m_x] = p (v + x m_x) / (p x + q - 1); the population mean p v / (q - 1) at x = 0.

    Raises:
        ValueError: if q <= 1 (the mean spend is infinite) or inputs are invalid.
    """
    if params.q <= 1:
        raise ValueError(f"Gamma-Gamma q = {params.q:.4g} <= 1: expected spend is infinite")
    x, m_x = _arrays(x, m_x, names="x, m_x")
    xm = np.where(x > 0, x * m_x, 0.0)
    return params.p * (params.v + xm) / (params.p * x + params.q - 1)


def discounted_clv(bgnbd: BgNbdParams, gg: GammaGammaParams, x, t_x, T, m_x, horizon: float,  # noqa: PLR0913 (the model's own inputs)
                   discount_rate_per_period: float, step: float = 1.0) -> np.ndarray:
    """Discounted expected revenue over (T, T + horizon] per customer.

    The horizon is cut into steps of ``step`` time units; the purchases expected in each step are
    valued at the expected spend and discounted by ``(1 + rate) ** -t_end``, where ``t_end`` is
    the step's end in time units, so ``step`` only changes the resolution, not the rate's meaning.

    Args:
        bgnbd, gg: fitted models (spend is taken from ``gg``; ``m_x`` is ignored where x = 0).
        x, t_x, T, m_x: the customers' histories.
        horizon: length of the future window, in the model's time unit.
        discount_rate_per_period: discount rate per time unit (e.g. weekly rate for weeks).
        step: grid spacing in time units; the last step is clipped at ``horizon``.

    Returns:
        Discounted CLV per customer.

    Raises:
        ValueError: on invalid inputs, non-positive horizon/step or a rate <= -1.
    """
    if not (horizon > 0 and step > 0 and discount_rate_per_period > -1):
        raise ValueError("horizon and step must be positive and discount_rate_per_period > -1")
    ends = np.minimum(step * np.arange(1, int(np.ceil(horizon / step - 1e-9)) + 1), horizon)
    cum = expected_purchases(bgnbd, ends[:, None], x, t_x, T)
    increments = np.diff(cum, axis=0, prepend=0.0)
    discount = (1.0 + discount_rate_per_period) ** -ends
    return (discount @ increments) * expected_average_spend(gg, x, m_x)
