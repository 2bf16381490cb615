"""Receive: the OTLP endpoints. They read and size-check bodies, call the pipeline and
translate typed errors into their protocol's statuses; nothing else."""
