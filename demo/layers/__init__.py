"""The three layers: bronze keeps rows as ingested, silver types and cleans, gold aggregates."""
