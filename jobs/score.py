"""spark-submit entry point for scoring with the champion models (`crm-spark score`).

    spark-submit jobs/score.py [--conf FILE]... [--set key=value]...
        [--env cluster] [options of `crm-spark score`]
"""

import sys

from crm_spark.cli import job_main

if __name__ == "__main__":
    sys.exit(job_main("score", sys.argv[1:]))
