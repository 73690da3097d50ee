"""Optimisation: load a portfolio's inputs, call the pure optimiser, round and record the proposal.
"""
