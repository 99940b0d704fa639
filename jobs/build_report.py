"""spark-submit entry point for the HTML dashboard (`crm-spark report`).

    spark-submit jobs/build_report.py [--conf FILE]... [--set key=value]... [--out PATH] [--as-of DATE]
"""

import sys

from crm_spark.cli import job_main

if __name__ == "__main__":
    sys.exit(job_main("report", sys.argv[1:]))
