"""Every op shared by doppel and PyTorch is covered by some differential case, or listed in
NOT_COVERED with the reason. Shared: the public callables of `doppel`, `doppel.nn.functional`,
`doppel.nn`, `doppel.optim`, `doppel.optim.lr_scheduler` and the public methods of
`doppel.Tensor` whose names exist at the same place in torch 1.13.
Covered: the name occurs as an identifier in some case's source."""
import json
import re
import subprocess

import doppel
import doppel.nn.functional as F
import doppel.optim.lr_scheduler

import harness
import test_elementwise
import test_modules_optim
import test_nn_ops
import test_programs
import test_reductions
import test_shape_index
import test_sorting

SUITES = [test_elementwise, test_reductions, test_shape_index, test_nn_ops, test_programs, test_modules_optim,
          test_sorting]

NOT_COVERED = {
    # not ops: introspection, conversion and framework plumbing, checked by python_bindings/tests
    "torch": {
        "from_numpy": "the harness builds every input with it", "from_dlpack": "interop: python_bindings/tests/test_interop.py",
        "is_tensor": "not an op", "manual_seed": "RNG streams differ by design; no values to compare",
        "get_num_threads": "not an op", "set_num_threads": "not an op", "save": "IO: python_bindings/tests/test_io.py",
        "load": "IO: python_bindings/tests/test_io.py",
        "is_grad_enabled": "autograd mode: python_bindings/tests/test_autograd.py",
        "normal": "random values differ by design (no shared generator)", "rand": "random values differ by design",
        "randn": "random values differ by design", "randint": "random values differ by design",
        "empty": "uninitialized values", "empty_like": "uninitialized values", "as_tensor": "construction (python_bindings/tests)",
        "get_rng_state": "RNG plumbing, a (seed, offset) pair, not torch's byte tensor: python_bindings/tests/test_rng_state.py",
        "set_rng_state": "RNG plumbing (see get_rng_state)",
        "is_autocast_enabled": "autocast mode: python_bindings/tests/test_trainer.py",
        "quantize_per_tensor": "doppel returns the int8 values (scale and zero point stay tensors, ONNX's "
                               "convention), torch a quantized tensor: compared through int_repr() in "
                               "python_bindings/tests/test_quantized.py",
        "quantize_per_channel": "as quantize_per_tensor: python_bindings/tests/test_quantized.py",
        "dequantize": "takes the scale and zero point as arguments (torch reads them from a quantized tensor): "
                      "python_bindings/tests/test_quantized.py",
    },
    "Tensor": {
        "numpy": "the harness reads every output with it", "item": "conversion", "tolist": "conversion",
        "size": "not an op", "element_size": "not an op", "is_contiguous": "layout introspection",
        "storage_offset": "layout introspection", "retain_grad": "autograd plumbing",
        "register_hook": "autograd plumbing: python_bindings/tests/test_autograd.py", "cpu": "device plumbing",
    },
    "F": {},
    "nn": {
        "Module": "the base class: every module case", "Parameter": "python_bindings/tests/test_nn.py",
        "ModuleList": "a container: python_bindings/tests/test_nn.py", "ModuleDict": "a container: python_bindings/tests",
"init": "random initialisation differs by design",
        "functional": "the F cases", "utils": "clip_grad: python_bindings/tests", "modules": "a package name",
        "parallel": "DistributedDataParallel needs several processes: python_bindings/tests/test_ddp.py under mpirun "
                    "against single-process training",
    },
    "optim": {"Optimizer": "the base class: every optimizer case"},
    "lr_scheduler": {},
}


def _torch_names():
    code = ("import json, torch, torch.nn.functional as F\n"
            "print(json.dumps({'torch': dir(torch), 'Tensor': dir(torch.Tensor), 'F': dir(F), 'nn': dir(torch.nn),\n"
            "                  'optim': dir(torch.optim), 'lr_scheduler': dir(torch.optim.lr_scheduler)}))")
    out = subprocess.run([harness.ORACLE_PYTHON, "-c", code], capture_output=True, text=True, check=True).stdout
    return {k: set(v) for k, v in json.loads(out).items()}


def _public(obj, callables_only=True):
    return {n for n in dir(obj) if not n.startswith("_") and (not callables_only or callable(getattr(obj, n, None)))}


def shared_names():
    torch_names = _torch_names()
    mine = {"torch": {n for n in _public(doppel) if not isinstance(getattr(doppel, n), type)},
            "Tensor": _public(doppel.Tensor), "F": _public(F), "nn": _public(doppel.nn, callables_only=False),
            "optim": _public(doppel.optim, callables_only=False), "lr_scheduler": _public(doppel.optim.lr_scheduler)}
    return {k: sorted(mine[k] & torch_names[k]) for k in mine}


def covered_identifiers():
    ids = set()
    for s in SUITES:
        for case in s.suite.cases.values():
            ids |= set(re.findall(r"[A-Za-z_][A-Za-z_0-9]*", case.src + (case.prep or "")))
    return ids


def test_every_shared_op_is_covered_or_excused():
    shared, covered = shared_names(), covered_identifiers()
    missing = {k: [n for n in names if n not in covered and n not in NOT_COVERED[k]] for k, names in shared.items()}
    stale = {k: [n for n in NOT_COVERED[k] if n not in shared[k] or n in covered] for k in NOT_COVERED}
    assert not any(missing.values()), f"shared with torch but in no case (add cases or a NOT_COVERED reason): {missing}"
    assert not any(stale.values()), f"NOT_COVERED entries that are covered or no longer shared: {stale}"
