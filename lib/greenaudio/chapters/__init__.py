"""Chapters' facts: the tables and figures of each chapter, computed from the science floor and the shipped data.

Imports the science and ground floors only; nothing below imports it. Each submodule is importable alone.
"""
