"""spark-submit entry point for the whole flow (`crm-spark run`).

    spark-submit jobs/run_pipeline.py [--conf FILE]... [--set key=value]...
        [--env cluster] [options of `crm-spark run`]
"""

import sys

from crm_spark.cli import job_main

if __name__ == "__main__":
    sys.exit(job_main("run", sys.argv[1:]))
