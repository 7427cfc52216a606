"""`make demo`: the whole story on a simulated company (`story`)."""
