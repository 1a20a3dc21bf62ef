"""``python -m coarse2fine`` (and ``torchrun ... -m coarse2fine``): the command line."""

from coarse2fine.cli import main

main()
