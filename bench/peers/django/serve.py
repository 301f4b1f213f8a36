"""Runs daphne's own command line (same arguments) and prints "ready" on stdout
once it listens, so that a caller can wait for that line."""
import sys

from daphne.cli import CommandLineInterface
from daphne.server import Server


class ReadyServer(Server):
    def __init__(self, *args, **kwargs):
        kwargs["ready_callable"] = lambda: print("ready", flush=True)
        super().__init__(*args, **kwargs)


if __name__ == "__main__":
    cli = CommandLineInterface()
    cli.server_class = ReadyServer
    cli.run(sys.argv[1:])
