"""The ``fincert`` command line (Typer + Rich): an edge that turns domain errors into one line."""
