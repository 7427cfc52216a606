"""Faust agents: each wires Chorus topics to the plain logic in `pipeline/`.

`agents/app.py` assembles them into one faust app; read it first. The Kafka
and faust machinery they share is in `agents/kafka/`.
"""
