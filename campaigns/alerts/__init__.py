"""Alerts: conditions worth a human's attention, detected, stored once and delivered once."""
