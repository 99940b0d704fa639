"""spark-submit entry point for the synthetic data generator (`crm-spark generate`).

    spark-submit jobs/generate_data.py [--conf FILE]... [--set key=value]...
        [--env cluster] [options of `crm-spark generate`]
"""

import sys

from crm_spark.cli import job_main

if __name__ == "__main__":
    sys.exit(job_main("generate", sys.argv[1:]))
