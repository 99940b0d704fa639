"""How well can churn be ranked at all? Two reference rankers on the generator's ground truth.

    python bench/churn_bounds.py --truth truth --as-of 2024-10-01 [--horizon-days 90]

The label is the model's: a person who bought by ``as_of`` is churned when they make no purchase
in the next ``horizon`` days (truth/orders, every origin). The rankers:
- history only: P(no purchase in the horizon) under BG/NBD with the generator's true
  parameters (population.py), given each person's own purchase history up to ``as_of``
  (Fader, Hardie & Lee 2005: P(alive | x, t_x, T) and the Gamma posterior of the rate);
- oracle: the same probability knowing the person's true rate and whether they are still
  alive at ``as_of`` (truth/persons) — what no model can know, an upper reference.
ROC-AUC by ranks (ties averaged). Reads CSV with pandas; no Spark.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from crm_spark.generate.population import ALPHA, A, B, R  # noqa: E402


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    ranks = pd.Series(scores).rank().to_numpy()
    positives = labels.sum()
    negatives = len(labels) - positives
    return float((ranks[labels == 1].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def read_csvs(folder: Path) -> pd.DataFrame:
    return pd.concat(pd.read_csv(f) for f in sorted(folder.glob("*.csv")))


def bounds(truth: Path, as_of: dt.date, horizon_days: int) -> dict:
    persons = read_csvs(truth / "persons")
    orders = read_csvs(truth / "orders")
    orders["ts"] = pd.to_datetime(orders["order_ts"], utc=True)
    cutoff = pd.Timestamp(as_of + dt.timedelta(days=1), tz="UTC")
    end = cutoff + pd.Timedelta(days=horizon_days)
    history = orders[orders["ts"] < cutoff].groupby("person_id")["ts"].agg(["min", "max", "size"])
    bought_after = set(orders[(orders["ts"] >= cutoff) & (orders["ts"] < end)]["person_id"])
    people = persons.set_index("person_id").loc[history.index]
    churned = (~history.index.isin(bought_after)).astype(int)

    days = pd.Timedelta(days=1)
    x = (history["size"] - 1).to_numpy()
    t_x = ((history["max"] - history["min"]) / days).to_numpy()
    age = ((cutoff - history["min"]) / days).to_numpy()
    p_alive = np.where(x > 0, 1 / (1 + (A / (B + x - 1)) * ((ALPHA + age) / (ALPHA + t_x)) ** (R + x)), 1.0)
    none_if_alive = ((ALPHA + age) / (ALPHA + age + horizon_days)) ** (R + x)
    history_only = (1 - p_alive) + p_alive * none_if_alive

    alive = ~(pd.to_datetime(people["churned_at"], utc=True) < cutoff).to_numpy()
    oracle = np.where(alive, np.exp(-people["lam"].to_numpy() * horizon_days), 1.0)
    return {"as_of": as_of.isoformat(), "customers": len(history),
            "churn_rate": round(float(churned.mean()), 4),
            "history_only_roc_auc": round(roc_auc(churned, history_only), 4),
            "oracle_roc_auc": round(roc_auc(churned, oracle), 4)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--truth", default="truth", help="the generator's ground-truth folder")
    parser.add_argument("--as-of", type=dt.date.fromisoformat, required=True)
    parser.add_argument("--horizon-days", type=int, default=90)
    args = parser.parse_args()
    print(bounds(Path(args.truth), args.as_of, args.horizon_days))
    return 0


if __name__ == "__main__":
    sys.exit(main())
