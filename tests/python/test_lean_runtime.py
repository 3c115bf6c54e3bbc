"""The lean runtime build (cmake -DDOPPEL_LEAN_RUNTIME=ON, preset runtime-lean; serve/README.md):
configured from scratch (about 10 s; building it is bench/lean_runtime.sh's job, `tools/bench.sh
--lean`, which also runs the program on a model file and reports the sizes), its build graph
holds doppel-run, doppel-serve and the runtime's libraries only — no eager, autograd, tracing,
passes, models, Python, TensorBoard, MPI, CUDA or Graphviz — linked with --gc-sections and
stripped, every object compiled into its own sections, fmt header-only. The Dockerfile builds
the programs this way."""
import pathlib
import re
import subprocess

REPO = pathlib.Path(__file__).resolve().parents[2]


def ninja(build, *args):
    return subprocess.run(["ninja", "-C", str(build), *args], capture_output=True, text=True, check=True).stdout


def test_lean_configuration_builds_only_the_runtime(tmp_path):
    build = tmp_path / "lean"
    r = subprocess.run(["cmake", "-S", str(REPO), "-B", str(build), "-G", "Ninja", "-DCMAKE_BUILD_TYPE=Release",
                        f"-DCMAKE_PREFIX_PATH={REPO / '.venv'}", "-DDOPPEL_LEAN_RUNTIME=ON"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    cache = (build / "CMakeCache.txt").read_text()
    for option, value in (("DOPPEL_CUDA", "OFF"), ("DOPPEL_PYTHON", "OFF"), ("DOPPEL_TENSORBOARD", "OFF"),
                          ("DOPPEL_DISTRIBUTED", "OFF"), ("DOPPEL_BUILD_TESTS", "OFF"),
                          ("DOPPEL_FMT_HEADER_ONLY", "ON"), ("DOPPEL_BUILD_SERVE", "ON")):
        assert re.search(rf"^{option}:BOOL={value}$", cache, re.M), option
    targets = ninja(build, "-t", "targets", "all")
    for absent in ("eager/src/", "python_bindings/", "tensorboard/", "distributed/", "models/src/", "graph/src/passes",
                   "graph/src/trace", "libdoppel_eager", "libdoppel_graph.a", "doppel-make-test-model", "doppel_tests",
                   ".cu.o"):
        assert absent not in targets, absent
    link = ninja(build, "-t", "commands", "doppel-run").strip().splitlines()[-1]
    archives = sorted(pathlib.Path(a).name for a in link.split() if a.endswith(".a") and "libdoppel" in a)
    assert archives == ["libdoppel_core.a", "libdoppel_graph_runtime.a", "libdoppel_kernels.a", "libdoppel_profiler.a",
                        "libdoppel_serve_cli.a", "libdoppel_serve_http.a", "libdoppel_serve_io.a"], archives
    assert "-Wl,--gc-sections" in link and "-Wl,--strip-all" in link, link
    for absent in ("libfmt.so", "gvc", "cuda", "protobuf", "libpng", "libz"):
        assert absent not in link, absent
    compiles = [c for c in ninja(build, "-t", "commands", "doppel-run").splitlines() if " -c " in c]
    assert len(compiles) > 100 and all("-ffunction-sections -fdata-sections" in c for c in compiles)
    assert all("FMT_HEADER_ONLY" in c for c in compiles)
    # The serving image builds the programs with the option.
    assert "-DDOPPEL_LEAN_RUNTIME=ON" in (REPO / "Dockerfile").read_text()
