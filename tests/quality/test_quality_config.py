"""conf/quality.yml is validated at load; errors name the key and the file."""

import pytest

from crm_spark.config import load_config
from crm_spark.errors import ConfigError
from tests.conftest import CONF_DIR
from tests.test_cli import assert_one_line_error, crm_spark


def test_shipped_expectations_load():
    cfg = load_config(conf_dir=CONF_DIR)
    names = {e.name for e in cfg.quality.tables["silver.identity_map"]}
    assert {"unique_source_source_id", "not_null_customer_id"} <= names
    assert cfg.quality.enabled and cfg.quality.sample_rows == 5


@pytest.mark.parametrize("text, message", [
    ("quality:\n  tables:\n    silver.orders:\n      - {kind: uniq, column: a}\n",
     "rules.yml: quality.tables.silver.orders.0.kind: 'uniq' is not one of not_null"),
    ("quality:\n  tables:\n    silver.orders:\n      - {kind: range, column: a}\n",
     "rules.yml: quality.tables.silver.orders.0.min: kind range needs max or min"),
    ("quality:\n  tables:\n    silver.orders:\n      - {kind: unique, column: a, colour: red}\n",
     "rules.yml: quality.tables.silver.orders.0.colour: unknown key"),
    ("quality:\n  tables:\n    orders:\n      - {kind: unique, column: a}\n",
     "rules.yml: quality.tables.orders: is not a table name of the form layer.table"),
    ("quality:\n  tables:\n    silver.orders:\n      - {kind: unique, column: a}\n"
     "      - {kind: unique, column: a, policy: warn}\n",
     "rules.yml: quality.tables.silver.orders: expectation name 'unique_a' is declared twice"),
    ("quality:\n  sample_rows: 1000\n", "rules.yml: quality.sample_rows: must be between 0 and 100"),
])
def test_invalid_expectations_name_key_and_file(tmp_path, text, message):
    rules = tmp_path / "rules.yml"
    rules.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_config([rules], conf_dir=CONF_DIR)
    assert message in str(err.value)


def test_a_conf_file_replaces_one_table_and_keeps_the_others(tmp_path):
    rules = tmp_path / "rules.yml"
    rules.write_text("quality:\n  tables:\n    silver.orders:\n      - {kind: not_null, column: order_id}\n")
    cfg = load_config([rules], conf_dir=CONF_DIR)
    assert [e.name for e in cfg.quality.tables["silver.orders"]] == ["not_null_order_id"]
    assert "silver.identity_map" in cfg.quality.tables


def test_cli_refuses_a_table_name_with_sql_in_it():
    result = crm_spark("quality", "--table", "silver.orders; DROP TABLE silver.customers")
    assert_one_line_error(result, "'silver.orders; DROP TABLE silver.customers' is not a table name")
    assert result.returncode == 1
