"""Reports people read: pacing, finance (spend against plan), daily spend, CSV they download."""
