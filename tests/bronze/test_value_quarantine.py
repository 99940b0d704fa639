"""One invalid field does not cost the whole record (issue 19, point 6): a contact with an
unparseable birth date is kept with ``birth_date`` null, in bronze and silver, and the value is
quarantined with its source, record key, column, rule and raw line."""

from __future__ import annotations

import datetime as dt

from crm_spark import silver

CONTACTS = """
sources:
  t_people:
    channel: test
    entity: contact
    format: csv
    location: t_people
    options: {header: true}
    schema: person_id STRING, surname STRING, born DATE, updated_at TIMESTAMP
    formats: {born: dd/MM/yyyy, updated_at: yyyy-MM-dd HH:mm}
    required: [person_id, updated_at]
    mapping: {source_id: person_id, last_name: surname, birth_date: born, updated_at: updated_at}
"""


def test_a_bad_birth_date_is_quarantined_as_a_value_and_the_contact_kept(source, ctx):
    people = source("t_people", CONTACTS)
    people.drop("p.csv",
                 "person_id,surname,born,updated_at\n"
                 "p1,Wood,26/01/1987,2024-01-01 10:00\n"
                 "p2,Kelly,31/02/1990,2024-01-01 10:00\n"     # no 31 February
                 "p3,Nguyen,01/05/1975,not a time\n")          # a required column: whole row
    cfg = people.config()
    written = people.ingest(cfg)
    lake = people.lake

    kept = sorted(tuple(r) for r in lake.read("bronze.t_people").select("person_id", "born").collect())
    assert kept == [("p1", dt.date(1987, 1, 26)), ("p2", None)]
    quarantine = sorted(tuple(r) for r in lake.read("bronze._quarantine").select(
        "_source", "record_key", "column_name", "reason", "raw").collect())
    assert quarantine == [
        ("t_people", "p2", "born", "born: does not convert to DATE (dd/MM/yyyy)",
         "p2,Kelly,31/02/1990,2024-01-01 10:00"),
        ("t_people", "p3", None, "updated_at: does not convert to TIMESTAMP (yyyy-MM-dd HH:mm)",
         "p3,Nguyen,01/05/1975,not a time"),
    ]
    # rows read = rows in bronze + rows quarantined; the quarantined value is counted apart
    log = lake.read("bronze._ingest_log").first()
    assert (log.rows_read, log.rows_bronze, log.rows_quarantined, log.values_quarantined) == (3, 2, 1, 1)
    assert written == {"bronze.t_people": 2, "bronze._quarantine": 2, "bronze._ingest_log": 1}

    silver.build(lake.spark, cfg, ctx)
    contacts = sorted(tuple(r) for r in lake.read("silver.contacts").select(
        "source_id", "last_name", "birth_date").collect())
    assert contacts == [("p1", "Wood", dt.date(1987, 1, 26)), ("p2", "Kelly", None)]
