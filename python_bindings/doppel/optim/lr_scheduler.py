"""doppel.optim.lr_scheduler: the C++ learning-rate schedulers."""
from .. import _C

LRScheduler = _C.optim.LRScheduler
StepLR = _C.optim.StepLR
CosineAnnealingLR = _C.optim.CosineAnnealingLR
LinearLR = _C.optim.LinearLR
SequentialLR = _C.optim.SequentialLR
OneCycleLR = _C.optim.OneCycleLR
