"""doppel installed the ways users install it, checked from outside the repository.

- The Python wheel: `python -m build --wheel` (no build isolation here, so that the build reuses
  the project venv's pinned build requirements and ccache; `pip install .` with isolation builds
  the same CMake project) is installed into a fresh venv, which then runs the README's Python
  quick start from a folder outside the repo, and writes TensorBoard event files. Its extension
  must be self-contained: oneDNN, libprotobuf and libpng found relative to the installed package
  (RUNPATH $ORIGIN/../../..), fmt compiled in, no CUDA.
- The C++ package: `cmake --install` of the suite's build into a prefix; an out-of-tree consumer
  (tests/packaging/consumer) finds it with find_package(doppel CONFIG), builds the README's C++
  quick start and a runtime-only program, and runs them. add_subdirectory(doppel) configures with
  doppel's tests/bench/examples/Python and -Werror off and builds the runtime-only program.
- The runtime ships alone: doppel-run/doppel-serve of the CPU-only wheel build, installed with
  `--component runtime` and moved to another folder, need no CUDA library, no libfmt and no path
  of the build machine. The wheel carries them too (into the venv's bin/): the venv's
  doppel-serve serves the README's model to the README's curl line.

The CPU-only build (build/wheel) is shared by these tests; with a warm ccache it takes a minute,
cold about ten on two cores.
"""
import json
import os
import pathlib
import re
import shutil
import socket
import subprocess
import sys
import urllib.request

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("DOPPEL_BUILD_DIR", REPO / "build/release"))
WHEEL_BUILD = REPO / "build/wheel"  # pyproject.toml's build-dir
VENV_PYTHON = REPO / ".venv/bin/python"
CONSUMER = REPO / "tests/packaging/consumer"
BUILD_TIMEOUT = 3600


def ccache_env():
    env = dict(os.environ)
    env.setdefault("CCACHE_DIR", str(pathlib.Path.home() / ".cache/doppel-ccache"))
    env.update(CCACHE_BASEDIR=str(REPO), CCACHE_NOHASHDIR="true", CMAKE_BUILD_PARALLEL_LEVEL="2")
    env.pop("PYTHONPATH", None)
    return env


def run(cmd, timeout=600, **kw):
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout, **kw)
    assert r.returncode == 0, f"{' '.join(map(str, cmd))} failed ({r.returncode}):\n{r.stdout[-4000:]}\n{r.stderr[-4000:]}"
    return r.stdout


def readme_block(lang):
    """The first ```lang block of the README's Quick start section."""
    text = (REPO / "README.md").read_text()
    section = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    m = re.search(rf"```{lang}\n(.*?)```", section, re.S)
    assert m, f"README.md's Quick start has no ```{lang} block"
    return m.group(1)


def dynamic_entries(binary):
    """(NEEDED libraries, RUNPATH) of an ELF file."""
    out = run(["readelf", "-d", binary])
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[(.*?)\]", out)
    runpath = re.findall(r"\((?:RUNPATH|RPATH)\)\s+Library (?:runpath|rpath): \[(.*?)\]", out)
    return needed, runpath


def resolved_libraries(binary):
    """name -> resolved path of every library ldd loads for `binary` (fails on 'not found')."""
    out = run(["ldd", binary], env={"PATH": os.environ["PATH"]})
    assert "not found" not in out, out
    return dict(re.findall(r"^\s*(\S+) => (\S+)", out, re.M))


def assert_shippable(binary, allowed_under):
    """No CUDA or fmt library needed, and every library resolves outside the repo and the CUDA
    toolkit (or under `allowed_under`, where the package ships it)."""
    needed, _ = dynamic_entries(binary)
    assert not [n for n in needed if re.match(r"lib(cudart|cublas|cublasLt|cudnn|nccl|cuda|fmt)\.", n)], needed
    for name, path in resolved_libraries(binary).items():
        inside = str(pathlib.Path(path).resolve()).startswith(str(allowed_under))
        assert inside or not (path.startswith(str(REPO)) or "/cuda" in path), f"{binary}: {name} -> {path}"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- the wheel


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    dist = tmp_path_factory.mktemp("dist")
    run([VENV_PYTHON, "-m", "build", "--wheel", "--no-isolation", "--outdir", dist, REPO], timeout=BUILD_TIMEOUT,
        env=ccache_env(), cwd=REPO)
    wheels = list(dist.glob("doppel-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


@pytest.fixture(scope="module")
def wheel_venv(wheel, tmp_path_factory):
    venv = tmp_path_factory.mktemp("venv")
    run([sys.executable, "-m", "venv", venv])
    run([venv / "bin/python", "-m", "pip", "install", "-q", wheel], timeout=900)
    return venv


@pytest.fixture(scope="module")
def readme_python_run(wheel_venv, tmp_path_factory):
    """The README's Python quick start run by the fresh venv from a folder outside the repo."""
    work = tmp_path_factory.mktemp("quickstart_py")
    (work / "quickstart.py").write_text(readme_block("python"))
    env = {"PATH": os.environ["PATH"], "HOME": str(work)}
    return work, run([wheel_venv / "bin/python", "quickstart.py"], cwd=work, env=env, timeout=300)


def test_the_wheel_runs_the_readme_python_quick_start_outside_the_repo(readme_python_run, wheel_venv):
    work, out = readme_python_run
    assert re.search(r"loss \d+\.\d+; runtime output \(5, 3\)", out), out
    assert (work / "model.dpl").stat().st_size > 0
    origin = run([wheel_venv / "bin/python", "-c", "import doppel; print(doppel.__file__)"], cwd=work)
    assert origin.startswith(str(wheel_venv)), origin


def test_the_wheel_is_self_contained_and_declares_its_dependencies(wheel, wheel_venv):
    ext = list(wheel_venv.glob("lib/python*/site-packages/doppel/_C*.so"))
    assert len(ext) == 1, ext
    needed, runpath = dynamic_entries(ext[0])
    assert runpath == ["$ORIGIN/../../.."], runpath  # no path of the build machine
    assert "libdnnl.so.3" in needed
    assert_shippable(ext[0], wheel_venv)
    assert resolved_libraries(ext[0])["libdnnl.so.3"].startswith(str(wheel_venv))
    for tool in ("doppel-run", "doppel-serve"):  # installed into the environment's bin/
        _, runpath = dynamic_entries(wheel_venv / "bin" / tool)
        assert runpath == ["$ORIGIN/../lib"], runpath
        assert_shippable(wheel_venv / "bin" / tool, wheel_venv)
    meta = run([wheel_venv / "bin/python", "-c",
                "import importlib.metadata as m; print('\\n'.join(m.requires('doppel')))"])
    assert "numpy>=1.22" in meta and "onednn-cpu-gomp==2023.2.0" in meta, meta
    for lib in ("libprotobuf.so.32", "libpng16.so.16"):  # shipped for the TensorBoard writer
        assert resolved_libraries(ext[0])[lib].startswith(str(wheel_venv)), lib


SUMMARY_WRITER_SCRIPT = '''
import doppel
from doppel.utils.tensorboard import SummaryWriter
net = doppel.nn.Sequential(doppel.nn.Linear(4, 3), doppel.nn.ReLU())
with SummaryWriter("logs") as w:
    for step in range(3):
        w.add_scalar("loss", 1.0 / (step + 1), step)
    w.add_image("img", doppel.ones(3, 2, 2) * 0.5, 0)
    w.add_graph(net, doppel.randn(2, 4))
'''


def test_the_wheel_writes_tensorboard_event_files(wheel_venv, tmp_path):
    # The fresh venv has no tensorboard package: the project venv's reads what it wrote.
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    (tmp_path / "tb.py").write_text(SUMMARY_WRITER_SCRIPT)
    run([wheel_venv / "bin/python", "tb.py"], cwd=tmp_path, env={"PATH": os.environ["PATH"], "HOME": str(tmp_path)})
    ea = EventAccumulator(str(tmp_path / "logs"))
    ea.Reload()
    assert [(e.step, e.value) for e in ea.Scalars("loss")] == [(0, 1.0), (1, 0.5), (2, pytest.approx(1 / 3))]
    assert ea.Images("img")[0].width == 2
    assert [n.op for n in ea.Graph().node if n.op not in ("IO Node", "Parameter")] == ["linear", "relu"]


SAMPLER_SCRIPT = '''
import doppel
from doppel.utils.data import DistributedSampler
print(list(DistributedSampler(list(range(10)), num_replicas=3, rank=1, shuffle=False)))
try:
    import doppel.distributed
except ImportError as e:
    print("ImportError:", e)
'''


def test_the_wheel_imports_without_mpi_and_says_how_to_get_distributed(wheel_venv, tmp_path):
    """The wheel is built without MPI (it must import where no MPI library is): the sampler works
    with explicit ranks, and doppel.distributed says how to build it in."""
    (tmp_path / "s.py").write_text(SAMPLER_SCRIPT)
    out = run([wheel_venv / "bin/python", "s.py"], cwd=tmp_path, env={"PATH": os.environ["PATH"]})
    assert out.splitlines()[0] == "[1, 4, 7, 0]"  # PyTorch's shard: indices 1, 4, 7 and a padding 0
    assert "ImportError: doppel.distributed: this doppel was built without MPI" in out
    assert "DOPPEL_DISTRIBUTED=ON" in out


# ---- the C++ package


@pytest.fixture(scope="module")
def installed_prefix(tmp_path_factory):
    prefix = tmp_path_factory.mktemp("prefix")
    for component in ("dev", "runtime"):
        run(["cmake", "--install", BUILD, "--prefix", prefix, "--component", component])
    return prefix


def consumer_source(dest):
    shutil.copytree(CONSUMER, dest)
    (dest / "quickstart.cpp").write_text(readme_block("cpp"))
    return dest


def test_find_package_consumer_builds_and_runs_the_readme_cpp_quick_start(installed_prefix, tmp_path):
    src = consumer_source(tmp_path / "src")
    build = tmp_path / "build"
    run(["cmake", "-S", src, "-B", build, "-G", "Ninja", "-DCMAKE_BUILD_TYPE=Release",
         f"-DCMAKE_PREFIX_PATH={installed_prefix}", "-DCMAKE_EXPORT_COMPILE_COMMANDS=ON"])
    run(["cmake", "--build", build], timeout=900)
    out = run([build / "quickstart"], cwd=tmp_path)
    assert re.search(r"loss \d+\.\d+; runtime output \[64, 3\]", out), out
    assert re.match(r"\[2, 3\] -?\d+\.\d+", run([build / "run_model", tmp_path / "model.dpl"]))
    # doppel's warnings policy stays doppel's: nothing of -Werror reaches the consumer.
    commands = json.loads((build / "compile_commands.json").read_text())
    assert commands and not [c for c in commands if "-Werror" in c["command"]]


def test_add_subdirectory_gives_the_libraries_only(tmp_path):
    src = consumer_source(tmp_path / "src")
    build = tmp_path / "build"
    run(["cmake", "-S", src, "-B", build, "-G", "Ninja", f"-DDOPPEL_SOURCE_DIR={REPO}",
         "-DCMAKE_EXPORT_COMPILE_COMMANDS=ON"])
    cache = (build / "CMakeCache.txt").read_text()
    for option in ("DOPPEL_BUILD_TESTS", "DOPPEL_BUILD_BENCH", "DOPPEL_BUILD_EXAMPLES", "DOPPEL_PYTHON",
                   "DOPPEL_WERROR"):
        assert re.search(rf"^{option}:BOOL=OFF$", cache, re.M), option
    ninja = (build / "build.ninja").read_text()
    for target in ("doppel_tests", "examples/fashion_mnist", "python/doppel/_C", "doppel_bench"):
        assert target not in ninja, target
    commands = json.loads((build / "compile_commands.json").read_text())
    assert commands and not [c for c in commands if "-Werror" in c["command"]]


def test_add_subdirectory_consumer_builds_and_runs(tmp_path):
    # Configured like the wheel build (CPU only, fmt header-only) and at the same depth under the
    # repo, so that ccache serves doppel's objects; -Werror on only to match those command lines.
    build = REPO / "build/pkg-subdir"
    src = REPO / "build/pkg-subdir-src"  # fixed: the build folder above is reused across runs
    shutil.rmtree(src, ignore_errors=True)
    consumer_source(src)
    run(["cmake", "-S", src, "-B", build, "-G", "Ninja", "-DCMAKE_BUILD_TYPE=Release", f"-DDOPPEL_SOURCE_DIR={REPO}",
         "-DDOPPEL_CUDA=OFF", "-DDOPPEL_FMT_HEADER_ONLY=ON", "-DDOPPEL_WERROR=ON"], env=ccache_env())
    run(["cmake", "--build", build, "--target", "run_model"], timeout=BUILD_TIMEOUT, env=ccache_env())
    out = run([build / "run_model", REPO / "fuzz/corpus_model/cnn.dpl"])
    assert re.match(r"\[2, \d+\] -?\d+\.\d+", out), out


# ---- the runtime alone


@pytest.fixture(scope="module")
def runtime_prefix(wheel, tmp_path_factory):
    """bin/doppel-run, bin/doppel-serve (CPU-only) and lib/, installed, then moved elsewhere."""
    run(["cmake", "--build", WHEEL_BUILD, "--target", "doppel-run", "doppel-serve"], timeout=BUILD_TIMEOUT,
        env=ccache_env())
    first = tmp_path_factory.mktemp("runtime_install")
    run(["cmake", "--install", WHEEL_BUILD, "--prefix", first, "--component", "runtime"])
    moved = tmp_path_factory.mktemp("runtime_moved") / "doppel"
    shutil.move(first, moved)
    return moved


def test_runtime_programs_need_no_cuda_fmt_or_build_paths(runtime_prefix):
    for tool in ("doppel-run", "doppel-serve"):
        binary = runtime_prefix / "bin" / tool
        _, runpath = dynamic_entries(binary)
        assert runpath == ["$ORIGIN/../lib"], runpath
        assert_shippable(binary, runtime_prefix)
        dnnl = pathlib.Path(resolved_libraries(binary)["libdnnl.so.3"]).resolve()
        assert dnnl == (runtime_prefix / "lib/libdnnl.so.3").resolve(), dnnl
    out = run([runtime_prefix / "bin/doppel-run", REPO / "fuzz/corpus_model/cnn.dpl", "--signature"])
    assert "inputs" in out.lower(), out


def test_the_readme_serve_lines_answer(wheel_venv, readme_python_run):
    work, _ = readme_python_run
    lines = [ln for ln in readme_block("sh").splitlines() if ln.strip()]
    serve_line = next(ln for ln in lines if ln.startswith("doppel-serve"))
    curl_line = next(ln for ln in lines if ln.startswith("curl"))
    port = str(free_port())
    args = serve_line.rstrip("& ").split()[1:]
    args[args.index("--port") + 1] = port
    proc = subprocess.Popen([str(wheel_venv / "bin/doppel-serve"), *args], cwd=work, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert "serving model 'model'" in proc.stdout.readline()
        # curl -d: a form content type, as the README's line sends it.
        body = re.search(r"-d '(.*?)'", curl_line).group(1).encode()
        url = "http://" + curl_line.split()[-1].replace("8501", port)
        req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/x-www-form-urlencoded"})
        with urllib.request.urlopen(req, timeout=30) as resp:
            predictions = json.loads(resp.read())["predictions"]
        assert len(predictions) == 1 and len(predictions[0]) == 3
    finally:
        proc.terminate()
        proc.wait(timeout=30)
