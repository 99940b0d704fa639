"""File-system questions asked through Hadoop, so any lake URI (file, hdfs, s3a, abfss) works."""

from __future__ import annotations

import re
from typing import Any

from pyspark.sql import SparkSession


def _fs_and_path(spark: SparkSession, uri: str):
    jvm: Any = spark.sparkContext._jvm
    path = jvm.org.apache.hadoop.fs.Path(uri)
    return path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()), path


def exists(spark: SparkSession, uri: str) -> bool:
    fs, path = _fs_and_path(spark, uri)
    return bool(fs.exists(path))


def is_file(spark: SparkSession, uri: str) -> bool:
    fs, path = _fs_and_path(spark, uri)
    return bool(fs.exists(path) and fs.getFileStatus(path).isFile())


def child_dirs(spark: SparkSession, uri: str) -> list[str]:
    """Names of the folders directly under ``uri`` (empty when it does not exist)."""
    fs, path = _fs_and_path(spark, uri)
    if not fs.exists(path):
        return []
    return sorted(s.getPath().getName() for s in fs.listStatus(path) if s.isDirectory())


def file_names(spark: SparkSession, uri: str) -> list[str]:
    """Names of the files directly under ``uri`` (empty when it does not exist)."""
    fs, path = _fs_and_path(spark, uri)
    if not fs.exists(path):
        return []
    return sorted(s.getPath().getName() for s in fs.listStatus(path) if s.isFile())


def has_files(spark: SparkSession, uri: str) -> bool:
    """True when any data file (not hidden, not a marker) lies anywhere under ``uri``."""
    fs, path = _fs_and_path(spark, uri)
    if not fs.exists(path):
        return False
    files = fs.listFiles(path, True)
    while files.hasNext():
        name = files.next().getPath().getName()
        if not name.startswith((".", "_")):
            return True
    return False


def delete(spark: SparkSession, uri: str) -> None:
    fs, path = _fs_and_path(spark, uri)
    if fs.exists(path):
        fs.delete(path, True)


def list_dir(spark: SparkSession, uri: str) -> list[tuple[str, bool]]:
    """(full path, is a folder) of every entry directly under ``uri``."""
    fs, path = _fs_and_path(spark, uri)
    if not fs.exists(path):
        return []
    return sorted((s.getPath().toString(), bool(s.isDirectory())) for s in fs.listStatus(path))


def rename(spark: SparkSession, source: str, target: str) -> None:
    """Move a file, creating the target's folder."""
    fs, path = _fs_and_path(spark, source)
    jvm: Any = spark.sparkContext._jvm
    target_path = jvm.org.apache.hadoop.fs.Path(target)
    fs.mkdirs(target_path.getParent())
    if not fs.rename(path, target_path):
        raise OSError(f"could not move {source} to {target}")


def qualified(spark: SparkSession, uri: str) -> str:
    """``uri`` with its scheme and an absolute path (``lake`` -> ``file:/home/me/lake``): SQL
    statements on ``delta.`path``` do not resolve relative paths."""
    fs, path = _fs_and_path(spark, uri)
    return fs.makeQualified(path).toString()


def uri_spellings(uri: str) -> list[str]:
    """The ways Spark spells one file's URI: the file source's log writes an empty authority
    (``file:///a%20b``), ``_metadata.file_path`` of a local file does not (``file:/a%20b``)."""
    return list(dict.fromkeys([uri, re.sub(r"^([A-Za-z][\w+.-]*):///", r"\1:/", uri)]))


def head_lines(spark: SparkSession, uri: str, limit: int) -> list[str]:
    """Up to ``limit`` first lines of the text file at ``uri`` (an encoded URI),
    decompressed by its extension (.gz, .bz2, …) as Spark's text source does, without a
    leading byte-order mark."""
    jvm: Any = spark.sparkContext._jvm
    path = jvm.org.apache.hadoop.fs.Path(jvm.java.net.URI(uri))
    return _read_lines(spark, path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()),
                       path, limit)


def read_text(spark: SparkSession, uri: str) -> str | None:
    """A small text file's content; None when it does not exist."""
    fs, path = _fs_and_path(spark, uri)
    if not fs.exists(path):
        return None
    return "\n".join(_read_lines(spark, fs, path, None))


def _read_lines(spark: SparkSession, fs, path, limit: int | None) -> list[str]:
    jvm: Any = spark.sparkContext._jvm
    codec = jvm.org.apache.hadoop.io.compress.CompressionCodecFactory(
        spark.sparkContext._jsc.hadoopConfiguration()).getCodec(path)
    stream = fs.open(path)
    if codec is not None:
        stream = codec.createInputStream(stream)
    reader = jvm.java.io.BufferedReader(jvm.java.io.InputStreamReader(stream, "UTF-8"))
    try:
        lines: list[str] = []
        while limit is None or len(lines) < limit:
            line = reader.readLine()
            if line is None:
                break
            lines.append(line)
    finally:
        reader.close()
    if lines:
        lines[0] = lines[0].removeprefix("\ufeff")
    return lines


def qualified_uri(spark: SparkSession, uri: str) -> str:
    """``uri`` qualified (scheme, absolute path) and URI-encoded (``file:/a%20b``), as the file
    source's log spells the files it has read."""
    fs, path = _fs_and_path(spark, uri)
    return fs.makeQualified(path).toUri().toString()


def size(spark: SparkSession, uri: str) -> int | None:
    """The size in bytes of the file at ``uri`` (an encoded URI); None when it does not exist."""
    jvm: Any = spark.sparkContext._jvm
    path = jvm.org.apache.hadoop.fs.Path(jvm.java.net.URI(uri))
    fs = path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    return int(fs.getFileStatus(path).getLen()) if fs.exists(path) else None


def replace_text(spark: SparkSession, uri: str, text: str) -> None:
    """Write ``text`` to ``uri`` in one step: a hidden file next to it is written first and
    renamed over it, so a reader (or a crash) never sees half a file."""
    jvm: Any = spark.sparkContext._jvm
    conf = spark.sparkContext._jsc.hadoopConfiguration()
    target = jvm.org.apache.hadoop.fs.Path(uri)
    temporary = jvm.org.apache.hadoop.fs.Path(target.getParent(), f".{target.getName()}.crm-spark.tmp")
    fs = target.getFileSystem(conf)
    stream = fs.create(temporary, True)
    try:
        stream.write(bytearray(text.encode("utf-8")))
    finally:
        stream.close()
    context = jvm.org.apache.hadoop.fs.FileContext.getFileContext(target.toUri(), conf)
    gateway: Any = spark.sparkContext._gateway
    overwrite = gateway.new_array(jvm.org.apache.hadoop.fs.Options.Rename, 1)
    overwrite[0] = jvm.org.apache.hadoop.fs.Options.Rename.OVERWRITE
    context.rename(temporary, target, overwrite)
