"""``python -m fincert`` runs the command line."""

from fincert.cli.main import run

run()
