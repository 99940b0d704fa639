"""spark-submit entry point for bronze ingestion.

    spark-submit jobs/ingest_bronze.py [--conf FILE]... [--set key=value]... [--source NAME]
"""

import sys

from crm_spark.cli import main

if __name__ == "__main__":
    options = [a for a in sys.argv[1:] if a not in ("--source",)]
    source = sys.argv[sys.argv.index("--source") + 1] if "--source" in sys.argv else None
    if source:
        options.remove(source)
    sys.exit(main([*options, "ingest", *(["--source", source] if source else [])]))
