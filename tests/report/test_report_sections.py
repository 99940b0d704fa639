"""Section notes: a table that holds no row because nothing qualified says so, instead of
asking for the stage that already ran."""

from __future__ import annotations

import pytest

from crm_spark.report.base import EmptySection, ReportData
from crm_spark.report.marketing import NO_RULES, affinity

RULES = ("antecedent array<string>, consequent string, support double, confidence double, lift double, "
         "antecedent_names array<string>, consequent_name string, consequent_category string, as_of date")


def test_affinity_without_rules_says_no_rule_qualified_and_a_missing_table_asks_for_gold(spark, lake):
    data = ReportData(lake, None, "GBP")
    with pytest.raises(EmptySection, match="does not exist yet: run `crm-spark gold`"):
        affinity(data)

    lake.overwrite(spark.createDataFrame([], RULES), "gold.product_affinity")

    with pytest.raises(EmptySection) as empty:
        affinity(data)
    assert str(empty.value) == NO_RULES
