"""spark-submit entry point for identity resolution (`crm-spark resolve`).

    spark-submit jobs/resolve_identity.py [--conf FILE]... [--set key=value]...
        [--env cluster] [options of `crm-spark resolve`]
"""

import sys

from crm_spark.cli import job_main

if __name__ == "__main__":
    sys.exit(job_main("resolve", sys.argv[1:]))
