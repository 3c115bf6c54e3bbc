# The op table is the single source of what doppel can compute: every op of kernels/.../ops.def
# must be reachable by users from Python (and so from the eager C++ API the bindings call), under
# its own name or a declared alias, unless it is declared internal (produced by autograd rules or
# graph passes); every op has an autocast policy (checked at compile time in eager/src/autocast.cpp)
# and an ONNX mapping or a reason why export refuses it (tests/graph/test_onnx_coverage.cpp).
import doppel
from doppel import _C

# Ops users call under other names (paths relative to the doppel package).
ALIASES = {
    "convolution": ["nn.functional.conv1d", "nn.functional.conv2d", "nn.functional.conv_transpose2d"],
    "copy": ["Tensor.copy_", "Tensor.clone"],
    "cast": ["Tensor.to"],
    "numel": ["numel_tensor"],
    "max_pool2d_indices": ["nn.functional.max_pool2d"],  # return_indices=True
    "adam_step": ["optim.Adam", "optim.AdamW"],
    "sgd_step": ["optim.SGD"],
    # Collectives: torch.distributed's in-place forms and torch.distributed.nn.functional's.
    "all_reduce": ["distributed.all_reduce", "distributed.nn.functional.all_reduce"],
    "broadcast": ["distributed.broadcast", "distributed.nn.functional.broadcast"],
    "all_gather": ["distributed.all_gather", "distributed.all_gather_into_tensor",
                   "distributed.nn.functional.all_gather"],
    "reduce_scatter": ["distributed.reduce_scatter_tensor", "distributed.nn.functional.reduce_scatter_tensor"],
    "all_to_all": ["distributed.all_to_all_single", "distributed.nn.functional.all_to_all_single"],
    # The int8 kernels: doppel.ops.quantized (graph passes also produce them from QDQ pairs).
    "quantized_linear": ["ops.quantized.linear"],
    "quantized_conv2d": ["ops.quantized.conv2d"],
    "quantized_add": ["ops.quantized.add"],
    "quantized_cat": ["ops.quantized.cat"],
    "dynamic_quantized_linear": ["ops.quantized.dynamic_linear"],
}

# Ops with no user entry point of their own, and why.
INTERNAL_PREFIXES = {
    "fused_": "produced by the fusion passes (linear_conv_fusion, elementwise_fusion)",
    "blocked_": "produced by the layout_propagation pass",
}
INTERNAL = {"to_blocked": "layout_propagation pass", "from_blocked": "layout_propagation pass"}


def internal_reason(name):
    if name.endswith("_backward"):
        return "a gradient op, called by the autograd rule of " + name[: -len("_backward")]
    for prefix, why in INTERNAL_PREFIXES.items():
        if name.startswith(prefix):
            return why
    return INTERNAL.get(name)


def resolve(path):
    obj = doppel
    for part in path.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            return None
    return obj


def places(name):
    if name in ALIASES:
        return ALIASES[name]
    return [name, "Tensor." + name, "nn.functional." + name]


def test_every_op_is_defined_and_reachable_from_python():
    ops = _C.op_table()
    assert len(ops) > 100
    problems = []
    for op in ops:
        name = op["name"]
        if not op["defined"]:
            problems.append(f"{name}: no OpDef")
        if internal_reason(name):
            continue
        found = [p for p in places(name) if callable(resolve(p))]
        if name in ALIASES and len(found) != len(ALIASES[name]):
            problems.append(f"{name}: declared aliases missing: {sorted(set(ALIASES[name]) - set(found))}")
        elif not found:
            problems.append(f"{name}: no doppel.{name}, Tensor.{name} or nn.functional.{name} (nor a declared alias)")
    assert problems == []


def test_declared_aliases_and_internal_ops_are_real_ops():
    names = {op["name"] for op in _C.op_table()}
    assert set(ALIASES) <= names and set(INTERNAL) <= names
    for prefix in INTERNAL_PREFIXES:
        assert any(n.startswith(prefix) for n in names), prefix


def test_every_op_has_an_autocast_policy_and_an_export_decision():
    for op in _C.op_table():
        assert op["autocast"] in ("none", "lower", "fp32", "promote"), op
    refused = {op["name"]: op["onnx_refused"] for op in _C.op_table() if op["onnx_refused"]}
    assert "dropout" in refused and "random" in refused["dropout"]
    assert "add" not in refused and "conv" not in refused
