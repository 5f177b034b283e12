"""Orchestration: executors (sequential and Ray), the zoo and benchmark grids, export and verification of artefacts,
shipping of measurements, the drivers behind ``scripts/`` and the CLI. Nothing in the science or chapters floors
imports it. Each submodule is importable alone.
"""
