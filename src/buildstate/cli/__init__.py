"""The `bldst` command-line interface (entry point: ``buildstate.cli.main:run``)."""
