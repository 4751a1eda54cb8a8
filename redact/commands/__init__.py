"""The command line's commands, one module each; redact.cli registers them and maps errors to exit codes."""
