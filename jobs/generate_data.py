"""spark-submit entry point for the synthetic data generator.

    spark-submit jobs/generate_data.py [--conf FILE]... [--set generate.persons=N]...
"""

import sys

from crm_spark.cli import main

if __name__ == "__main__":
    sys.exit(main([*sys.argv[1:], "generate", "--force"]))
