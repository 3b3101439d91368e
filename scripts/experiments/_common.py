"""What the experiment scripts share: finding and running the stackdyn program, TOML text,
seeds in parallel, tables with their spread, and the one-line error."""
import argparse
import concurrent.futures
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def parser(doc, name):
    p = argparse.ArgumentParser(description=doc.strip().split("\n")[0])
    p.add_argument("--exe", default=os.path.join(ROOT, "build", "stackdyn"), help="the stackdyn program")
    p.add_argument("--out", default=os.path.join(ROOT, "results", "experiments", name), help="output directory")
    p.add_argument("--jobs", type=int, default=2, help="runs at once (each one thread)")
    p.add_argument("--quick", action="store_true", help="a smoke run: fewer seeds and steps (CI)")
    return p


def fail(prog, msg):
    print(f"{prog}: error: {msg}", file=sys.stderr)
    sys.exit(2)


class Runner:
    def __init__(self, exe, out):
        if not os.access(exe, os.X_OK):
            fail(os.path.basename(sys.argv[0]), f"{exe} is not an executable stackdyn; build it first or pass --exe")
        self.exe, self.out = exe, out
        os.makedirs(out, exist_ok=True)
        self.env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")

    def path(self, name):
        return os.path.join(self.out, name)

    def run(self, *args, output=None):
        """stackdyn args...; skipped when `output` exists already (the scripts resume)."""
        if output is not None and os.path.exists(self.path(output)):
            return
        r = subprocess.run([self.exe, "-q", *map(str, args)], cwd=self.out, env=self.env,
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"stackdyn {' '.join(map(str, args))}: {r.stderr.strip()}")

    def train(self, config, run, seed, sets=()):
        """stackdyn train CONFIG -o RUN with the model's and the training's seed set to `seed`
        and any further `--set KEY=VALUE`; skipped when RUN exists."""
        args = ["train", config, "-o", run, "--set", f"model.seed={seed}", "--set", f"train.seed={seed}"]
        for s in sets:
            args += ["--set", s]
        self.run(*args, output=run)

    def write(self, name, text):
        with open(self.path(name), "w") as f:
            f.write(text)
        return name


def parallel(jobs, fn, items):
    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as ex:
        return list(ex.map(fn, items))


def mean_sd(values):
    import numpy as np
    v = np.asarray([x for x in values if x is not None], dtype=float)
    if v.size == 0:
        return "n/a"
    return f"{v.mean():.3g} ± {v.std(ddof=1) if v.size > 1 else 0:.2g}"


def markdown_table(header, rows):
    out = "| " + " | ".join(header) + " |\n|" + "---|" * len(header) + "\n"
    for r in rows:
        out += "| " + " | ".join(str(x) for x in r) + " |\n"
    return out


def write_csv(path, header, rows):
    import csv
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
