"""Compare after write: what the worker lease (server/vigil_server/worker_lease.py) and the
triage lock (alerting/vigil_alerting/triage/lock.py) share.

ClickHouse has no compare-and-set, so both write a claim and then read back which claim
stands. The part that is the same in both is what makes the read-back see every competing
claim on a cluster: a claim counts once a majority of replicas acknowledged it, and the
read-back sees every acknowledged one. On one server both are empty.

Why the rest stays in two places (they really differ):

- the lease is one row per name, replaced (ReplacingMergeTree, read FINAL): the *latest*
  write stands, renewals rewrite it, and a claim is confirmed one renewal tick later by a
  non-blocking loop that also stops acting at expiry;
- the triage lock keeps every row (claims and ``done`` rows carry the history, the cost the
  hourly caps sum and the interval's start): the *earliest* claim of a generation, by the
  server's insert stamp, stands, and ``acquire`` blocks for a settle wait inside one call.

A common "claim" class would have to take both winner rules, both table shapes and both
waiting styles as parameters: longer than the two it would replace.
"""

from __future__ import annotations

from typing import Any

# A claim acknowledged by a majority of replicas, reads that see every acknowledged one.
CLUSTER_WRITE_SETTINGS: dict[str, Any] = {"insert_quorum": "auto"}
CLUSTER_READ_SETTINGS: dict[str, Any] = {"select_sequential_consistency": 1}


def claim_settings(cluster: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    """(write, read) query settings for a compare-after-write claim: the quorum ones on a
    cluster, none on one server."""
    if cluster:
        return dict(CLUSTER_WRITE_SETTINGS), dict(CLUSTER_READ_SETTINGS)
    return {}, {}
