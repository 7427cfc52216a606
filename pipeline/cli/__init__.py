"""The `chorus` command (`main`), one module per sub-command group.

Command modules import only click and settings at the top; each command
imports the domain modules it uses when it runs, so `chorus --help` and the
quick commands start without loading faust, plotly or the ClickHouse client.
"""
