"""The `swapcast` command line: one module per subcommand."""
