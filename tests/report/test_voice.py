"""The "Voice of the customer" section read from inline gold ticket tables: weekly volumes per theme,
sentiment per RFM segment, the emerging theme or the sentence saying there is none, the theme table,
and the empty-state notes."""

from __future__ import annotations

import datetime as dt

from crm_spark.report import build_section
from crm_spark.report.base import ReportData
from crm_spark.report.page import section_html

AS_OF = dt.date(2024, 12, 31)   # a Tuesday: the last week shown, from Monday 30 Dec, is partial
TRENDS = ("as_of date, week date, theme_id int, theme string, source string, segment string, tickets long, "
          "negative_tickets long, mean_sentiment double, rated_tickets long, mean_satisfaction double, "
          "closed_tickets long, mean_resolution_hours double")
THEMES = ("as_of date, theme_id int, theme string, terms array<string>, example_ticket_id string, "
          "tickets long, recent_tickets long, emerging boolean, model_version int")
INSIGHTS = ("as_of date, ticket_id string, customer_id string, created_at timestamp, closed_at timestamp, "
            "status string, source string, category string, body_redacted string, language string, "
            "sentiment_score double, sentiment_label string, satisfaction int, theme_id int, theme string, "
            "theme_emerging boolean")
REFUND, DELIVERY = "refund / days / answer", "delivery / parcel / late"
REFUND_TEXT = "No refund after 30 days, write to <email> and no answer."
DELIVERY_TEXT = "Parcel arrived late, delivery took two weeks."


def d(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def t(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


def write_tickets(spark, lake, refund_emerging: bool) -> None:
    trends = [
        (AS_OF, d("2024-12-30"), 0, REFUND, "email", "Champions", 3, 2, -0.5, 2, 2.0, 2, 10.0),
        (AS_OF, d("2024-12-30"), 0, REFUND, "phone", "At risk", 2, 2, -0.6, 1, 1.0, 1, 5.0),
        (AS_OF, d("2024-12-23"), 0, REFUND, "email", "At risk", 4, 3, -0.4, 4, 2.5, 4, 8.0),
        (AS_OF, d("2024-12-23"), 1, DELIVERY, "email", "Champions", 5, 1, 0.2, 5, 4.0, 5, 12.0),
        # the first week shown; a text with no sentiment (not English), not rated, not closed
        (AS_OF, d("2024-07-08"), 1, DELIVERY, "email", "no purchases", 1, 0, None, 0, None, 0, None),
        # a week before the 26 shown: in the theme table only
        (AS_OF, d("2024-07-01"), 1, DELIVERY, "email", "Champions", 6, 0, 0.5, 6, 5.0, 6, 3.0),
    ]
    themes = [
        (AS_OF, 0, REFUND, ["refund", "days", "answer"], "t1", 9, 5 if refund_emerging else 0,
         refund_emerging, 3),
        (AS_OF, 1, DELIVERY, ["delivery", "parcel", "late"], "t2", 12, 0, False, 3),
    ]
    insights = [
        (AS_OF, "t1", "c1", t("2024-12-30 10:00:00"), None, "open", "email", "billing", REFUND_TEXT, "en",
         -0.6, "negative", None, 0, REFUND, refund_emerging),
        (AS_OF, "t3", "c2", t("2024-12-04 09:00:00"), t("2024-12-05 09:00:00"), "closed", "phone", "billing",
         "Still no refund.", "en", -0.3, "negative", 2, 0, REFUND, refund_emerging),
        (AS_OF, "t2", "c3", t("2024-12-23 08:00:00"), t("2024-12-24 08:00:00"), "closed", "email", "delivery",
         DELIVERY_TEXT, "en", 0.1, "neutral", 4, 1, DELIVERY, False),
    ]
    for rows, schema, table in ((trends, TRENDS, "gold.theme_trends"), (themes, THEMES, "gold.themes"),
                                (insights, INSIGHTS, "gold.ticket_insights")):
        lake.overwrite(spark.createDataFrame(rows, schema), table)


def bars(figure) -> dict[str, dict[str, float]]:
    """Each trace's non-zero bars, by x as ISO text or label."""
    return {trace.name: {str(x): y for x, y in zip(trace.x, trace.y, strict=True) if y}
            for trace in figure.data}


def test_voice_shows_weekly_theme_volumes_sentiment_by_segment_and_the_emerging_theme(spark, lake):
    write_tickets(spark, lake, refund_emerging=True)

    section = build_section(ReportData(lake, AS_OF, "GBP"), "voice")

    volumes, by_segment = section.figures
    assert bars(volumes) == {f"{REFUND} (emerging)": {"2024-12-23": 4, "2024-12-30": 5},
                             DELIVERY: {"2024-07-08": 1, "2024-12-23": 5}}
    # the largest theme at the bottom of the stack
    assert [trace.name for trace in volumes.data] == [f"{REFUND} (emerging)", DELIVERY]
    weeks = list(volumes.data[0].x)
    assert (len(weeks), weeks[0], weeks[-1]) == (26, d("2024-07-08"), d("2024-12-30"))
    assert volumes.layout.xaxis.title.text == (
        "Week (starting Monday; the last runs from 30 Dec to 31 Dec 2024)")
    sentiment, negative = by_segment.data
    assert list(sentiment.y) == ["At risk (n=6)", "Champions (n=8)", "no purchases (n=1)"]
    # At risk: (-0.6 x 2 + -0.4 x 4) / 6; Champions: (-0.5 x 3 + 0.2 x 5) / 8; no purchases: no sentiment
    assert [round(x, 4) if x is not None else None for x in sentiment.x] == [-0.4667, -0.0625, None]
    assert [round(x, 2) for x in negative.x] == [83.33, 37.5, 0.0]
    assert section.reading == (
        f"15 tickets with a theme in the 26 weeks from 08 Jul 2024; the largest theme, \u201c{REFUND} "
        "(emerging)\u201d, had 60% of them. The most negative tickets came from At risk: 83% of their 6 "
        "were negative.")
    assert section.paragraphs == (
        f"Emerging theme: \u201c{REFUND}\u201d (terms: refund, days, answer): 5 of its 9 tickets are recent "
        f"(the first on 04 Dec 2024). Its representative ticket: \u201c{REFUND_TEXT}\u201d",)
    # negative and satisfaction over all weeks: refund 7 of 9, (2x2.0 + 1x1.0 + 4x2.5) / 7;
    # delivery 1 of 12, (5x4.0 + 6x5.0) / 11
    assert section.table.rows == (
        (DELIVERY, "12", "8%", "4.55", DELIVERY_TEXT),
        (f"{REFUND} (emerging)", "9", "78%", "2.14", REFUND_TEXT),
    )
    page = section_html(section)
    assert '<td class="text">No refund after 30 days, write to &lt;email&gt; and no answer.</td>' in page
    assert "Emerging theme: \u201crefund / days / answer\u201d" in page


def test_voice_says_in_one_sentence_that_no_theme_is_emerging(spark, lake):
    write_tickets(spark, lake, refund_emerging=False)

    section = build_section(ReportData(lake, AS_OF, "GBP"), "voice")

    assert section.paragraphs == ("No theme is emerging: no theme's share of the recent tickets grew "
                                  "markedly against the weeks before.",)
    assert len(section.figures) == 2
    assert {trace.name for trace in section.figures[0].data} == {REFUND, DELIVERY}


def test_voice_is_an_empty_note_without_ticket_tables_or_without_themes(spark, lake):
    data = ReportData(lake, AS_OF, "GBP")

    missing = build_section(data, "voice")

    assert missing.is_empty
    assert missing.empty_note == "gold.theme_trends does not exist yet: run `crm-spark gold` to write it."
    lake.overwrite(spark.createDataFrame([], TRENDS), "gold.theme_trends")
    no_themes = build_section(data, "voice")
    assert no_themes.is_empty
    assert no_themes.empty_note.startswith(
        "No ticket has a theme at this as_of: there were too few ticket texts")
