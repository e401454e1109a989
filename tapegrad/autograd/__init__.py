"""tapegrad.autograd: the user-facing autograd API."""
from .anomaly_mode import detect_anomaly, is_anomaly_enabled, set_detect_anomaly
from .engine import backward, grad
from .function import Function, FunctionCtx
from .grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from ..legacy import Variable
from .gradcheck import GradcheckError, gradcheck
