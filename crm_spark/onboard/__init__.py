"""Onboarding a user's own exports: ``crm-spark init`` proposes source declarations from sample
files (:mod:`.inspect`, :mod:`.propose`), ``crm-spark check-config`` shows what ingest would
quarantine before anything is written (:mod:`.check`)."""
