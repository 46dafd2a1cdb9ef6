"""The error a build raises for bad input or configuration (before or instead of a traceback)."""


class BuildError(ValueError):
    pass
