import datetime as dt
import types

import pytest

from crm_spark.config import load_config, resolve_secret
from crm_spark.errors import ConfigError
from tests.conftest import CONF_DIR


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_defaults_load_into_frozen_typed_objects():
    cfg = load_config(conf_dir=CONF_DIR, env="local")
    assert cfg.spark.master == "local[*]"
    assert cfg.generate.start_date == dt.date(2023, 1, 1)
    assert isinstance(cfg.spark.options, types.MappingProxyType)
    with pytest.raises(AttributeError):
        cfg.spark.master = "yarn"


def test_merge_order_conf_file_then_set(tmp_path):
    extra = write(tmp_path, "extra.yml", "generate:\n  persons: 77\n  seed: 5\n")
    cfg = load_config([extra], ["generate.seed=9"], conf_dir=CONF_DIR)
    assert (cfg.generate.persons, cfg.generate.seed) == (77, 9)


def test_cluster_overlay_changes_master():
    assert load_config(conf_dir=CONF_DIR, env="cluster").spark.master == "yarn"


def test_set_reaches_dotted_spark_options():
    cfg = load_config(overrides=["spark.options.spark.sql.ansi.enabled=true"], conf_dir=CONF_DIR)
    assert cfg.spark.options["spark.sql.ansi.enabled"] == "true"
    assert cfg.spark.options["spark.sql.session.timeZone"] == "UTC"


@pytest.mark.parametrize("override, message", [
    ("spark.master=nonsense", "--set: spark.master: 'nonsense' is not a Spark master URL"),
    ("generate.persons=many", "--set: generate.persons: expected an integer"),
    ("generate.persons=true", "--set: generate.persons: expected an integer"),
    ("generate.start_date=yesterday", "--set: generate.start_date: expected a date"),
    ("lake.rooot=x", "--set: lake.rooot: unknown key (did you mean 'root'?)"),
    ("spark.packages=abc", "--set: spark.packages: expected a list"),
    ("generate.malformed_rate=1.5", "--set: generate.malformed_rate: must be a fraction"),
    ("nonsense", "expected key.path=value"),
])
def test_invalid_overrides_name_key_and_origin(override, message):
    with pytest.raises(ConfigError) as err:
        load_config(overrides=[override], conf_dir=CONF_DIR)
    assert message in str(err.value)


def test_misspelt_key_names_the_file(tmp_path):
    bad = write(tmp_path, "bad.yml", "spark:\n  driver_memroy: 8g\n")
    with pytest.raises(ConfigError, match=r"bad.yml: spark.driver_memroy: unknown key "
                                          r"\(did you mean 'driver_memory'\?\)"):
        load_config([bad], conf_dir=CONF_DIR)


def test_missing_value_is_named(tmp_path):
    conf = tmp_path / "conf"
    conf.mkdir()
    base = (CONF_DIR / "base.yml").read_text().replace("  persons: 10000\n", "")
    (conf / "base.yml").write_text(base)
    with pytest.raises(ConfigError, match=r"generate.persons: missing value"):
        load_config(conf_dir=conf)


def test_wrong_type_in_file_names_that_file(tmp_path):
    bad = write(tmp_path, "bad.yml", "spark:\n  shuffle_partitions: [1, 2]\n")
    with pytest.raises(ConfigError, match=r"bad.yml: spark.shuffle_partitions: expected an integer"):
        load_config([bad], conf_dir=CONF_DIR)


def test_broken_yaml_is_one_line(tmp_path):
    bad = write(tmp_path, "bad.yml", "spark: [\n")
    with pytest.raises(ConfigError, match=r"bad.yml: line \d+ is not valid YAML"):
        load_config([bad], conf_dir=CONF_DIR)


def test_literal_password_is_refused(tmp_path):
    bad = write(tmp_path, "db.yml", "sources:\n  crm_db:\n    channel: crm\n    entity: contact\n"
                "    format: jdbc\n    location: jdbc:postgresql://h/db\n    schema: 'id INT'\n"
                "    password: hunter2\n")
    with pytest.raises(ConfigError, match=r"db.yml: sources.crm_db.password: secrets are not "
                                          r"allowed"):
        load_config([bad], conf_dir=CONF_DIR)


def test_secret_comes_from_the_named_environment_variable(monkeypatch):
    monkeypatch.setenv("CRM_TEST_SECRET", "s3cr3t")
    assert resolve_secret("CRM_TEST_SECRET", "sources.db") == "s3cr3t"
    monkeypatch.delenv("CRM_TEST_SECRET")
    with pytest.raises(ConfigError, match="environment variable CRM_TEST_SECRET is not set"):
        resolve_secret("CRM_TEST_SECRET", "sources.db")


def test_missing_conf_file_is_reported(tmp_path):
    with pytest.raises(ConfigError, match="nope.yml: configuration file not found"):
        load_config([tmp_path / "nope.yml"], conf_dir=CONF_DIR)
