"""Projects, API keys and who may do what: the authenticate step between receive and decode
(ingest) and between request and SQL (queries)."""
