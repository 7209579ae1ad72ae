"""``python -m edgekd``: the same CLI as the ``edgekd`` command."""

from edgekd.cli.main import main

main()
