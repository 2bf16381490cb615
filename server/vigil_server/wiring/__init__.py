"""How the all-in-one process is assembled, by role and job: each module builds one part from
the settings object (app.py starts and stops the parts in order).

- ``schema.py``: every schema Vigil keeps (migrations, the system database);
- ``auth.py``: the authenticator all roles share;
- ``ingest.py``: the collector's part (writers, batcher, decoders, pipeline, OTLP gRPC);
- ``query.py``: the query service (reader, servicers, the query and web ports);
- ``alerting.py``: rules, notifier, incidents, actions and triage;
- ``jobs.py``: the jobs of which one copy runs per deployment, and the worker that runs them.
"""
