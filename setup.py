"""The one C module of the package (the bulk filter's inner loops); all else is in
pyproject.toml. It needs a C compiler and Python's headers at install time."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension("watcher.matching._probe", ["watcher/matching/_probe.c"], optional=False)
    ]
)
