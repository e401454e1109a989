"""tapegrad.nn: modules, parameters, losses, functional, init, as torch.nn."""
from . import functional, init, utils
from .loss import BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, L1Loss, MSELoss, NLLLoss
from .module import Module
from .modules import (ELU, GELU, Dropout, Flatten, Hardtanh, Identity, LeakyReLU, Linear,
                      LogSoftmax, ModuleList, ReLU, Sequential, Sigmoid, SiLU, Softmax, Softplus,
                      Tanh)
from .parameter import Parameter

__all__ = ["Module", "Parameter", "Linear", "Sequential", "ModuleList", "Identity", "Flatten",
           "Dropout", "ReLU", "LeakyReLU", "ELU", "Hardtanh", "SiLU", "GELU", "Softplus",
           "Sigmoid", "Tanh", "Softmax", "LogSoftmax", "MSELoss", "L1Loss", "BCELoss",
           "BCEWithLogitsLoss", "NLLLoss", "CrossEntropyLoss", "functional", "init", "utils"]
