"""TPC-H inputs and helpers for the index-advisor benchmark (bench/tpch_advisor.py)."""
