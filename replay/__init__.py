"""Offline stand-ins for the upstreams (ClinicalTrials.gov, E-utilities, Europe PMC, feeds) and
the demo's bundled recordings. Used by `hccwatch demo`, the tests and the benchmarks; product
code never imports this package."""
