"""The command-line edge: parse flags, call the library, turn EdgekdError into a message."""
