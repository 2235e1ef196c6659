"""Example models used by the demo, the notebook, the tests and the benchmarks."""
