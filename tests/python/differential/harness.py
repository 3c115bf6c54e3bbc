"""The pytest side of the differential suite: the oracle process, case registration, batching
and comparison.

Each test module builds a `Suite` of cases at import time; `suite.params()` parametrizes one
pytest item per case. The first item of a suite that runs sends every case of the suite to the
oracle in one round trip (one request per module keeps the whole suite within its time budget),
then each item evaluates its case in doppel (evaluate.run_case, the same code the oracle runs)
and compares."""
import os
import pathlib
import subprocess

import numpy as np
import pytest

import evaluate
import known_failures
import wire

HERE = pathlib.Path(__file__).resolve().parent
ORACLE_PYTHON = os.environ.get("DOPPEL_TORCH_PYTHON", "/usr/bin/python3")

# Per-dtype tolerances (rtol, atol): the two sides use different kernels and summation orders.
TOLERANCES = {
    "float64": (1e-9, 1e-10),
    "float32": (2e-5, 1e-6),
    "float16": (2e-3, 1e-4),
    "bfloat16": (1.6e-2, 1e-3),
}


class Oracle:
    """One /usr/bin/python3 torch_oracle.py process, answering batches over pipes."""

    def __init__(self):
        self.proc = subprocess.Popen([ORACLE_PYTHON, str(HERE / "torch_oracle.py")], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, env=dict(os.environ, OMP_NUM_THREADS="1"))
        hello, _ = wire.receive(self.proc.stdout)
        self.torch_version = hello["hello"]

    def ask(self, cases, blobs):
        wire.send(self.proc.stdin, {"cases": cases}, blobs)
        header, out_blobs = wire.receive(self.proc.stdout)
        return header["answers"], out_blobs

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


def start_oracle():
    """The oracle, or a pytest.fail saying how to install it (tools/setup.sh does)."""
    probe = subprocess.run([ORACLE_PYTHON, "-c", "import torch, numpy"], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.fail(f"the PyTorch oracle needs torch under {ORACLE_PYTHON} (Debian python3-torch; "
                    f"tools/setup.sh installs it): {probe.stderr.strip()[-300:]}")
    return Oracle()


class Case:
    def __init__(self, cid, src, calls, compile=False, prep=None, tol=None, signed_zero=False, must_raise=False,
                 error_says=None):
        self.id, self.src, self.calls, self.compile, self.prep = cid, src, calls, compile, prep
        self.tol, self.signed_zero = tol, signed_zero
        # PyTorch's refusal is the semantics under test (overlap, leaf in-place): doppel must raise
        # too. Otherwise doppel accepting what torch refuses (a dtype torch's CPU kernels lack, a
        # Python scalar where torch wants a tensor) is an extension, reported as a skip.
        self.must_raise = must_raise
        self.error_says = error_says  # when both refuse: a word doppel's message must contain
        self.marks = []

    def wire(self):
        return {"src": self.src, "calls": self.calls, "compile": self.compile, "prep": self.prep}


def cpu_flag(flag):
    """Whether this CPU lists `flag` in /proc/cpuinfo: torch 1.13's reduced-precision kernels
    differ by vector ISA, so a few oracles hold on some CPUs only."""
    try:
        with open("/proc/cpuinfo") as f:
            return any(line.startswith("flags") and flag in line.split() for line in f)
    except OSError:
        return False


class Suite:
    """The cases of one test module, sent to the oracle together. `name` keys its entries in
    known_failures.KNOWN."""

    def __init__(self, name):
        self.name = name
        self.known = dict(known_failures.KNOWN.get(name, {}))
        self.cases = {}
        self.blobs = []
        self.answers = None

    def _arg(self, a):
        if isinstance(a, Arg):
            self.blobs.append(wire.to_npy(a.array))
            return {"blob": len(self.blobs) - 1, "dtype": a.dtype, "grad": a.grad}
        return {"value": a}

    def add(self, cid, src, *args, calls=None, xfail=None, **options):
        """A case: src applied to args (or to each argument list of `calls`). Args are `Arg`s
        (tensors) or JSON-able Python values. xfail="reason" marks the known failure strictly."""
        assert cid not in self.cases, f"duplicate case id {cid}"
        calls = calls if calls is not None else [args]
        case = Case(cid, src, [[self._arg(a) for a in call] for call in calls], **options)
        known = self.known.pop(cid, None)
        assert not (xfail and known), f"{cid}: xfail given twice"
        if xfail or known:
            case.marks.append(pytest.mark.xfail(strict=True, reason=xfail or known))
        self.cases[cid] = case
        return case

    def params(self):
        assert not self.known, f"known_failures.KNOWN[{self.name!r}] names cases that do not exist: {sorted(self.known)}"
        return [pytest.param(c, id=c.id, marks=c.marks) for c in self.cases.values()]

    def torch_answer(self, oracle, case):
        if self.answers is None:
            cases = list(self.cases.values())
            wire_cases = [c.wire() for c in cases]
            answers, blobs = oracle.ask(wire_cases, self.blobs)
            self.answers = {c.id: (a, blobs) for c, a in zip(cases, answers)}
        return self.answers[case.id]


class Arg:
    """A tensor argument: a numpy array, the dtype both sides cast it to, requires_grad."""

    def __init__(self, array, dtype=None, grad=False):
        array = np.asarray(array)
        self.array = array.astype(np.float32) if dtype in ("bfloat16", "float16") else array
        self.dtype = dtype or str(array.dtype)
        self.grad = grad


def T(array, dtype=None, grad=False):  # noqa: N802 (reads like a constructor in case lists)
    return Arg(array, dtype, grad)


def run_doppel(case, blobs):
    import doppel
    import doppel.nn.functional as F

    return evaluate.run_case(case.wire(), blobs, doppel, F, compile_fn=doppel.compile)


def check(suite, oracle, case):
    """Runs `case` in doppel and compares it with PyTorch's answer; fails with every difference."""
    torch_answer, torch_blobs = suite.torch_answer(oracle, case)
    mine, my_blobs = run_doppel(case, suite.blobs)
    problems = []
    calls_t, calls_d = torch_answer["calls"], mine["calls"]
    refused = [t for t, d in zip(calls_t, calls_d) if _refused(t) and not _refused(d)]
    if refused and not case.must_raise:
        pytest.skip(f"torch refuses ({_describe_error(refused[0])}); doppel accepts")
    for k, (t, d) in enumerate(zip(calls_t, calls_d)):
        where = f"call {k}: " if len(calls_t) > 1 else ""
        problems += [where + p for p in _compare_call(case, t, torch_blobs, d, my_blobs)]
    if len(calls_t) != len(calls_d):
        problems.append(f"{len(calls_d)} calls answered by doppel, {len(calls_t)} by torch: {calls_d[-1]}")
    if problems:
        pytest.fail(f"{case.id}: `{case.src}`\n" + "\n".join(problems), pytrace=False)


def _describe_error(a):
    return f"{a['error']}: {a['message']} (at {a['stage']})"


def _refused(answer):
    return "error" in answer and answer["stage"] != "backward"


def _compare_call(case, t, tb, d, db):
    if _refused(t):
        if _refused(d):  # both refuse
            if case.error_says and case.error_says not in d["message"]:
                return [f"doppel's error does not say {case.error_says!r}: {_describe_error(d)}"]
            return []
        return [f"torch raises {_describe_error(t)}; doppel returns a result"]
    if _refused(d):
        return [f"doppel raises {_describe_error(d)}; torch works", d.get("where", "")]
    problems = []
    if len(t["outs"]) != len(d["outs"]):
        return [f"doppel returns {len(d['outs'])} outputs, torch {len(t['outs'])}"]
    for i, (to, do) in enumerate(zip(t["outs"], d["outs"])):
        problems += [f"output {i}: {p}" for p in _compare_value(case, to, tb, do, db, case.signed_zero)]
    if "error" in t or "error" in d:
        if "error" not in t:
            problems.append(f"doppel backward raises {_describe_error(d)}; torch works")
        elif "error" not in d:
            problems.append(f"torch backward raises {_describe_error(t)}; doppel works")
        return problems
    for i, (tg, dg) in enumerate(zip(t.get("grads", []), d.get("grads", []))):
        if tg is None or dg is None:
            if (tg is None) != (dg is None):
                problems.append(f"grad of arg {i}: torch {'None' if tg is None else 'a tensor'}, "
                                f"doppel {'None' if dg is None else 'a tensor'}")
            continue
        problems += [f"grad {i}: {p}" for p in _compare_value(case, tg, tb, dg, db, False)]
    return problems


def _compare_value(case, to, tb, do, db, signed_zero):
    if "value" in to or "value" in do:
        tv, dv = to.get("value", "<tensor>"), do.get("value", "<tensor>")
        same = tv == dv or (isinstance(tv, float) and isinstance(dv, float) and
                            np.allclose(tv, dv, rtol=1e-6, equal_nan=True))
        return [] if same else [f"torch {tv!r}, doppel {dv!r}"]
    tdt, ddt = to["dtype"], do["dtype"]
    ta, da = wire.from_npy(tb[to["blob"]]), wire.from_npy(db[do["blob"]])
    problems = []
    if tdt != ddt:
        problems.append(f"dtype: torch {tdt}, doppel {ddt}")
    if ta.shape != da.shape:
        return problems + [f"shape: torch {ta.shape}, doppel {da.shape}"]
    if ta.dtype.kind in "biu" or da.dtype.kind in "biu":
        bad = ta.astype(np.float64) != da.astype(np.float64)
        if bad.any():
            problems.append(_diff_report(ta, da, bad))
        return problems
    rtol, atol = case.tol or TOLERANCES.get(tdt, TOLERANCES["float32"])
    t64, d64 = ta.astype(np.float64), da.astype(np.float64)
    nan_bad = np.isnan(t64) != np.isnan(d64)
    inf_bad = (np.isinf(t64) | np.isinf(d64)) & (t64 != d64) & ~np.isnan(t64) & ~np.isnan(d64)
    with np.errstate(invalid="ignore"):
        far = np.abs(t64 - d64) > atol + rtol * np.abs(t64)
    bad = nan_bad | inf_bad | (far & np.isfinite(t64) & np.isfinite(d64))
    if signed_zero:
        bad |= (t64 == 0) & (d64 == 0) & (np.signbit(t64) != np.signbit(d64))
    if bad.any():
        problems.append(_diff_report(ta, da, bad))
    return problems


def _diff_report(ta, da, bad):
    idx = np.argwhere(bad)[:5]
    items = ", ".join(f"{tuple(int(j) for j in i)}: torch {ta[tuple(i)]!r} doppel {da[tuple(i)]!r}" for i in idx)
    return f"{int(bad.sum())} of {bad.size} elements differ; first: {items}"

