"""Training the probabilistic model on a source that lacks some identifiers: a training rule
that gives no record pairs is skipped; when none gives pairs, resolve stops with one line."""

from __future__ import annotations

import pytest

from crm_spark.errors import CrmSparkError
from crm_spark.tables import Lake
from tests.conftest import make_config
from tests.identity.test_stable_ids import add_contacts, contact, resolve

# no phone, postcode or birth date anywhere (like splink's fake_1000); two records share a mailbox
CONTACTS = [contact("crm", f"C{i}", first, last, email)
            for i, (first, last, email) in enumerate([
                ("Ann", "Lee", "ann.lee@example.org"), ("Anne", "Lee", "ann.lee@example.org"),
                ("Bob", "Stone", "bob@example.org"), ("Cara", "Diaz", "cara@example.org"),
                ("Dan", "Moss", "dan@example.org"), ("Eve", "Hart", "eve@example.org"),
                ("Finn", "Ray", "finn@example.org"), ("Gus", "Hale", "gus@example.org")])]


def test_no_training_rule_with_pairs_stops_resolve_in_one_line(spark, tmp_path):
    cfg = make_config(tmp_path, ["identity.training_blocking=[[phone], [birth_date, postcode_match]]"])
    lake = Lake(spark, cfg.lake.root)
    add_contacts(spark, lake, cfg, CONTACTS)

    with pytest.raises(CrmSparkError) as raised:
        resolve(spark, cfg, 1)

    message = str(raised.value)
    assert "\n" not in message
    assert "phone, birth_date+postcode_match" in message and "identity.probabilistic=false" in message
    assert not lake.exists("silver.identity_map")
