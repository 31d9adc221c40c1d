"""The index advisor: whole-workload index recommendations proven with what-if costs."""
