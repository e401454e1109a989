"""Custom autograd Functions that more than one test module uses."""

# Tutorial seed 000's In[11], verbatim (its comments and spelling too): a
# cell of test_seed_000, and the Function test_function_hooks runs in both
# libraries.
MY_RELU = '''\
class MyRelu(torch.autograd.Function):

    # Forwars pass.
    @staticmethod
    def forward(ctx, input):

        # ctx is a context object used to stash information of forward pass.
        ctx.save_for_backward(input)
        return input.clamp(min=0)

    # Backward pass.
    @staticmethod
    def backward(ctx, grad_output):

        # We recieve gradient of loss w.r.t. output.
        # And return gradient of loss w.r.t. input.

        input, = ctx.saved_tensors
        grad_input = grad_output.clone()
        grad_input[input < 0] = 0

        return grad_input
'''


def my_relu(lib):
    """The MyRelu class of MY_RELU, with `torch` being lib (torch or tapegrad)."""
    namespace = {"__name__": __name__, "torch": lib}
    exec(MY_RELU, namespace)
    return namespace["MyRelu"]
