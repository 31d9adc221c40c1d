"""The demo marketplace app: its schema, generated data, API workload and `prodready demo`."""

from prodready.demo.data import Scale, load_data, load_schema
from prodready.demo.pipeline import DemoResult, run_demo
from prodready.demo.workload import (
    WORKLOAD,
    ApiQuery,
    Samples,
    WorkloadResult,
    planned_calls,
    reset_statement_stats,
    run_query,
    run_workload,
    write_workload_sql,
)

__all__ = [
    "WORKLOAD",
    "ApiQuery",
    "DemoResult",
    "Samples",
    "Scale",
    "WorkloadResult",
    "load_data",
    "load_schema",
    "planned_calls",
    "reset_statement_stats",
    "run_demo",
    "run_query",
    "run_workload",
    "write_workload_sql",
]
