from redact.cli import main

main()
