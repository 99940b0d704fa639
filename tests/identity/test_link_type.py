"""Sources that are already one record per person: `identity.link_type: link_only` and
`identity.deduplicated_sources` keep pairs within such a source from being scored or linked
by a shared key, while records of different sources still link."""

from __future__ import annotations

from pathlib import Path

from crm_spark.identity import pairs
from crm_spark.tables import Lake
from tests.conftest import make_config
from tests.identity.people import PERSONS, identifier_poor_contacts, person, write_contacts
from tests.identity.test_stable_ids import add_contacts, contact, ids, resolve


def test_link_only_pairs_records_of_different_sources_only(spark, tmp_path):
    # persons 0-5 once in crm and once in loyalty (street typo there); person 6 twice in crm
    # only, and two crm records share a family mailbox.
    crm = identifier_poor_contacts("crm", copies=1)[:7]
    crm.append(identifier_poor_contacts("crm", copies=2)[13])          # person 6, street typo
    crm += [person("crm", "F1", "Sam", "Park", "1950-01-01", "1 Elm St", "Perth", "6000", "WA",
                   email="parks@example.org"),
            person("crm", "F2", "Lee", "Park", "1952-02-02", "1 Elm St", "Perth", "6000", "WA",
                   email="parks@example.org")]
    loyalty = [row for row in identifier_poor_contacts("loyalty", copies=2) if row[1].endswith("-1")][:6]
    cfg = make_config(tmp_path, ["identity.link_type=link_only"])
    lake = Lake(spark, cfg.lake.root)
    write_contacts(spark, lake, cfg, crm + loyalty)

    resolve(spark, cfg, 1)

    mapped = ids(lake)
    for index in range(6):
        assert mapped[("crm", f"P{index}-0")] == mapped[("loyalty", f"P{index}-1")], PERSONS[index]
    within_crm = [("crm", "P6-0"), ("crm", "P6-1"), ("crm", "F1"), ("crm", "F2")]
    assert len({mapped[key] for key in within_crm}) == 4
    assert len(set(mapped.values())) == 6 + 4


def test_a_deduplicated_source_is_not_linked_within_by_a_shared_key(spark, tmp_path):
    cfg = make_config(tmp_path, ["identity.probabilistic=false", "identity.deduplicated_sources=[crm]"])
    lake = Lake(spark, cfg.lake.root)
    add_contacts(spark, lake, cfg, [
        contact("crm", "1", "Sam", "Park", "parks@example.org"),
        contact("crm", "2", "Lee", "Park", "parks@example.org"),     # same mailbox, same source
        contact("shop", "1", "Ava", "Wood", "ava@example.org"),
        contact("shop", "2", "Ava", "Wood", "ava@example.org"),      # shop is not deduplicated
        contact("crm", "3", "Ben", "Lee", "ben@example.org"),
        contact("crm", "4", "Ben", "Lee", None, "07700 900002"),
        contact("shop", "3", "Ben", "Lee", "ben@example.org", "07700 900002"),  # bridges crm 3, 4
    ])

    resolve(spark, cfg, 1)

    mapped = ids(lake)
    assert mapped[("crm", "1")] != mapped[("crm", "2")]
    assert mapped[("shop", "1")] == mapped[("shop", "2")]
    assert mapped[("crm", "3")] == mapped[("crm", "4")] == mapped[("shop", "3")]
    assert len(set(mapped.values())) == 4


def test_pairs_within_a_deduplicated_source_are_not_counted(spark):
    cfg = make_config(Path("/unused"), ["identity.deduplicated_sources=[crm]"]).identity
    records = spark.createDataFrame(
        [("crm", "crm|1", "lee"), ("crm", "crm|2", "lee"), ("shop", "shop|1", "lee"),
         ("shop", "shop|2", "lee"), ("shop", "shop|3", "ray"), ("shop", "shop|4", None)],
        "source STRING, record_id STRING, last_name_match STRING")

    counts = pairs.pair_counts(pairs.with_dedupe_scope(records, cfg), [("last_name_match",)], scoped=True)

    # six records: 15 pairs, less crm 1 + crm 2; the "lee" block: 6 pairs, less the same one
    assert counts == {(): 14, ("last_name_match",): 5}
