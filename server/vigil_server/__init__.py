"""Vigil server: settings, command line and the all-in-one process that wires the
collector (receive → decode → batch → write) and storage together."""
