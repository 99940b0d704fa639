"""The lake over JDBC/ODBC: Spark's Thrift server (HiveServer2 protocol), started inside the
project's own session so that it sees the tables the catalog holds (D80).

Every client connection shares the server's Spark session (see :func:`serving_config`); queries
run in this process's Spark. Authentication is none (any user name, no password): bind it to 127.0.0.1, or
put it behind a network that only the intended users reach.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from dataclasses import dataclass, replace
from typing import Any

from py4j.protocol import Py4JJavaError
from pyspark.sql import SparkSession

from crm_spark.config import Config
from crm_spark.errors import CrmSparkError
from crm_spark.sql import THRIFT_HOST, THRIFT_PORT

log = logging.getLogger(__name__)


@dataclass
class ThriftServer:
    """A running Thrift server; :meth:`stop` closes its port (the Spark session stays)."""

    host: str
    port: int
    handle: Any     # the py4j handle of the JVM server
    scratch: str

    @property
    def jdbc_url(self) -> str:
        return f"jdbc:hive2://{self.host}:{self.port}/default"

    def stop(self) -> None:
        self.handle.stop()
        shutil.rmtree(self.scratch, ignore_errors=True)
        log.info("Thrift server on %s:%d stopped", self.host, self.port)


def serving_config(cfg: Config) -> Config:
    """``cfg`` for a session that serves JDBC: Spark's ``singleSession`` mode, in which every
    connection shares the server's own session (and so its ``USE``, ``SET`` and temp views).

    In the default mode the server opens a new session per client on a handler thread whose
    class loader does not see ``spark.jars``; a client that names a database, as every JDBC
    driver does (``.../default``), then fails with "Cannot find catalog plugin class ...
    DeltaCatalog" (D80).
    """
    options = {**cfg.spark.options, "spark.sql.hive.thriftServer.singleSession": "true"}
    return replace(cfg, spark=replace(cfg.spark, options=options))


def start_thrift_server(spark: SparkSession, host: str = THRIFT_HOST,
                        port: int = THRIFT_PORT) -> ThriftServer:
    """Start Spark's Thrift server on ``host:port`` over ``spark``'s catalog.

    Raises:
        CrmSparkError: the port is taken or the server's classes are missing.
    """
    if not 0 < port < 65536:
        raise CrmSparkError(f"--port {port}: give a port between 1 and 65535")
    scratch = tempfile.mkdtemp(prefix="crm-spark-thrift-")
    for folder in ("local", "hdfs", "resources", "operation_logs"):
        os.makedirs(os.path.join(scratch, folder))
    jvm: Any = spark.sparkContext._jvm
    # Hive's helpers write scratch files and a Derby log; keep them out of the working folder.
    jvm.java.lang.System.setProperty("derby.stream.error.file", os.path.join(scratch, "derby.log"))
    for key, value in {
        "hive.server2.thrift.bind.host": host,
        "hive.server2.thrift.port": str(port),
        "hive.server2.transport.mode": "binary",
        "hive.exec.local.scratchdir": os.path.join(scratch, "local"),
        "hive.exec.scratchdir": os.path.join(scratch, "hdfs"),
        "hive.downloaded.resources.dir": os.path.join(scratch, "resources"),
        "hive.server2.logging.operation.log.location": os.path.join(scratch, "operation_logs"),
    }.items():
        spark.conf.set(key, value)   # the server reads its Hive settings from the session's
    try:
        server_class = jvm.org.apache.spark.sql.hive.thriftserver.HiveThriftServer2
        handle = server_class.startWithSparkSession(spark._jsparkSession, False)
    except Py4JJavaError as e:
        shutil.rmtree(scratch, ignore_errors=True)
        text = str(e.java_exception)
        if "BindException" in str(e) or "Address already in use" in str(e):
            raise CrmSparkError(f"port {port} on {host} is in use; choose another with --port") from e
        raise CrmSparkError(f"the Thrift server did not start: {text.splitlines()[0]}") from e
    except TypeError as e:   # py4j: no such class (a Spark build without spark-hive-thriftserver)
        shutil.rmtree(scratch, ignore_errors=True)
        raise CrmSparkError("this Spark has no Thrift server (spark-hive-thriftserver JAR): "
                            "use the pip pyspark, or add the JAR with --jars") from e
    server = ThriftServer(host, port, handle, scratch)
    log.info("serving the lake over JDBC/ODBC at %s (HiveServer2 protocol, no authentication)",
             server.jdbc_url)
    return server
