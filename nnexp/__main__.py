"""``python -m nnexp``: the same command as the ``nnexp`` console script."""

from nnexp.cli import main

if __name__ == "__main__":
    main()
