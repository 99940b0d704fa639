"""SQL access to the lake: every table in Spark's catalog as ``layer.table`` (catalog), SQL from
the command line (query) and over JDBC/ODBC with Spark's Thrift server (server). See docs/sql.md.
"""

# the defaults the command line shows (kept here: the parser must not import Spark)
DEFAULT_MAX_ROWS = 1000          # rows `crm-spark sql` prints at most
THRIFT_PORT = 10000              # HiveServer2's usual port
THRIFT_HOST = "127.0.0.1"        # this machine only: the server asks for no password
