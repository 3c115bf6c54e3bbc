"""Graph capture from Python: doppel.compile, doppel.trace and doppel.export.

The Python function (or Module) runs once per new input signature with the C++ tracer active;
every doppel op it dispatches is recorded, parameters and buffers become named graph state, and
later calls replay the optimized graph in the executor. Python code that reads a traced tensor's
values (.item(), .numpy(), float(t), bool(t), numpy.asarray(t)) raises doppel.TraceError."""
from . import _C

TraceError = _C.TraceError


def _module_of(fn, state):
    from .nn import Module

    if state is not None:
        return state
    if isinstance(fn, Module):
        return fn
    owner = getattr(fn, "__self__", None)
    return owner if isinstance(owner, Module) else None


def _state_names(module):
    if module is None:
        return []
    return list(module.named_parameters()) + list(module.named_buffers())


def _dynamic(dynamic, n_inputs):
    """dynamic: None/False (static shapes), True (dim 0 of every input is the dynamic "batch"),
    or a list of (input, dim) / (input, dim, name) entries."""
    if dynamic is None or dynamic is False:
        return []
    if dynamic is True:
        return [(i, 0, "batch") for i in range(n_inputs)]
    out = []
    for d in dynamic:
        if len(d) == 2:
            out.append((int(d[0]), int(d[1]), "batch"))
        elif len(d) == 3:
            out.append((int(d[0]), int(d[1]), str(d[2])))
        else:
            raise _C.ValueError(f"compile: dynamic entries are (input, dim) or (input, dim, name), got {d!r}")
    return out


class CompiledFunction:
    """What doppel.compile returns: call it like the original function."""

    def __init__(self, fn, dynamic=None, static_inputs=(), state=None, optimize=True, inference=False, warmup=True,
                 grads="persistent", precision="float32", batch_tiling=True):
        self._fn = fn
        self._dynamic = dynamic
        self._static = list(static_inputs)
        self._module = _module_of(fn, state)
        self._options = dict(optimize=optimize, inference=inference, warmup=warmup, grads=grads, precision=precision,
                             batch_tiling=batch_tiling)
        self._c = None

    def _compiled(self, n_inputs):
        if self._c is None:
            self._c = _C.CompiledFunction(self._fn, _dynamic(self._dynamic, n_inputs), self._static,
                                          _state_names(self._module), **self._options)
        return self._c

    def __call__(self, *inputs):
        c = self._c  # every call after the first: straight to C++
        return (c if c is not None else self._compiled(len(inputs)))(*inputs)

    @property
    def num_traces(self):
        return 0 if self._c is None else self._c.num_traces

    @property
    def num_graph_runs(self):
        return 0 if self._c is None else self._c.num_graph_runs

    def trace_reasons(self):
        return [] if self._c is None else self._c.trace_reasons()

    def graph(self, *inputs):
        """The optimized graph replayed for inputs of these shapes."""
        return self._compiled(len(inputs)).graph_for(*inputs)

    def _traced(self, what):
        if self._c is None:
            raise _C.ValueError(f"CompiledFunction.{what}: nothing has been traced yet; call the function with its "
                                "inputs first (the first call of a signature runs eagerly, the second traces)")
        return self._c

    def to_dot(self, optimized=True):
        """The most recently traced graph as Graphviz DOT: after the passes, or as traced."""
        return self._traced("to_dot").to_dot(optimized)

    def to_svg(self, optimized=True):
        """The most recently traced graph as SVG (Graphviz): after the passes (fused nodes filled and
        labelled with what they fused), or as traced (optimized=False)."""
        return self._traced("to_svg").to_svg(optimized)

    def explain(self, file=None):
        """Prints what each pass did to the most recently traced graph: pass name, nodes before and
        after, the ops it removed and added ("conv_bn_folding: 9 -> 7 nodes: removed 2 batch_norm")."""
        print(self._traced("explain").explain(), end="", file=file)

    def memory_report(self, *inputs):
        """Where the memory of the compiled step for inputs of these shapes goes, as text: state
        (parameters, optimizer state), gradients kept for .grad, the executor's arena and its lower
        bound, kernels' scratch, and the buffers alive at the fullest step (op, call site, lifetime)."""
        return self._traced("memory_report").memory_report(*inputs)


def compile(fn=None, *, dynamic=None, static_inputs=(), state=None, optimize=True, inference=False, warmup=True,
            grads="persistent", precision="float32", batch_tiling=True):
    """Captures `fn` (a function of Tensors or a Module) into graphs, one per input signature.

    A Module's (or bound method's) parameters and buffers name the graph state; pass `state=`
    a Module to name the state of a free function (e.g. a whole training step). Usable as a
    decorator: @doppel.compile or @doppel.compile(dynamic=True). grads="in_graph" keeps a
    training step's gradients inside the graph (C++ GradsMode::InGraph): they take no memory
    between steps and replays leave .grad alone (None after the trace).

    precision="bf16" (with inference=True) runs convolutions and matmuls in bfloat16 with float32
    accumulation where the CPU has native bf16 (AVX512-BF16 or AMX), weights converted once;
    outputs keep their dtype. explain() says what it became (float32 on other CPUs).

    batch_tiling=False runs every step of an inference graph on the whole batch (by default runs of
    convolutions, pools and elementwise ops are called a chunk of the batch at a time where that
    keeps their intermediates in the cache; C++ ExecutorOptions::tiling)."""
    if fn is None:
        return lambda f: CompiledFunction(f, dynamic, static_inputs, state, optimize, inference, warmup, grads,
                                          precision, batch_tiling)
    return CompiledFunction(fn, dynamic, static_inputs, state, optimize, inference, warmup, grads, precision,
                            batch_tiling)


def trace(fn, *example_inputs, dynamic=None, static_inputs=(), state=None):
    """Runs `fn` once on the example inputs and returns the captured TraceResult (.graph, .outputs).

    Given a Tensor instead of a function, it is torch.trace: the sum of a matrix's main diagonal."""
    if isinstance(fn, _C.Tensor):
        if example_inputs:
            raise TypeError("doppel.trace(matrix) takes one tensor; to capture a graph pass a function first")
        return _C.trace(fn)
    return _C._trace(fn, *example_inputs, dynamic=_dynamic(dynamic, len(example_inputs)),
                     static_inputs=list(static_inputs), state_names=_state_names(_module_of(fn, state)))


def export(fn, example_inputs, path, *, dynamic=None, metadata=None, input_names=(), output_names=(),
           parity_samples=2, max_dynamic=64, call_sites="relative", parity_rtol=1e-4, parity_atol=1e-5,
           precision=None, keep_unread_weights=False):
    """Writes one model file with the inference graph of `fn` (a Module, function or
    CompiledFunction), its weights, signature and metadata. A Module is exported in eval mode
    without autograd; export checks the file against eager on `parity_samples` random inputs
    (each element within parity_atol + parity_rtol * |eager| plus a float rounding allowance
    that grows with the outputs' magnitude and the graph's depth; see ExportOptions in
    graph/include/doppel/graph/export.h).

    Node call sites (for error messages) are stored relative to the working directory, or as
    file names when outside it (call_sites="relative"); "full" keeps absolute paths, "strip"
    drops them.

    precision="bf16" stores the convolution and matmul weights in bfloat16 (about half the file)
    and runs those ops in bf16 (see compile()); a CompiledFunction is exported at the precision it
    was compiled with (precision=None or the same).

    The file holds the weights the graph computes with: a convolution's weights folded with its
    batch norm are stored folded only. keep_unread_weights=True also stores the module's own
    weights, so that the file can restore the module (C++ load_weights_into)."""
    from .autograd import no_grad
    from .nn import Module

    example_inputs = list(example_inputs)
    if isinstance(fn, CompiledFunction):
        if precision is not None and precision != fn._options["precision"]:
            raise _C.ValueError(f"export: the CompiledFunction was compiled with precision="
                                f"{fn._options['precision']!r}, not {precision!r}; compile it with "
                                f"doppel.compile(..., inference=True, precision={precision!r}) or pass the Module")
        compiled = fn
    else:
        module = _module_of(fn, None)
        if isinstance(fn, Module):
            fn.eval()

        def forward(*xs):
            with no_grad():
                return fn(*xs)

        compiled = CompiledFunction(forward, dynamic=dynamic, state=module, inference=True,
                                    precision=precision or "float32")
    c = compiled._compiled(len(example_inputs))
    _C._export_model(c, example_inputs, str(path), [(str(k), str(v)) for k, v in (metadata or {}).items()],
                     list(input_names), list(output_names), parity_samples, max_dynamic, call_sites,
                     parity_rtol, parity_atol, keep_unread_weights)
