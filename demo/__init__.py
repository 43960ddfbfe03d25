"""Three demo data products taken through bronze, silver and gold into Apache Iceberg tables.

The package shows the platform doing real work: a SQL catalog on PostgreSQL, data files on
S3, snapshots with history, schema evolution, time travel and expiry. ``python -m demo``
is the command line; ``demo.dashboard`` serves the web page.
"""
