"""A source whose landing folder and checkpoint were moved goes on where it stopped (D53)."""

from __future__ import annotations

from crm_spark import bronze
from crm_spark.bronze import checkpoints
from tests.test_relocate import move, references

SOURCE = """
sources:
  t_orders:
    channel: test
    entity: order
    format: csv
    location: t_orders
    options: {header: true}
    schema: order_id STRING, customer STRING, ordered_at TIMESTAMP, total DECIMAL(10,2)
    formats: {ordered_at: dd/MM/yyyy HH:mm}
    required: [order_id, ordered_at]
    mapping: {order_id: order_id, customer_ref: customer, order_ts: ordered_at, total: total}
"""


def order_file(order_id: str) -> str:
    return f"order_id,customer,ordered_at,total\n{order_id},c,01/03/2024 10:00,1.00\n"


def test_a_moved_landing_and_checkpoint_go_on_where_they_stopped(landing, ctx, tmp_path_factory):
    landing.drop("t_orders", "a.csv", order_file("1"))
    bronze.build(landing.spark, landing.config(SOURCE), ctx)
    new_root = tmp_path_factory.mktemp("moved") / "project"
    move(landing.root, new_root)
    landing.root = new_root
    landing.drop("t_orders", "b.csv", order_file("2"))
    cfg = landing.config(SOURCE)
    bronze.build(landing.spark, cfg, ctx)
    assert sorted(r.order_id for r in landing.lake(cfg).read("bronze.t_orders").collect()) == ["1", "2"]
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
