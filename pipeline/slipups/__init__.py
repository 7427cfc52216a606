"""Slip-ups after the policy scan: the spike detector and its clocks, alerts and their delivery."""
