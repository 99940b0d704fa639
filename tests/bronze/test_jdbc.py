"""A JDBC source against a real PostgreSQL: incremental by watermark, exactly the changed rows."""

from __future__ import annotations

import pytest

from crm_spark import bronze
from tests.support.postgres import PostgresServer

pytestmark = pytest.mark.integration

SOURCE = """
sources:
  crm_db:
    channel: crm
    entity: contact
    format: jdbc
    location: {url}
    table: public.contacts
    watermark: updated_at
    user: crm
    password_env: CRM_TEST_PG_PASSWORD
    driver: org.postgresql.Driver
    schema: id INT, email STRING, full_name STRING, updated_at TIMESTAMP
    required: [id, email]
    mapping: {{source_id: id, email: email, full_name: full_name, updated_at: updated_at}}
"""


@pytest.fixture(scope="module")
def postgres():
    with PostgresServer() as server:
        server.sql("CREATE TABLE contacts (id INT PRIMARY KEY, email TEXT, full_name TEXT, "
                   "updated_at TIMESTAMP NOT NULL)")
        yield server


def rows_of_batch(lake, batch_id):
    return sorted((r.id, r.email, r.full_name) for r in lake.read("bronze.crm_db")
                  .where(f"_batch_id = {batch_id}").collect())


def test_incremental_read_brings_exactly_the_changed_and_new_rows(landing, ctx, postgres,
                                                                  monkeypatch):
    monkeypatch.setenv("CRM_TEST_PG_PASSWORD", postgres.password)
    postgres.sql("INSERT INTO contacts VALUES "
                 "(1, 'ann@example.org', 'Ann Lee', '2024-01-01 10:00:00'), "
                 "(2, 'bob@example.org', 'Bob Ray', '2024-01-02 10:00:00'), "
                 "(3, 'cy@example.org', 'Cy Dunn', '2024-01-03 10:00:00')")
    cfg = landing.config(SOURCE.format(url=postgres.url))
    lake = landing.lake(cfg)

    assert bronze.build(landing.spark, cfg, ctx)["bronze.crm_db"] == 3
    assert rows_of_batch(lake, 0) == [(1, "ann@example.org", "Ann Lee"),
                                      (2, "bob@example.org", "Bob Ray"),
                                      (3, "cy@example.org", "Cy Dunn")]
    assert bronze.build(landing.spark, cfg, ctx) == {}  # nothing changed

    postgres.sql("UPDATE contacts SET email = 'bob.ray@example.org', "
                 "updated_at = '2024-02-01 09:00:00' WHERE id = 2")
    postgres.sql("INSERT INTO contacts VALUES (4, 'dee@example.org', 'Dee Fox', "
                 "'2024-02-01 09:30:00'), (5, NULL, 'No Mail', '2024-02-01 09:45:00')")
    written = bronze.build(landing.spark, cfg, ctx)

    assert written["bronze.crm_db"] == 2
    assert rows_of_batch(lake, 1) == [(2, "bob.ray@example.org", "Bob Ray"),
                                      (4, "dee@example.org", "Dee Fox")]
    quarantined = lake.read("bronze._quarantine").collect()
    assert [(q._source, q.reason) for q in quarantined] == [("crm_db", "email: required value missing")]
    log = sorted(lake.read("bronze._ingest_log").collect(), key=lambda r: r.batch_id)
    assert [(r.batch_id, r.rows_read, r.rows_bronze, r.rows_quarantined) for r in log] == [
        (0, 3, 3, 0), (1, 3, 2, 1)]


def test_missing_password_variable_is_a_one_line_error(landing, ctx, postgres, monkeypatch):
    monkeypatch.delenv("CRM_TEST_PG_PASSWORD", raising=False)
    cfg = landing.config(SOURCE.format(url=postgres.url))
    with pytest.raises(Exception, match="environment variable CRM_TEST_PG_PASSWORD is not set"):
        bronze.build(landing.spark, cfg, ctx)
