"""doppel.save streams its file (issue 13): the header, then each tensor straight from its
storage into a temporary beside the target, so saving a 256 MiB tensor does not cost another
256 MiB; a temporary left by a killed save is removed by the next save of the same target."""
import os
import subprocess
import sys
import textwrap

import numpy as np

import doppel

MIB = 1 << 20


def test_saving_a_256_mib_tensor_adds_no_whole_file_buffer(tmp_path):
    # A fresh interpreter, so that ru_maxrss (the peak) starts from this script alone.
    script = textwrap.dedent(f"""
        import resource, sys
        sys.path[:0] = {sys.path!r}
        import doppel
        t = doppel.ones(64 * 1024 * 1024)  # 256 MiB of float32, every page touched
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        doppel.save({{"t": t}}, {str(tmp_path / "big.safetensors")!r})
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(before, after)
    """)
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                       env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert r.returncode == 0, r.stderr
    before_kib, after_kib = map(int, r.stdout.split())
    grown = (after_kib - before_kib) * 1024
    print(f"peak RSS {before_kib // 1024} MiB before the save, {after_kib // 1024} MiB after")
    assert before_kib * 1024 >= 256 * MIB
    assert grown < 16 * MIB, f"the save raised the peak RSS by {grown / MIB:.0f} MiB"
    assert 256 * MIB < os.path.getsize(tmp_path / "big.safetensors") < 256 * MIB + 256
    loaded = doppel.load(tmp_path / "big.safetensors")["t"]
    assert loaded.shape == (64 * 1024 * 1024,) and float(loaded.sum()) == 64 * 1024 * 1024


def test_a_killed_saves_temporary_is_removed_by_the_next_save(tmp_path):
    target = tmp_path / "w.safetensors"
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = int(child.stdout)
    stale = tmp_path / f"w.safetensors.tmp.{dead}.0"
    stale.write_bytes(b"half a file")
    alive = tmp_path / f"w.safetensors.tmp.{os.getppid()}.0"  # pytest's parent: still running
    alive.write_bytes(b"a save in flight")
    doppel.save({"a": doppel.tensor(np.arange(3, dtype=np.float32))}, target)
    assert not stale.exists()
    assert alive.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([target.name, alive.name])
