"""Only here for cffi: the C core in csrc/ is compiled into eggemo._emo at install time."""
from setuptools import setup

setup(cffi_modules=["eggemo/_cbuild.py:ffibuilder"])
