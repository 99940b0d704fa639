"""spark-submit entry point for the whole flow.

    spark-submit jobs/run_pipeline.py [--conf FILE]... [--set key=value]... [--env cluster]
"""

import sys

from crm_spark.cli import main

if __name__ == "__main__":
    sys.exit(main([*sys.argv[1:], "run"]))
