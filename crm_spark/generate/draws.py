"""Counter-based random draws as Spark columns.

Every draw is a pure function of (seed, stream, keys): a 64-bit xxhash mapped to [0, 1). So the
data set does not depend on partitioning, on the number of cores or on execution order, and a
seed reproduces it exactly. Gamma and beta variates use the inverse CDF (scipy, vectorised).
"""

from __future__ import annotations

import math

import pandas as pd
from pyspark.sql import Column
from pyspark.sql import functions as F
from pyspark.sql.functions import pandas_udf
from pyspark.sql.types import DoubleType

TWO_POW_53 = float(2**53)


def uniform(seed: int, stream: str, *keys: Column | str) -> Column:
    """A uniform draw in (0, 1) keyed by ``seed``, a stream name and key columns."""
    hashed = F.xxhash64(F.lit(seed), F.lit(stream), *keys)
    return (F.shiftrightunsigned(hashed, 11).cast("double") + F.lit(0.5)) / F.lit(TWO_POW_53)


def normal(seed: int, stream: str, *keys: Column | str) -> Column:
    """A standard normal draw (Box-Muller on two keyed uniforms)."""
    u1 = uniform(seed, stream + ":a", *keys)
    u2 = uniform(seed, stream + ":b", *keys)
    return F.sqrt(F.lit(-2.0) * F.log(u1)) * F.cos(F.lit(2 * math.pi) * u2)


def exponential(rate: Column, seed: int, stream: str, *keys: Column | str) -> Column:
    return -F.log(uniform(seed, stream, *keys)) / rate


def chance(probability: float | Column, seed: int, stream: str, *keys: Column | str) -> Column:
    """True with the given probability."""
    p = probability if isinstance(probability, Column) else F.lit(probability)
    return uniform(seed, stream, *keys) < p


def pick(options: list, seed: int, stream: str, *keys: Column | str) -> Column:
    """One of ``options`` with equal probability."""
    index = F.floor(uniform(seed, stream, *keys) * len(options)).cast("int") + 1
    return F.element_at(F.array(*[F.lit(o) for o in options]), index)


def integer(low: int, high: int, seed: int, stream: str, *keys: Column | str) -> Column:
    """A uniform integer in [low, high]."""
    return (F.lit(low) + F.floor(uniform(seed, stream, *keys) * (high - low + 1))).cast("int")


def digits(n: int, seed: int, stream: str, *keys: Column | str) -> Column:
    """A string of ``n`` random decimal digits."""
    value = F.floor(uniform(seed, stream, *keys) * 10**n).cast("long")
    return F.lpad(value.cast("string"), n, "0")


@pandas_udf(DoubleType())  # type: ignore[call-overload]  # pyspark's stubs lack the type-hint form
def _gamma_ppf(u: pd.Series, shape: pd.Series) -> pd.Series:
    from scipy.special import gammaincinv

    return pd.Series(gammaincinv(shape.to_numpy(), u.to_numpy()))


@pandas_udf(DoubleType())  # type: ignore[call-overload]  # pyspark's stubs lack the type-hint form
def _beta_ppf(u: pd.Series, a: pd.Series, b: pd.Series) -> pd.Series:
    from scipy.special import betaincinv

    return pd.Series(betaincinv(a.to_numpy(), b.to_numpy(), u.to_numpy()))


def gamma(shape: float, rate: float | Column, seed: int, stream: str,
          *keys: Column | str) -> Column:
    """A Gamma(shape, rate) draw: mean shape / rate."""
    rate_col = rate if isinstance(rate, Column) else F.lit(float(rate))
    return _gamma_ppf(uniform(seed, stream, *keys), F.lit(float(shape))) / rate_col


def beta(a: float, b: float, seed: int, stream: str, *keys: Column | str) -> Column:
    return _beta_ppf(uniform(seed, stream, *keys), F.lit(float(a)), F.lit(float(b)))


def ordinals(n: Column) -> Column:
    """The array 1..n, empty when n < 1 (``sequence(1, 0)`` would count down to [1, 0])."""
    return F.when(n >= 1, F.sequence(F.lit(1), n)).otherwise(F.array().cast("array<int>"))
