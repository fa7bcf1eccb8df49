"""Benchmarks of the payment-status service: a load client of its own and one command per scenario.

Each scenario starts the service the way the Procfile does, in its own process, drives it
from this process over real sockets, prints a table and writes JSON under bench/results/.
See docs/BENCHMARKS.md for the commands and the figures they produced.
"""
