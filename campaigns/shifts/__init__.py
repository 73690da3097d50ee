"""Budget shifts after a proposal.

``states`` (the statuses and the one table of allowed moves), ``views`` (reading),
``decisions`` (approve, reject, expire), ``applying`` (apply, settle, retry), ``rollback``;
``lifecycle`` gathers them for callers. The write-back to the platforms: ``writeback`` (a
run), ``claims``, ``account_apply``, ``recording``, ``retry``, ``report``, ``work``.
"""
