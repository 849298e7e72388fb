"""`python -m leadloop` is the `leadloop` command."""

from leadloop.cli import main

main()
