"""`python -m pipeline` is the `chorus` command."""

from pipeline.cli.main import main

main()
