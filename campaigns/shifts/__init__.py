"""Budget shifts: the lifecycle after a proposal (approve, reject, apply, roll back) and the write-
back to the platforms.
"""
