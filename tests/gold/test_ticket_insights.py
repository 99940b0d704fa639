"""gold.ticket_insights and the ticket texts behind it (issue 26, D98-D100): point in time,
no raw text or planted contact details past silver, planted tone read back by the sentiment."""

from __future__ import annotations

import csv
import datetime as dt
import re
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from crm_spark.gold.tickets import ticket_insights

TICKET_SCHEMA = ("ticket_id STRING, customer_id STRING, created_at TIMESTAMP, closed_at TIMESTAMP, "
                 "source STRING, category STRING, body STRING, body_redacted STRING, "
                 "body_language STRING, sentiment_score DOUBLE, sentiment_label STRING, satisfaction INT")
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
PHONE = re.compile(r"07\d{3} \d{6}")   # the generator's way of writing a customer's mobile


def test_an_earlier_as_of_holds_no_later_ticket_and_no_later_rating(spark):
    ts = dt.datetime
    rows = [
        ("T1", "C1", ts(2024, 3, 1, 9), ts(2024, 3, 2, 9), "helpdesk", "refund", "raw 1", "text 1",
         "en", -0.6, "negative", 1),
        ("T2", "C1", ts(2024, 3, 10, 23, 59), ts(2024, 3, 12), "helpdesk", "delivery", "raw 2",
         "text 2", "en", 0.0, "neutral", 4),
        ("T3", "C2", ts(2024, 3, 11, 0, 0), ts(2024, 3, 11, 5), "helpdesk", "account", "raw 3",
         "text 3", "en", 0.7, "positive", 5),
    ]
    tickets_df = spark.createDataFrame(rows, TICKET_SCHEMA)
    got = ticket_insights(tickets_df, dt.date(2024, 3, 10))
    assert "body" not in got.columns
    result = {r["ticket_id"]: r for r in got.collect()}
    assert sorted(result) == ["T1", "T2"]          # T3 was created on 11 March
    assert (result["T1"]["status"], result["T1"]["satisfaction"]) == ("closed", 1)
    # T2 closes on 12 March: open on the 10th, not rated yet
    t2 = result["T2"]
    assert (t2["status"], t2["closed_at"], t2["satisfaction"]) == ("open", None, None)
    assert result["T1"]["as_of"] == dt.date(2024, 3, 10)
    assert (result["T1"]["body_redacted"], result["T1"]["language"]) == ("text 1", "en")


def test_tickets_from_before_the_text_columns_skip_the_table_in_one_line(spark, caplog):
    from crm_spark.gold import GoldInputs
    from crm_spark.gold.tables import ticket_insights_step

    old_schema = "ticket_id STRING, customer_id STRING, created_at TIMESTAMP, body STRING"
    old_df = spark.createDataFrame([("T1", "C1", dt.datetime(2024, 3, 1), "raw")], old_schema)
    inputs = GoldInputs(spark, {"support_tickets": old_df}, dt.date(2024, 3, 10))
    assert ticket_insights_step(inputs, None) is None
    assert ("gold.ticket_insights skipped: silver.support_tickets predates its text columns "
            "(body_redacted, body_language, sentiment_score, sentiment_label); run "
            "`crm-spark silver --rebuild` once to add them") in caplog.text


def _truth_tickets(cfg) -> dict[str, dict]:
    path = Path(cfg.lake.truth) / "tickets" / "tickets.csv"
    with open(path, encoding="utf-8") as f:
        return {row["ticket_id"]: row for row in csv.DictReader(f)}


def _silver_tickets(lake) -> list:
    return lake.read("silver.support_tickets").select(
        "ticket_id", "body", "body_redacted", "sentiment_score", "sentiment_label").collect()


def test_planted_tone_is_read_back_by_the_sentiment(demo_lake):
    cfg, lake, _ = demo_lake
    truth = _truth_tickets(cfg)
    by_polarity: dict[str, list[float]] = {"negative": [], "positive": [], "neutral": []}
    for row in _silver_tickets(lake):
        planted = truth.get(row["ticket_id"])
        if planted is not None and row["sentiment_score"] is not None:
            by_polarity[planted["polarity"]].append(row["sentiment_score"])
    negatives, positives = by_polarity["negative"], by_polarity["positive"]
    assert len(negatives) > 20 and len(positives) > 20
    # measured on the demo data (seed 11, 400 persons): see D100 for the figures
    assert sum(s < 0 for s in negatives) / len(negatives) > 0.9
    assert sum(s > 0 for s in positives) / len(positives) > 0.9


def test_planted_contact_details_stay_in_silver_body_only(demo_lake):
    _, lake, _ = demo_lake
    with_contact = [r for r in _silver_tickets(lake) if EMAIL.search(r["body"]) or PHONE.search(r["body"])]
    assert len(with_contact) >= 5      # 15 % of the demo's tickets carry an e-mail or a phone
    for row in with_contact:
        redacted = row["body_redacted"]
        assert not EMAIL.search(redacted) and not PHONE.search(redacted), redacted
        assert "<email>" in redacted or "<phone>" in redacted
    ids = [r["ticket_id"] for r in with_contact]
    gold_rows = lake.read("gold.ticket_insights").where(F.col("ticket_id").isin(ids)).collect()
    assert gold_rows and "body" not in lake.read("gold.ticket_insights").columns
    for row in gold_rows:
        assert not EMAIL.search(row["body_redacted"]) and not PHONE.search(row["body_redacted"])


def test_gold_ticket_insights_holds_no_ticket_after_its_as_of(demo_lake):
    _, lake, _ = demo_lake
    latest = lake.read("gold.ticket_insights").groupBy("as_of").agg(F.max("created_at").alias("latest"))
    rows = latest.collect()
    assert rows
    for row in rows:
        assert row["latest"] < dt.datetime.combine(row["as_of"] + dt.timedelta(days=1), dt.time())


def test_planted_themes_mostly_agree_with_the_category_and_tone_follows_the_rating(demo_lake):
    cfg, lake, _ = demo_lake
    by_id = _truth_tickets(cfg)
    truth = list(by_id.values())
    ratings: dict[str, list[int]] = {"negative": [], "positive": []}
    for row in lake.read("silver.support_tickets").where("satisfaction IS NOT NULL").collect():
        polarity = by_id.get(row["ticket_id"], {}).get("polarity")
        if polarity in ratings:
            ratings[polarity].append(row["satisfaction"])
    mean = {p: sum(v) / len(v) for p, v in ratings.items()}
    assert mean["negative"] + 1 < mean["positive"]
    natural = {"delivery": "delivery_late", "refund": "refund", "product": "product_defect",
               "account": "account_login", "billing": "refund"}
    issues = [t for t in truth if t["theme"] != "praise"]
    agree = sum(natural[t["category"]] == t["theme"] for t in issues) / len(issues)
    assert 0.7 < agree < 0.97        # 0.85 planted: mostly, not always
    assert {t["theme"] for t in truth} == {"delivery_late", "refund", "product_defect",
                                           "account_login", "praise"}


@pytest.mark.parametrize("polarity", ["negative", "positive"])
def test_every_theme_has_phrasings_for_its_tones(polarity):
    from crm_spark.generate.ticket_texts import BODIES, THEMES

    themes = THEMES if polarity == "positive" else [t for t in THEMES if t != "praise"]
    assert all(len(BODIES[(t, polarity)]) >= 3 for t in themes)


def _adjusted_rand_index(pairs: list[tuple[str, int]]) -> float:
    """Hubert & Arabie's ARI of two labellings given as (truth, cluster) pairs."""
    from collections import Counter
    from math import comb

    cells = sum(comb(n, 2) for n in Counter(pairs).values())
    rows = sum(comb(n, 2) for n in Counter(t for t, _ in pairs).values())
    cols = sum(comb(n, 2) for n in Counter(c for _, c in pairs).values())
    expected = rows * cols / comb(len(pairs), 2)
    return (cells - expected) / ((rows + cols) / 2 - expected)


def test_adjusted_rand_index_by_hand():
    assert _adjusted_rand_index([("a", 1), ("a", 1), ("b", 2), ("b", 2)]) == 1.0
    # a b / a b split across clusters: no better than chance (index -0.5 here, by the formula)
    assert _adjusted_rand_index([("a", 1), ("b", 1), ("a", 2), ("b", 2)]) == pytest.approx(-0.5)


# measured 0.30 on the 10,000-person demo (k=10) and 0.42 on this lake (k=10, D108, D110);
# chance is 0, and templated bodies whose themes share few words (D108) keep it far below 1
THEMES_ARI_FLOOR = 0.2


def test_themes_recover_the_planted_themes_better_than_chance(demo_lake):
    cfg, lake, _ = demo_lake
    truth = _truth_tickets(cfg)
    themed = lake.read("gold.ticket_insights").where("theme_id IS NOT NULL")
    rows = themed.select("ticket_id", "theme_id").collect()
    pairs = [(truth[r["ticket_id"]]["theme"], r["theme_id"]) for r in rows if r["ticket_id"] in truth]
    assert len(pairs) > 150
    assert _adjusted_rand_index(pairs) > THEMES_ARI_FLOOR


def test_the_theme_catalogue_names_each_theme_and_points_at_a_ticket_of_it(demo_lake):
    from crm_spark.models import tracking

    cfg, lake, _ = demo_lake
    themes = lake.read("gold.themes").collect()
    insights = {r["ticket_id"]: r["theme_id"] for r in lake.read("gold.ticket_insights").collect()}
    assert cfg.gold.themes_k_min <= len(themes) <= cfg.gold.themes_k_max
    for theme in themes:
        assert theme["theme"] == " / ".join(theme["terms"]) and len(theme["terms"]) == 3
        assert insights[theme["example_ticket_id"]] == theme["theme_id"]
        assert theme["tickets"] == sum(t == theme["theme_id"] for t in insights.values())
    champion = tracking.alias_version(cfg, "crm_themes", tracking.CHAMPION)
    assert {t["model_version"] for t in themes} == {int(champion.version)}


def test_theme_trends_count_by_week_theme_source_and_segment(spark):
    from crm_spark.gold.tickets import theme_trends

    ts, day = dt.datetime, dt.date(2024, 3, 31)
    insights = spark.createDataFrame([
        # Monday 4 March week: two refund tickets of C1 (a 'champions' customer), one rated
        ("T1", "C1", ts(2024, 3, 4, 9), ts(2024, 3, 4, 11), "helpdesk", -0.5, "negative", 2, 0, "refund"),
        ("T2", "C1", ts(2024, 3, 10, 9), None, "helpdesk", 0.1, "neutral", None, 0, "refund"),
        # the same week, no customer: 'no purchases'
        ("T3", None, ts(2024, 3, 5, 9), ts(2024, 3, 6, 9), "helpdesk", 0.6, "positive", 5, 0, "refund"),
        # no theme: left out
        ("T4", "C1", ts(2024, 3, 5, 9), None, "helpdesk", 0.0, "neutral", None, None, None),
    ], "ticket_id string, customer_id string, created_at timestamp, closed_at timestamp, source string, "
       "sentiment_score double, sentiment_label string, satisfaction int, theme_id int, theme string"
    ).withColumn("as_of", F.lit(day))
    rfm = spark.createDataFrame([("C1", "champions")], "customer_id string, segment string")
    got = {r["segment"]: r for r in theme_trends(insights, rfm).collect()}
    assert sorted(got) == ["champions", "no purchases"]
    champions = got["champions"]
    assert champions["week"] == dt.date(2024, 3, 4)
    assert (champions["tickets"], champions["negative_tickets"], champions["rated_tickets"]) == (2, 1, 1)
    assert champions["mean_sentiment"] == pytest.approx(-0.2)
    assert champions["mean_satisfaction"] == 2.0
    assert (champions["closed_tickets"], champions["mean_resolution_hours"]) == (1, 2.0)
    assert got["no purchases"]["mean_resolution_hours"] == 24.0


def test_customer_360_shows_recent_ticket_sentiment_and_the_last_theme(spark):
    from crm_spark.gold.customer360 import service_of

    ts, as_of = dt.datetime, dt.date(2024, 6, 30)
    schema = ("ticket_id string, customer_id string, created_at timestamp, closed_at timestamp, "
              "satisfaction int, sentiment_score double")
    tickets_df = spark.createDataFrame([
        ("T1", "C1", ts(2024, 1, 5), None, None, -0.9),     # older than 90 days: not in the mean
        ("T2", "C1", ts(2024, 6, 1), None, None, -0.4),
        ("T3", "C1", ts(2024, 6, 20), None, None, 0.2),
        ("T4", "C2", ts(2024, 2, 1), None, None, 0.5),      # no ticket in 90 days: null
    ], schema)
    themed_df = spark.createDataFrame([
        ("T1", "C1", ts(2024, 1, 5), "refund"), ("T2", "C1", ts(2024, 6, 1), "login"),
        ("T3", "C1", ts(2024, 6, 20), None),                 # no theme: the one before counts
        ("T4", "C2", ts(2024, 2, 1), "delivery"),
    ], "ticket_id string, customer_id string, created_at timestamp, theme string")
    got = {r["customer_id"]: r for r in service_of(tickets_df, as_of, themed_df).collect()}
    assert got["C1"]["ticket_sentiment_90d"] == pytest.approx(-0.1)
    assert got["C1"]["last_ticket_theme"] == "login"
    assert (got["C2"]["ticket_sentiment_90d"], got["C2"]["last_ticket_theme"]) == (None, "delivery")
