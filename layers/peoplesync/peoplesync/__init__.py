"""peoplesync: keep people data in agreement across the systems an organisation runs."""

__version__ = "0.1.0"
