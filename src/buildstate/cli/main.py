"""Console-script entry point of ``bldst``.

Kept tiny: ``bldst --version`` answers without importing Typer, and any other command
loads only the command group it names (see ``app.create_app``).
"""

import sys


def run() -> None:
    args = sys.argv[1:]
    if args == ["--version"]:
        from buildstate._version import __version__

        sys.stdout.write(f"bldst {__version__}\n")
        return
    from buildstate.cli.app import create_app

    create_app(args[0] if args else None)(prog_name="bldst")
