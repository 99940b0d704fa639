"""The real Online Retail export through every stage (the README's "Your own data" commands,
which give the sources of conf/examples/online_retail.yml).

Expected figures are computed here from the raw CSV with the standard library, following the
documented revenue definition (an invoice's revenue is the sum of Quantity x UnitPrice over its
lines, rounded half up to the cent; cancellations are invoices with negative lines), not with
the project's code.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal

import pytest
from pyspark.sql import functions as F

from crm_spark.tables import Lake
from tests.conftest import SHARED_DATA

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="../shared/data not present")]

FOLDER = SHARED_DATA / "online_retail"


def expected_figures():
    invoices = defaultdict(Decimal)
    customer_of = {}
    with gzip.open(FOLDER / "online_retail.csv.gz", "rt", encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            invoices[row["InvoiceNo"]] += int(row["Quantity"]) * Decimal(row["UnitPrice"])
            if row["CustomerID"]:
                customer_of[row["InvoiceNo"]] = row["CustomerID"]
    revenue = {k: v.quantize(Decimal("0.01"), ROUND_HALF_UP) for k, v in invoices.items()}
    purchasers = {customer_of[k] for k, v in revenue.items() if v > 0 and k in customer_of}
    cancellations = sum(v for k, v in revenue.items() if k.startswith("C"))
    return sum(revenue.values()), cancellations, len(purchasers)


@pytest.fixture(scope="module")
def retail_lake(own_data_retail, spark):
    """The lake the README's "Your own data" commands (init, check-config, run) wrote from the
    export: tests/onboard/test_own_data.py checks that init proposes the sources of
    conf/examples/online_retail.yml, so these figures hold for the example config too."""
    return Lake(spark, str(own_data_retail.folder / "lake"))


def test_monthly_revenue_adds_up_to_the_invoices_net_of_cancellations(retail_lake):
    total, cancellations, _ = expected_figures()
    # the figure the closing note states: all invoices, cancellations (negative) included
    assert cancellations < 0
    months = retail_lake.read("gold.kpi_monthly").filter(F.col("channel") == "all")
    assert months.agg(F.sum("revenue")).first()[0] == total
    assert months.agg(F.min("month"), F.max("month")).first() == (dt.date(2010, 12, 1), dt.date(2011, 12, 1))


def test_rfm_has_every_customer_with_a_purchase(retail_lake):
    _, _, purchasers = expected_figures()
    assert retail_lake.read("gold.rfm").count() == purchasers


def test_channels_the_export_lacks_give_empty_tables_not_failures(retail_lake):
    assert retail_lake.read("gold.customer_360").filter(F.col("web_sessions_90d") > 0).count() == 0
    assert retail_lake.read("gold.campaign_performance").count() == 0
