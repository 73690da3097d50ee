"""Ingest: what comes in from the platforms and their export files (sync, CSV import, idempotent
writes) and the read queries over it.
"""
