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
    ("spark.concurrency=0", "--set: spark.concurrency: must be at least 1"),
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


def jdbc_source(location: str, extra: str = "") -> str:
    return ("sources:\n  crm_db:\n    channel: crm\n    entity: contact\n    format: jdbc\n"
            f"    location: '{location}'\n    schema: 'id INT'\n    password_env: CRM_DB_PASSWORD\n{extra}")


@pytest.mark.parametrize("location", [
    "jdbc:postgresql://db.internal:5432/crm?user=etl&password=hunter2",
    "jdbc:sqlserver://db.internal:1433;databaseName=crm;password=hunter2",
    "jdbc:mysql://etl:hunter2@db.internal:3306/crm",
    "jdbc:oracle:thin:etl/hunter2@db.internal:1521:crm",
])
def test_password_inside_a_jdbc_url_is_refused_without_echoing_it(tmp_path, location):
    bad = write(tmp_path, "db.yml", jdbc_source(location))
    with pytest.raises(ConfigError) as err:
        load_config([bad], conf_dir=CONF_DIR)
    message = str(err.value)
    assert message.startswith(f"{bad}: sources.crm_db.location: a password inside a JDBC URL is not allowed")
    assert "password_env" in message and "hunter2" not in message


def test_a_jdbc_url_without_a_password_is_accepted(tmp_path):
    good = write(tmp_path, "db.yml", jdbc_source("jdbc:postgresql://etl@db.internal:5432/crm?ssl=true"))
    cfg = load_config([good], conf_dir=CONF_DIR)
    assert cfg.sources["crm_db"].location == "jdbc:postgresql://etl@db.internal:5432/crm?ssl=true"


@pytest.mark.parametrize("option", [
    "spark.hadoop.fs.s3a.secret.key",
    "spark.hadoop.fs.s3a.access.key",
    "spark.hadoop.fs.s3a.session.token",
    "spark.hadoop.fs.azure.account.key.acct.dfs.core.windows.net",
    "spark.hadoop.fs.azure.account.oauth2.client.secret",
    "spark.ssl.keyStorePassword",
    "spark.executorEnv.AWS_SECRET_ACCESS_KEY",
])
def test_secret_looking_spark_options_are_refused_in_yaml_and_in_set(tmp_path, option):
    bad = write(tmp_path, "s3.yml", f"spark:\n  options:\n    {option}: abc123\n")
    with pytest.raises(ConfigError) as err:
        load_config([bad], conf_dir=CONF_DIR)
    assert f"s3.yml: spark.options.{option}: looks like a credential" in str(err.value)
    assert "spark.options_env" in str(err.value) and "abc123" not in str(err.value)
    # --set delivers the dotted name nested; it is refused all the same
    with pytest.raises(ConfigError, match=f"--set: spark.options.{option}: looks like a credential"):
        load_config(overrides=[f"spark.options.{option}=abc123"], conf_dir=CONF_DIR)


def test_options_naming_a_provider_type_or_file_are_not_secrets(tmp_path):
    names = ["spark.hadoop.fs.s3a.aws.credentials.provider",
             "spark.hadoop.fs.azure.account.oauth.provider.type",
             "spark.hadoop.fs.azure.sas.token.provider.type", "spark.authenticate.secret.file",
             "spark.hadoop.fs.azure.account.oauth2.client.id", "spark.authenticate.enableSaslEncryption"]
    good = write(tmp_path, "ok.yml", "spark:\n  options:\n" + "".join(f"    {n}: x\n" for n in names))
    assert set(names) <= set(load_config([good], conf_dir=CONF_DIR).spark.options)


def test_a_secret_option_comes_from_the_environment_variable_named_in_options_env(tmp_path):
    yml = write(tmp_path, "s3.yml",
                "spark:\n  options_env:\n    spark.hadoop.fs.s3a.secret.key: CRM_S3_SECRET\n")
    cfg = load_config([yml], conf_dir=CONF_DIR)
    assert dict(cfg.spark.options_env) == {"spark.hadoop.fs.s3a.secret.key": "CRM_S3_SECRET"}
    cfg = load_config(overrides=["spark.options_env.spark.hadoop.fs.s3a.secret.key=CRM_S3_SECRET"],
                      conf_dir=CONF_DIR)
    assert dict(cfg.spark.options_env) == {"spark.hadoop.fs.s3a.secret.key": "CRM_S3_SECRET"}
    with pytest.raises(ConfigError, match=r"spark.options_env.spark.hadoop.fs.s3a.secret.key: 'my key' "
                                          r"is not an environment variable name"):
        load_config(overrides=["spark.options_env.spark.hadoop.fs.s3a.secret.key='my key'"],
                    conf_dir=CONF_DIR)


def test_unknown_environment_is_refused_with_the_known_ones(monkeypatch):
    with pytest.raises(ConfigError) as err:
        load_config(conf_dir=CONF_DIR, env="nosuchenv")
    assert str(err.value) == ("--env nosuchenv: unknown environment; known: cluster, local "
                              f"(the overlays in {CONF_DIR})")
    monkeypatch.setenv("CRM_SPARK_ENV", "clustr")
    with pytest.raises(ConfigError, match=r"^CRM_SPARK_ENV=clustr: unknown environment; known: cluster"):
        load_config(conf_dir=CONF_DIR)
    for not_an_overlay in ("base", "sources", "../conf/base"):
        with pytest.raises(ConfigError, match="unknown environment"):
            load_config(conf_dir=CONF_DIR, env=not_an_overlay)


def test_local_needs_no_overlay_file(tmp_path):
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "base.yml").write_text((CONF_DIR / "base.yml").read_text())
    assert load_config(conf_dir=conf, env="local").spark.master == "local[*]"
    assert load_config(conf_dir=conf).spark.master == "local[*]"


def test_default_region_is_any_region_libphonenumber_knows():
    # the nine hand-written plans knew none of these
    for region in ("BR", "JP", "IN", "AU", "ZA"):
        cfg = load_config(overrides=[f"silver.default_region={region}"], conf_dir=CONF_DIR)
        assert cfg.silver.default_region == region
    with pytest.raises(ConfigError) as err:
        load_config(overrides=["silver.default_region=XX"], conf_dir=CONF_DIR)
    assert str(err.value) == ("--set: silver.default_region: 'XX' is not a region code libphonenumber "
                              "knows (ISO 3166 alpha-2, e.g. GB, AU)")
