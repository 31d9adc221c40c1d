"""The local cluster the demo, tests and benchmarks start."""

from __future__ import annotations

import psycopg

from prodready.pg.cluster import LocalCluster


def test_starting_a_running_cluster_again_is_a_no_op(pg_cluster: LocalCluster) -> None:
    root, port = pg_cluster.root, pg_cluster.port
    assert pg_cluster.start() is pg_cluster
    assert (pg_cluster.root, pg_cluster.port) == (root, port)
    with psycopg.connect(pg_cluster.dsn(), connect_timeout=5) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
