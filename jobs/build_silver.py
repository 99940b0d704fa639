"""spark-submit entry point for the silver build (`crm-spark silver`).

    spark-submit jobs/build_silver.py [--conf FILE]... [--set key=value]...
        [--env cluster] [options of `crm-spark silver`]
"""

import sys

from crm_spark.cli import job_main

if __name__ == "__main__":
    sys.exit(job_main("silver", sys.argv[1:]))
