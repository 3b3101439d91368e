"""Benchmark environment shared by the bench_*.py scripts; import it before numpy.

One thread for OpenBLAS (both sides of every comparison run one thread), and OpenBLAS's
best kernels for this CPU: OpenBLAS 0.3.21 (Debian 12) does not recognise some newer Xeons
and falls back to its generic Prescott (SSE3) kernels, 5x slower at dgemm (13 against 70
GFLOP/s on the Xeon these benchmarks ran on). Unless OPENBLAS_CORETYPE is already set, it
is set from the CPU's flags (AVX-512: SkylakeX, AVX2: Haswell), so the competitor runs with
the strongest setup a user has here. The same environment reaches stackdyn, whose own
products are Eigen's and whose LAPACK calls go through the same OpenBLAS.
"""
import os


def _cpu_flags():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def setup():
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"
    if "OPENBLAS_CORETYPE" not in os.environ:
        flags = _cpu_flags()
        if "avx512f" in flags:
            os.environ["OPENBLAS_CORETYPE"] = "SkylakeX"
        elif "avx2" in flags:
            os.environ["OPENBLAS_CORETYPE"] = "Haswell"
    return os.environ.get("OPENBLAS_CORETYPE", "(OpenBLAS's own detection)")


CORETYPE = setup()
