"""Results: the results.json document, tables and reports."""
