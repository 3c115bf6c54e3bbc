"""Runs one differential case against a framework module: PyTorch in the oracle process, doppel in
pytest. The same code on both sides, so the only difference is the module bound to `torch` (and
`F`) when the case's source runs: porting by changing the import is what is checked.

A case (JSON) is {"src": ..., "calls": [[arg, ...], ...], "compile": bool, "prep": src}. `src` is
a lambda expression or a `def f(...)` block taking (torch, F, *args), or a `def make(torch, F)`
block returning the function of the args (for closures over tensors it creates). Every call of
the list runs the same function object (compiled once with doppel.compile on the doppel side when
"compile" is set; the oracle always runs eager). `prep` (a lambda over (torch, F, *args)
returning the argument tuple) runs eagerly before each call: strided or aliased inputs of a
compiled function. An arg is {"blob": i, "dtype": name, "grad": bool} (a tensor made from
.npy blob i, cast to dtype) or {"value": v} (a plain Python value). Each call's result is
flattened (tensor, number, bool, None, or a tuple/list of those) and, when some tensor arg asked
for a gradient, backpropagated from sum_i sum(out_i * w_i) with wire.output_weights(). Errors
become {"error": type name, "message": ..., "stage": "forward"|"backward"}.
Only numpy and the standard library: this runs under Debian's /usr/bin/python3 too."""
import traceback

import numpy as np

import wire

FLOATS = ("float16", "bfloat16", "float32", "float64")


def _dtype_name(t):
    return str(t.dtype).split(".")[-1]


def _to_numpy(lib, t):
    t = t.detach()
    if _dtype_name(t) in ("bfloat16", "float16"):
        t = t.to(lib.float32)  # .npy has float16 but not bfloat16; one path for both
    return np.array(t.numpy(), copy=True)


def _make_arg(lib, arg, blobs):
    if "value" in arg:
        return arg["value"]
    t = lib.from_numpy(wire.from_npy(blobs[arg["blob"]]))
    dtype = arg.get("dtype")
    if dtype and _dtype_name(t) != dtype:
        t = t.to(getattr(lib, dtype))
    else:
        t = t.clone()
    if arg.get("grad"):
        t.requires_grad_(True)
    return t


def _flatten(result):
    if isinstance(result, (tuple, list)):
        return list(result)
    return [result]


def _error(e, stage):
    return {"error": type(e).__name__, "message": str(e).splitlines()[0][:500] if str(e) else "",
            "stage": stage, "where": traceback.format_exc(limit=-3)[-800:]}


def build_function(src, lib, functional):
    """The case's function with the framework bound: f(*args)."""
    if src.lstrip().startswith("def "):
        scope = {"np": np}
        exec(src, scope)  # noqa: S102 (test sources written in this repository)
        if "make" in scope:
            return scope["make"](lib, functional)
        fn = scope["f"]
    else:
        fn = eval(src, {"np": np})  # noqa: S307
    return lambda *args: fn(lib, functional, *args)


def run_case(case, blobs, lib, functional, compile_fn=None):
    """Returns (answer header, answer blobs) for one case."""
    out_blobs = []
    try:
        fn = build_function(case["src"], lib, functional)
        if case.get("compile") and compile_fn is not None:
            fn = compile_fn(fn)
        prep = build_function(case["prep"], lib, functional) if case.get("prep") else None
    except Exception as e:  # noqa: BLE001 (the error is the answer)
        return {"calls": [_error(e, "build")]}, out_blobs
    calls = []
    for call in case["calls"]:
        calls.append(_run_call(lib, fn, prep, call, blobs, out_blobs))
    return {"calls": calls}, out_blobs


def _run_call(lib, fn, prep, call, blobs, out_blobs):
    try:
        args = [_make_arg(lib, a, blobs) for a in call]
        fn_args = prep(*args) if prep else args
    except Exception as e:  # noqa: BLE001
        return _error(e, "inputs")
    try:
        outs = _flatten(fn(*fn_args))
    except Exception as e:  # noqa: BLE001
        return _error(e, "forward")
    answer = {"outs": []}
    for o in outs:
        if hasattr(o, "detach") and hasattr(o, "dtype"):
            out_blobs.append(wire.to_npy(_to_numpy(lib, o)))
            answer["outs"].append({"blob": len(out_blobs) - 1, "dtype": _dtype_name(o)})
        elif o is None or isinstance(o, (bool, int, float)):
            answer["outs"].append({"value": o})
        else:
            answer["outs"].append({"value": repr(type(o).__name__)})
    grad_args = [i for i, a in enumerate(call) if a.get("grad")]
    if not grad_args:
        return answer
    try:
        loss = None
        for i, o in enumerate(outs):
            if hasattr(o, "requires_grad") and o.requires_grad and _dtype_name(o) in FLOATS:
                w = lib.from_numpy(wire.output_weights(tuple(o.shape), i)).to(o.dtype)
                term = (o * w).sum()
                loss = term if loss is None else loss + term
        if loss is not None:
            loss.backward()
    except Exception as e:  # noqa: BLE001
        answer.update(_error(e, "backward"))
        return answer
    answer["grads"] = []
    for i in grad_args:
        g = args[i].grad
        if g is None:
            answer["grads"].append(None)
        else:
            out_blobs.append(wire.to_npy(_to_numpy(lib, g)))
            answer["grads"].append({"blob": len(out_blobs) - 1, "dtype": _dtype_name(g)})
    return answer
