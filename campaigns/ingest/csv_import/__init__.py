"""CSV import of daily campaign results: our layout, each platform's export (formats/), and the
config's ``[[imports]]``.
"""
