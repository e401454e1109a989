"""tapegrad.optim: SGD, Adam, AdamW, RMSprop and LR schedulers, as torch.optim.

Updates run as compiled kernels (tapegrad.kernels.optim), one pass per
parameter; hyperparameters and step counts are read at every step.
"""
from . import lr_scheduler
from .adam import Adam, AdamW
from .optimizer import Optimizer
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "lr_scheduler"]
