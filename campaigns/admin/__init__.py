"""What admins and finance set: plans, caps, FX rates, tokens and roles, the kill switch, hard
stops.
"""
