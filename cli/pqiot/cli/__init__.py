"""The ``pqiot`` command line: one module per subcommand, wired in :mod:`.main`."""
