"""doppel.nn: Module (subclass it in Python), Parameter, containers, the C++ layers and losses."""
from . import functional, init, parallel, utils  # noqa: F401
from .containers import ModuleDict, ModuleList, Sequential  # noqa: F401
from .module import Module, Parameter  # noqa: F401
from .modules import *  # noqa: F401,F403
