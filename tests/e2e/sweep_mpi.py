#!/usr/bin/python3
"""CI test of the MPI path: the example 2 x 3 x 4 sweep, once in threads and once under
`mpirun -n 2`, must give the same numbers. Usage: sweep_mpi.py STACKDYN WORKDIR SOURCE_DIR"""
import os
import shutil
import subprocess
import sys

import h5py
import numpy as np

exe, work, src = sys.argv[1:4]
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
sweep = os.path.join(src, "scripts/sweep_examples/grid_2x3x4.toml")
common = ["--set", "t_end=10.0", "--set", "batch=2"]  # shorter than the example, same grid
env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OMPI_MCA_rmaps_base_oversubscribe="1", OMPI_MCA_btl_vader_single_copy_mechanism="none",
           # OpenMPI's own allocations outlive MPI_Finalize: not ours to report in a sanitizer build
           ASAN_OPTIONS=os.environ.get("ASAN_OPTIONS", "") + ":detect_leaks=0")
threads = os.path.join(work, "threads.h5")
mpi = os.path.join(work, "mpi.h5")
subprocess.run([exe, "sweep", sweep, "-o", threads, "--threads", "2"] + common, cwd=src, check=True)
subprocess.run(["mpirun", "--allow-run-as-root", "--oversubscribe", "-n", "2", exe, "sweep", sweep, "-o", mpi,
                "--threads", "1"] + common, cwd=src, check=True, env=env)
with h5py.File(threads) as a, h5py.File(mpi) as b:
    assert a["states"].shape[0] == 24, a["states"].shape
    for k in ("states", "time", "parameters", "statistics/steps", "statistics/rhs_evaluations"):
        assert np.array_equal(a[k][...], b[k][...]), k
print("sweep in threads and under mpirun -n 2: identical numbers")

# A merge that fails on process 0 (runs with different time axes) must end every process with
# the error, not leave process 1 waiting for it.
bad = os.path.join(work, "axes.toml")
with open(bad, "w") as f:
    # paths in a sweep file are relative to that file: name the model description absolutely
    f.write(f'model_toml = "{os.path.join(src, "data/default_model.toml")}"\n[simulate]\nmode = "continuous"\nbatch = 1\n'
            '[[runs]]\nt_end = 2.0\ndt_out = 1.0\n[[runs]]\nt_end = 4.0\ndt_out = 2.0\n')
failed = os.path.join(work, "axes.h5")
try:
    r = subprocess.run(["mpirun", "--allow-run-as-root", "--oversubscribe", "-n", "2", exe, "sweep", bad, "-o", failed,
                        "--threads", "1"], cwd=src, env=env, timeout=120, capture_output=True, text=True)
except subprocess.TimeoutExpired:
    sys.exit("a failed merge under mpirun -n 2 left a process waiting (killed after 120 s)")
assert r.returncode != 0, r.returncode
assert "time axis" in r.stderr, r.stderr
assert not os.path.exists(failed)
print("a failed merge under mpirun -n 2 ends every process with the error")
