"""Jobs that run without a person: the nightly rebalancer, its schedules and lock, and the Celery
workers.
"""
