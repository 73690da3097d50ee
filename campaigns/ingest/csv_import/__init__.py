"""CSV import of daily campaign results: our layout, each platform's export as it is (the
format tables are platform facts, in :mod:`connectors.exports`) and the config's ``[[imports]]``.
"""
