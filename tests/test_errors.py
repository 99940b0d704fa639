"""Failures of the machine a user runs on are one line that says what to do (issue 21, point 7):
a full disk, memory running out, a folder that may not be written."""

from __future__ import annotations

from crm_spark import cli
from crm_spark.errors import ResourceError, known_failure


def real_disk_full() -> OSError:
    """What Python raises when a write meets a full device: /dev/full refuses every write."""
    try:
        with open("/dev/full", "w") as device:
            device.write("x")
    except OSError as error:
        return error
    raise AssertionError("/dev/full accepted a write")


def test_a_full_disk_is_one_line_naming_what_to_free():
    error = known_failure(real_disk_full())
    assert isinstance(error, ResourceError)
    assert "\n" not in str(error)
    assert str(error).startswith("the disk is full (No space left on device): free space under lake.root")


def test_the_jvm_running_out_of_memory_is_one_line_naming_the_setting():
    # the text a py4j error carries when the driver's heap is exhausted
    jvm = Exception("An error occurred while calling o812.save.\n"
                    ": java.lang.OutOfMemoryError: Java heap space\n\tat java.base/java.util.Arrays.copyOf")
    error = known_failure(jvm)
    assert isinstance(error, ResourceError) and "\n" not in str(error)
    assert str(error).startswith("Spark ran out of memory (java.lang.OutOfMemoryError: Java heap space): "
                                 "raise spark.driver_memory")


def test_permission_denied_names_the_path():
    error = known_failure(PermissionError(13, "Permission denied", "/data/lake/silver"))
    assert isinstance(error, ResourceError)
    assert "Permission denied: '/data/lake/silver'" in str(error)


def test_a_bug_is_not_taken_for_a_resource_failure():
    assert known_failure(ValueError("unexpected None in column")) is None


def test_the_command_line_prints_a_full_disk_as_one_line(capsys, monkeypatch):
    def write_on_a_full_disk(args, cfg):
        raise real_disk_full()

    monkeypatch.setitem(cli.COMMANDS, "tables", write_on_a_full_disk)
    assert cli.main(["tables"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("crm-spark: error: the disk is full"), err
