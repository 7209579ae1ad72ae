"""Benchmarks: runners, the on-device agent, latency statistics and energy figures."""
