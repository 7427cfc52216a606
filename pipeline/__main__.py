"""`python -m pipeline` is the `chorus` command."""

from pipeline.cli import main

main()
