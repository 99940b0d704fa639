"""spark-submit entry point for the bronze ingestion (`crm-spark ingest`).

    spark-submit jobs/ingest_bronze.py [--conf FILE]... [--set key=value]...
        [--env cluster] [options of `crm-spark ingest`]
"""

import sys

from crm_spark.cli import job_main

if __name__ == "__main__":
    sys.exit(job_main("ingest", sys.argv[1:]))
