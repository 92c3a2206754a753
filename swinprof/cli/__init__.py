"""Command-line interface: one module per subcommand (parse, call the library, render; nothing else)."""
