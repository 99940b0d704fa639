"""Free text: cleaning, PII redaction and a language tag (``redact``), sentiment (``sentiment``).

Every function here is a Spark column expression or a ``DataFrame -> DataFrame`` transform; no
text is collected to the driver. Wiring for a text field ``body``::

    from crm_spark.text.redact import with_standardised_text
    from crm_spark.text.sentiment import add_sentiment

    tickets_df = with_standardised_text(tickets_df, "body")           # body_clean, body_language
    scored_df = add_sentiment(tickets_df, "body_clean", "body_language")  # sentiment_score, _label
"""
