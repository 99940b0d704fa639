"""spark-submit entry point for model training (`crm-spark train`).

    spark-submit jobs/train_model.py [--conf FILE]... [--set key=value]...
        [--env cluster] [options of `crm-spark train`]
"""

import sys

from crm_spark.cli import job_main

if __name__ == "__main__":
    sys.exit(job_main("train", sys.argv[1:]))
