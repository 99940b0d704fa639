"""A source whose landing folder and checkpoint were moved goes on where it stopped (D53)."""

from __future__ import annotations

from crm_spark.bronze import checkpoints
from tests.bronze.conftest import order_rows
from tests.test_relocate import move, references


def test_a_moved_landing_and_checkpoint_go_on_where_they_stopped(orders, landing, tmp_path_factory):
    orders.drop("a.csv", order_rows("1"))
    orders.ingest()
    new_root = tmp_path_factory.mktemp("moved") / "project"
    move(landing.root, new_root)
    landing.root = new_root
    orders.drop("b.csv", order_rows("2"))
    orders.ingest()
    assert sorted(r.order_id for r in orders.lake.read("bronze.t_orders").collect()) == ["1", "2"]
    assert references(new_root, "test_a_moved_landing") == []


def test_a_checkpoint_without_a_record_finds_its_old_folder_from_its_files():
    paths = ["file:///old/landing/web/date=2024-01-01/a.json", "file:///old/landing/web/date=2024-01-02/b.json"]
    assert checkpoints._common_folder(paths) == "file:/old/landing/web"


def test_only_paths_under_the_old_folder_are_moved_and_keep_their_spelling():
    log = ('v1\n{"path":"file:///old/in/a%20b.csv","timestamp":1,"batchId":0}\n'
           '{"path":"file:///elsewhere/c.csv","timestamp":2,"batchId":0}')
    assert checkpoints._moved_log(log, "file:/old/in", "file:/new/place") == (
        'v1\n{"path":"file:///new/place/a%20b.csv","timestamp":1,"batchId":0}\n'
        '{"path":"file:///elsewhere/c.csv","timestamp":2,"batchId":0}')
