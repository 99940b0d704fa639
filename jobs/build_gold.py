"""spark-submit entry point for the gold tables (`crm-spark gold`).

    spark-submit jobs/build_gold.py [--conf FILE]... [--set key=value]...
        [--env cluster] [--as-of YYYY-MM-DD]
"""

import sys

from crm_spark.cli import job_main

if __name__ == "__main__":
    sys.exit(job_main("gold", sys.argv[1:]))
