"""crm-spark: an open CRM-analytics lakehouse on Spark, Delta Lake and MLflow."""

__version__ = "0.1.0"
