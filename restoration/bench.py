"""Placeholder until its owner lands it: the CLI imports add_arguments and run from here."""

from .errors import RestorationError  # noqa: F401  (relative import depth fixed by the owner)


def add_arguments(parser):
    pass


def run(args):
    raise RestorationError("not implemented yet")
