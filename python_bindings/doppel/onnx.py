"""doppel.onnx.export: a Module, function, CompiledFunction or loaded runtime.Model as an ONNX
file (opset 17), over the C++ exporter (graph/include/doppel/graph/onnx.h).

The argument names mirror torch.onnx.export: `args` are the example inputs, `dynamic_axes`
makes input axes symbolic ({"x": {0: "batch"}} or {"x": [0]}), so one file serves every batch
size; output entries of `dynamic_axes` are checked (an output's symbolic axes follow from the
inputs'). Node doc strings hold call sites, stored relative to the working directory (or as
file names) unless `call_sites="full"` keeps absolute paths or `"strip"` drops them."""
import os

from . import _C
from .graph import CompiledFunction, _module_of

OPSET_VERSION = 17


def _as_tuple(args):
    if isinstance(args, _C.Tensor):
        return (args,)
    return tuple(args)


def _axes(name, axes):
    """{axis: symbol} from a dynamic_axes entry (a dict, or a list of axes named as torch does)."""
    if isinstance(axes, dict):
        return {int(a): str(s) for a, s in axes.items()}
    return {int(a): f"{name}_dynamic_axes_{k + 1}" for k, a in enumerate(axes)}


def _split_dynamic_axes(dynamic_axes, input_names, output_names):
    """(inputs, outputs): lists of (index, axis, symbol) from torch-style dynamic_axes."""
    inputs, outputs = [], []
    for name, axes in (dynamic_axes or {}).items():
        if name in input_names:
            inputs += [(input_names.index(name), a, s) for a, s in _axes(name, axes).items()]
        elif name in output_names:
            outputs += [(output_names.index(name), a, s) for a, s in _axes(name, axes).items()]
        else:
            raise _C.ValueError(
                f"onnx.export: dynamic_axes names '{name}', which is neither an input ({', '.join(input_names)}) "
                f"nor an output ({', '.join(output_names) or 'give output_names to name them'})")
    return inputs, outputs


def _graph(model, args, dynamic_inputs):
    """The inference graph to export for inputs like `args`."""
    from .quantization import QuantizedModel

    if isinstance(model, QuantizedModel):  # its int8 graph, dynamic batch as quantize_static traced it
        return model.graph
    if isinstance(model, _C.runtime.Model):
        if dynamic_inputs:
            raise _C.ValueError("onnx.export: a loaded model file's dynamic axes are fixed; drop dynamic_axes "
                                "for its inputs")
        return model._graph()
    from .autograd import no_grad
    from .nn import Module

    precision = "float32"
    if isinstance(model, CompiledFunction):  # its own dynamic dims unless dynamic_axes says otherwise
        fn, module, precision = model._fn, model._module, model._options["precision"]
        dynamic_inputs = dynamic_inputs or model._dynamic
    else:
        fn, module = model, _module_of(model, None)
        if isinstance(model, Module):
            model.eval()

    def forward(*xs):
        with no_grad():
            return fn(*xs)

    # float32: the graph as traced, unoptimized. bf16: after the passes that lower it (the export
    # turns blocked layouts back into NCHW and computes in float32 what ONNX has no bf16 form of).
    compiled = CompiledFunction(forward, dynamic=dynamic_inputs or None, state=module,
                                optimize=precision != "float32", inference=True, warmup=False, precision=precision)
    compiled(*args)
    return compiled.graph(*args)


def export(model, args, f, *, input_names=None, output_names=None, dynamic_axes=None, opset_version=None,
           call_sites="relative"):
    """Writes `model` (an nn.Module, a function of tensors, a doppel.compile'd function or a
    doppel.runtime.Model) run on `args` (a tensor or a tuple of them) to `f` (a path or a
    binary file object) as ONNX: opset 17, weights as initializers."""
    if opset_version not in (None, OPSET_VERSION):
        raise _C.ValueError(f"onnx.export: doppel writes opset {OPSET_VERSION}, not {opset_version}; "
                            f"pass opset_version={OPSET_VERSION} or leave it out")
    args = _as_tuple(args)
    if isinstance(model, _C.runtime.Model):  # a loaded file keeps its names unless told otherwise
        input_names = input_names or [s["name"] for s in model.signature["inputs"]]
        output_names = output_names or [s["name"] for s in model.signature["outputs"]]
    input_names = list(input_names or [f"input{k}" for k in range(len(args))])
    output_names = list(output_names or [])
    if len(input_names) != len(args):
        raise _C.ValueError(f"onnx.export: {len(input_names)} input_names for {len(args)} inputs")
    dynamic_inputs, dynamic_outputs = _split_dynamic_axes(dynamic_axes, input_names, output_names)
    g = _graph(model, args, dynamic_inputs)
    if isinstance(f, (str, os.PathLike)):
        _C._export_onnx(g, os.fspath(f), input_names, output_names, dynamic_outputs, call_sites)
    else:
        f.write(_C._export_onnx(g, None, input_names, output_names, dynamic_outputs, call_sites))
