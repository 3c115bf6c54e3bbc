"""doppel.nn.init: in-place parameter initialisation (the C++ functions)."""
from .. import _C

calculate_gain = _C.nn.init.calculate_gain
uniform_ = _C.nn.init.uniform_
normal_ = _C.nn.init.normal_
constant_ = _C.nn.init.constant_
zeros_ = _C.nn.init.zeros_
ones_ = _C.nn.init.ones_
kaiming_uniform_ = _C.nn.init.kaiming_uniform_
kaiming_normal_ = _C.nn.init.kaiming_normal_
xavier_uniform_ = _C.nn.init.xavier_uniform_
xavier_normal_ = _C.nn.init.xavier_normal_
