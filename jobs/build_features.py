"""spark-submit entry point for point-in-time features (`crm-spark features`).

    spark-submit jobs/build_features.py [--conf FILE]... [--set key=value]...
        [--env cluster] [options of `crm-spark features`]
"""

import sys

from crm_spark.cli import job_main

if __name__ == "__main__":
    sys.exit(job_main("features", sys.argv[1:]))
