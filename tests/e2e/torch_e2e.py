#!/usr/bin/python3
"""End-to-end test: real torch modules -> scripts/torch_export.py -> `stackdyn forward`,
compared with torch itself; plus the exporter's refusals and the round trip through
scripts/model_to_torch.py, and `stackdyn forward` on the committed tests/data/torch cases.

    tests/e2e/torch_e2e.py STACKDYN_BIN WORKDIR
    tests/e2e/torch_e2e.py --fake-forward WORKDIR

--fake-forward checks this script itself: a numpy forward that reads the model file (written
here from the format description, independently of torch) stands in for stackdyn, and
deliberately corrupted results must be rejected by the comparison.
Prints one line per check and `N passed, M failed`; exits 1 if any failed.
"""
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import h5py
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPTS = os.path.normpath(os.path.join(HERE, "..", "..", "scripts"))
REFERENCE_DIR = os.path.normpath(os.path.join(HERE, "..", "data", "torch"))
PYTHON = sys.executable or "/usr/bin/python3"
TOL = 1e-10
TINY = np.finfo(np.float64).tiny
CELLS = ("rnn_tanh", "rnn_relu", "gru", "lstm")
GATES = {"rnn_tanh": 1, "rnn_relu": 1, "gru": 3, "lstm": 4}


class CheckFailed(Exception):
    pass


def rel_err(a, b):
    return float(np.max(np.abs(a - b), initial=0.0) / max(float(np.max(np.abs(b), initial=0.0)), TINY))


def expect_close(what, got, want, tol=TOL):
    """Relative error max|got-want| / max(|want|, tiny) <= tol, same shape, float64, finite."""
    got = np.asarray(got)
    if got.shape != want.shape:
        raise CheckFailed(f"{what}: shape {got.shape}, expected {want.shape}")
    if got.dtype != np.float64:
        raise CheckFailed(f"{what}: dtype {got.dtype}, expected float64")
    if not np.all(np.isfinite(got)):
        raise CheckFailed(f"{what}: holds NaN or infinite values")
    err = rel_err(got, want)
    if not err <= tol:
        raise CheckFailed(f"{what}: relative error {err:.3g} > {tol:g}")
    return err


def one_line(text):
    return " ".join(str(text).split())


# --------------------------------------------------------------------------------------
# A numpy forward from the model file (the format description, not torch): the stand-in for
# `stackdyn forward` in --fake-forward mode.

def _sigmoid(v):
    return 1.0 / (1.0 + np.exp(-v))


def _np_step(cell, p, u, h, c):
    gi = u @ p["weight_ih"].T + (p["bias_ih"] if "bias_ih" in p else 0.0)
    gh = h @ p["weight_hh"].T + (p["bias_hh"] if "bias_hh" in p else 0.0)
    g = gi + gh
    n = h.shape[1]
    if cell == "rnn_tanh":
        return np.tanh(g), None
    if cell == "rnn_relu":
        return np.maximum(g, 0.0), None
    if cell == "gru":
        r = _sigmoid(g[:, :n])
        z = _sigmoid(g[:, n:2 * n])
        cand = np.tanh(gi[:, 2 * n:] + r * gh[:, 2 * n:])
        return (1.0 - z) * cand + z * h, None
    i, f, gg, o = (g[:, k * n:(k + 1) * n] for k in range(4))
    c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(gg)
    return _sigmoid(o) * np.tanh(c), c


def np_forward(model_path, input_path, out_path, corrupt=""):
    with h5py.File(model_path, "r") as m:
        num_layers = int(m.attrs["num_layers"])
        nd = 2 if int(m.attrs["bidirectional"]) else 1
        layers = []
        for k in range(num_layers):
            g = m["layers"][str(k)]
            cell = g.attrs["cell"]
            cell = cell.decode() if isinstance(cell, bytes) else cell
            dirs = []
            for suffix in ([""] + (["_reverse"] if nd == 2 else [])):
                dirs.append({name: g[name + suffix][()] for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
                             if name + suffix in g})
            layers.append((cell, int(g.attrs["hidden_size"]), dirs))
    with h5py.File(input_path, "r") as f:
        x = f["inputs"][()]
        h0 = f["h0"][()] if "h0" in f else None
        c0 = f["c0"][()] if "c0" in f else None
    batch, time = x.shape[:2]
    y = x
    h_n, c_n, blocks = [], [], []
    for k, (cell, n, dirs) in enumerate(layers):
        outs = []
        for d, p in enumerate(dirs):
            h = h0[k * nd + d] if h0 is not None else np.zeros((batch, n))
            c = c0[k * nd + d] if c0 is not None else np.zeros((batch, n))
            hs, cs = [None] * time, [None] * time
            for t in (range(time) if d == 0 else reversed(range(time))):
                h, c_new = _np_step(cell, p, y[:, t], h, c)
                c = c_new if c_new is not None else c
                hs[t], cs[t] = h, c
            outs.append(np.stack(hs, axis=1))
            h_n.append(h)
            c_n.append(c)
            if nd == 1:
                blocks.append(np.stack(hs, axis=1))
                if cell == "lstm":
                    blocks.append(np.stack(cs, axis=1))
        y = np.concatenate(outs, axis=2)
    lstm = layers[0][0] == "lstm"
    res = {"outputs": y, "h_n": np.stack(h_n), "c_n": np.stack(c_n) if lstm else None,
           "states": np.concatenate(blocks, axis=2) if nd == 1 else None}
    # deliberate mistakes, for checking that the comparison rejects them
    if corrupt == "outputs_eps":
        res["outputs"] = res["outputs"] * (1 + 1e-8)
    elif corrupt == "directions_swapped" and nd == 2:
        n = layers[-1][1]
        res["outputs"] = np.concatenate([y[:, :, n:], y[:, :, :n]], axis=2)
    elif corrupt == "h_n_batch_major":
        res["h_n"] = res["h_n"].transpose(1, 0, 2).copy()
    elif corrupt == "c_n_missing":
        res["c_n"] = None
    elif corrupt == "states_c_before_h" and res["states"] is not None:
        n = layers[0][1]  # LSTM: every layer block [h; c] written as [c; h]
        s = res["states"]
        res["states"] = np.concatenate([s[:, :, o + part:o + part + n] for o in range(0, s.shape[2], 2 * n)
                                        for part in (n, 0)], axis=2)
    elif corrupt == "states_top_first" and res["states"] is not None:
        size = res["states"].shape[2] // len(layers)
        s = res["states"]
        res["states"] = np.concatenate([s[:, :, o:o + size] for o in reversed(range(0, s.shape[2], size))], axis=2)
    elif corrupt == "nan":
        res["outputs"] = res["outputs"].copy()
        res["outputs"][0, 0, 0] = np.nan
    partial = out_path + ".partial"
    with h5py.File(partial, "w") as f:
        for name, value in res.items():
            if value is not None:
                f.create_dataset(name, data=value)
    if corrupt != "partial_left":
        os.replace(partial, out_path)


def fake_stackdyn(argv):
    """`torch_e2e.py --as-fake-stackdyn forward MODEL INPUT -o OUT`: what stackdyn forward does."""
    if len(argv) != 5 or argv[0] != "forward" or argv[3] not in ("-o", "--output"):
        print("fake stackdyn: error: usage: forward MODEL.h5 INPUT.h5 -o OUT.h5", file=sys.stderr)
        return 2
    np_forward(argv[1], argv[2], argv[4], os.environ.get("STACKDYN_FAKE_CORRUPT", ""))
    return 0


# --------------------------------------------------------------------------------------
# Checks

def check_forward_output(out_path, want, model_path):
    """Compares a forward result file with torch's (want: outputs, h_n, c_n, states or None)."""
    if os.path.exists(out_path + ".partial"):
        raise CheckFailed(f"{os.path.basename(out_path)}.partial left behind")
    if not os.path.exists(out_path):
        raise CheckFailed(f"{os.path.basename(out_path)} was not written")
    with h5py.File(model_path, "r") as m:
        state_dim = int(m.attrs["state_dim"])
        slices = m["state_slices"][()]
    errs = []
    with h5py.File(out_path, "r") as f:
        for name in ("outputs", "h_n", "c_n"):
            if want[name] is None:
                continue
            if name not in f:
                raise CheckFailed(f"dataset '{name}' is missing")
            errs.append(expect_close(name, f[name][()], want[name]))
        if want["states"] is not None:
            if "states" not in f:
                raise CheckFailed("dataset 'states' is missing (unidirectional model)")
            states = f["states"][()]
            b, t = want["outputs"].shape[:2]
            if states.shape != (b, t, state_dim):
                raise CheckFailed(f"states: shape {states.shape}, expected {(b, t, state_dim)}")
            off = int(slices[-1][0])
            n = want["h_n"].shape[2]
            errs.append(expect_close("top layer's h in states", states[:, :, off:off + n], want["outputs"]))
            errs.append(expect_close("states (vs torch cells stepped layer by layer)", states, want["states"]))
    return max(errs)


def check_export(module, model_path, expected_source_prefix):
    """The model file holds exactly the module's configuration and weights (float64)."""
    import torch
    import torch_export
    nd = 2 if module.bidirectional else 1
    cell = torch_export.cell_name(module)
    n = module.hidden_size
    with h5py.File(model_path, "r") as f:
        a = dict(f.attrs)
        want = {"format": "stackdyn-model", "format_version": 1, "config": "", "seed": -1,
                "input_size": module.input_size, "num_layers": module.num_layers, "bidirectional": int(nd == 2),
                "dropout": float(module.dropout), "torch_batch_first": int(module.batch_first),
                "state_dim": module.num_layers * n * (2 if cell == "lstm" else 1) * nd}
        for key, value in want.items():
            if key not in a or a[key] != value:
                raise CheckFailed(f"root attribute {key} = {a.get(key)!r}, expected {value!r}")
        for key in ("format_version", "seed", "input_size", "num_layers", "bidirectional", "state_dim",
                    "torch_batch_first"):
            if a[key].dtype != np.int64:
                raise CheckFailed(f"root attribute {key} has type {a[key].dtype}, expected int64")
        if not str(a["producer"]).startswith(f"torch_export.py (torch {torch.__version__})"):
            raise CheckFailed(f"producer {a['producer']!r}")
        if "torch_export.py" not in str(a["command_line"]):
            raise CheckFailed(f"command_line {a['command_line']!r}")
        if not str(a["source"]).startswith(expected_source_prefix):
            raise CheckFailed(f"source {a['source']!r}, expected it to start with {expected_source_prefix!r}")
        size = n * (2 if cell == "lstm" else 1) * nd
        if not np.array_equal(f["state_slices"][()], [[k * size, size] for k in range(module.num_layers)]):
            raise CheckFailed(f"state_slices {f['state_slices'][()].tolist()}")
        if sorted(f["layers"].keys()) != [str(k) for k in range(module.num_layers)]:
            raise CheckFailed(f"layers {sorted(f['layers'].keys())}")
        count = 0
        for k in range(module.num_layers):
            g = f["layers"][str(k)]
            want = {"cell": cell, "hidden_size": n, "input_size": module.input_size if k == 0 else nd * n,
                    "bias": int(module.bias), "skip": 0, "residual": 0}
            for key, value in want.items():
                if g.attrs.get(key) != value:
                    raise CheckFailed(f"/layers/{k} attribute {key} = {g.attrs.get(key)!r}, expected {value!r}")
            names = [f"{w}{s}" for s in ([""] + (["_reverse"] if nd == 2 else []))
                     for w in ("weight_ih", "weight_hh") + (("bias_ih", "bias_hh") if module.bias else ())]
            if sorted(g.keys()) != sorted(names):
                raise CheckFailed(f"/layers/{k} datasets {sorted(g.keys())}, expected {sorted(names)}")
            for name in names:
                d = g[name]
                tname = name.replace("_reverse", "") + f"_l{k}" + ("_reverse" if name.endswith("_reverse") else "")
                want_arr = getattr(module, tname).detach().to(torch.float64).numpy()
                if d.dtype != np.float64 or d.shape != want_arr.shape or not np.array_equal(d[()], want_arr):
                    raise CheckFailed(f"/layers/{k}/{name} ({d.dtype} {d.shape}) differs from {tname}")
                count += d.size
        total = sum(p.numel() for p in module.parameters())
        if count != total:
            raise CheckFailed(f"parameter count {count}, torch has {total}")


# --------------------------------------------------------------------------------------
# Cases

class Case:
    def __init__(self, name, cell, num_layers, bidirectional, bias, batch_first, input_size, hidden_size,
                 batch, time, with_h0, dtype="float64", dropout=0.0):
        self.__dict__.update(locals())
        del self.__dict__["self"]

    def describe(self):
        return (f"d={self.input_size} n={self.hidden_size} B={self.batch} T={self.time}"
                f"{' h0' if self.with_h0 else ''}{' ' + self.dtype if self.dtype != 'float64' else ''}"
                f"{f' dropout={self.dropout}' if self.dropout else ''}")


def make_cases():
    rng = np.random.default_rng(20240611)
    # (bidirectional, bias, batch_first): an orthogonal array, rotated per cell over num_layers,
    # so every cell meets every pair of settings and every depth.
    rows = [(False, True, True), (False, False, False), (True, True, False), (True, False, True)]
    cases = []
    for ci, cell in enumerate(CELLS):
        for i, num_layers in enumerate(range(1, 5)):
            bidir, bias, bf = rows[(i + ci) % 4]
            with_h0 = (ci // 2 + i) % 2 == 0
            d, n = (4, 7) if not cases else (int(rng.integers(1, 7)), int(rng.integers(1, 9)))
            b, t = int(rng.integers(1, 5)), int(rng.integers(2, 10))
            name = (f"{cell}_L{num_layers}_{'bidir' if bidir else 'uni'}_{'bias' if bias else 'nobias'}"
                    f"_bf{int(bf)}")
            cases.append(Case(name, cell, num_layers, bidir, bias, bf, d, n, b, t, with_h0))
    cases.append(Case("lstm_L2_bidir_bias_bf0_float32", "lstm", 2, True, True, False, 4, 7, 3, 5, True, "float32"))
    cases.append(Case("gru_L3_uni_bias_bf1_float32", "gru", 3, False, True, True, 3, 6, 2, 4, False, "float32"))
    cases.append(Case("gru_L3_uni_nobias_bf1_B1_T1", "gru", 3, False, False, True, 2, 5, 1, 1, True))
    cases.append(Case("rnn_relu_L2_uni_bias_bf0_dropout", "rnn_relu", 2, False, True, False, 5, 4, 3, 7, True,
                      dropout=0.25))
    return cases


def source_prefix(case):
    cls = {"rnn_tanh": "RNN", "rnn_relu": "RNN", "gru": "GRU", "lstm": "LSTM"}[case.cell]
    nl = f", nonlinearity={case.cell[4:]!r}" if cls == "RNN" else ""
    return (f"torch.nn.{cls}(input_size={case.input_size}, hidden_size={case.hidden_size}, "
            f"num_layers={case.num_layers}{nl}, bias={case.bias}, batch_first={case.batch_first}")


def _rm(*paths):
    for p in paths:
        for q in (p, p + ".partial"):
            if os.path.exists(q):
                os.remove(q)


def run_command(cmd, env=None, timeout=600):
    """subprocess.run that reports a missing program or a hang as a failed run, not an exception."""
    try:
        return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    except OSError as e:
        return subprocess.CompletedProcess(cmd, 127, "", f"cannot run {cmd[0]}: {e}")
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(cmd, -9, "", f"{cmd[0]} did not finish within {timeout} s")


def run_commands(commands, jobs, env=None):
    def run(cmd):
        return run_command(cmd, env)
    with ThreadPoolExecutor(max_workers=jobs) as ex:
        return list(ex.map(run, commands))


def failure_text(proc):
    lines = (proc.stderr or "").strip().splitlines()
    return f"exit code {proc.returncode}" + (f": {one_line(lines[-1])[:300]}" if lines else "")


class Report:
    def __init__(self):
        self.passed = self.failed = 0

    def __call__(self, ok, what, detail=""):
        if ok:
            self.passed += 1
        else:
            self.failed += 1
        print(f"{'PASS' if ok else 'FAIL'} {what}{(': ' if not ok else ' ') + detail if detail else ''}", flush=True)


def check(report, what, fn):
    try:
        detail = fn()
        report(True, what, detail or "")
        return True
    except CheckFailed as e:
        report(False, what, one_line(e))
    except Exception as e:  # a bug or an unreadable file: still one line
        report(False, what, f"{type(e).__name__}: {one_line(e)}")
    return False


def main(argv):
    if len(argv) != 2:
        print("torch_e2e.py: error: usage: torch_e2e.py STACKDYN_BIN WORKDIR  (or --fake-forward WORKDIR)",
              file=sys.stderr)
        return 2
    fake = argv[0] == "--fake-forward"
    work = os.path.abspath(argv[1])
    os.makedirs(work, exist_ok=True)
    if fake:
        forward_cmd = [PYTHON, os.path.abspath(__file__), "--as-fake-stackdyn"]
    else:
        forward_cmd = [os.path.abspath(argv[0])]
    jobs = int(os.environ.get("STACKDYN_E2E_JOBS", os.cpu_count() or 2))

    sys.dont_write_bytecode = True  # no __pycache__ in the source tree
    sys.path.insert(0, SCRIPTS)
    import torch
    from make_torch_reference import cell_route, make_module, run_module
    torch.use_deterministic_algorithms(True)
    export_py = os.path.join(SCRIPTS, "torch_export.py")
    to_torch_py = os.path.join(SCRIPTS, "model_to_torch.py")
    report = Report()
    print(f"torch {torch.__version__}, forward by {'numpy stand-in (--fake-forward)' if fake else forward_cmd[0]}, "
          f"work in {work}", flush=True)
    if not fake and not (os.path.isfile(forward_cmd[0]) and os.access(forward_cmd[0], os.X_OK)):
        print(f"note: {forward_cmd[0]} is not an executable file: every forward check will fail", flush=True)

    # 1. modules, inputs and torch's answers (main thread: torch's RNG is global)
    cases = make_cases()
    for ci, case in enumerate(cases):
        torch.manual_seed(1000 + ci)
        module = make_module(case.cell, case.input_size, case.hidden_size, case.num_layers, case.bidirectional,
                             case.bias, case.batch_first, dtype=getattr(torch, case.dtype))
        module.dropout = case.dropout
        case.module = module
        base = os.path.join(work, case.name)
        case.pt, case.model, case.input, case.out, case.rt = (base + ".pt", base + ".model.h5", base + ".in.h5",
                                                              base + ".out.h5", base + ".roundtrip.pt")
        _rm(case.pt, case.model, case.input, case.out, case.rt)
        torch.save(module, case.pt)
        nd = 2 if case.bidirectional else 1
        x = torch.randn(case.batch, case.time, case.input_size, dtype=torch.float64).numpy()
        h0 = c0 = None
        if case.with_h0:
            h0 = torch.randn(case.num_layers * nd, case.batch, case.hidden_size, dtype=torch.float64).numpy()
            if case.cell == "lstm":
                c0 = torch.randn(case.num_layers * nd, case.batch, case.hidden_size, dtype=torch.float64).numpy()
        case.x, case.h0, case.c0 = x, h0, c0
        with h5py.File(case.input, "w") as f:
            f.create_dataset("inputs", data=x)
            if h0 is not None:
                f.create_dataset("h0", data=h0)
            if c0 is not None:
                f.create_dataset("c0", data=c0)
        out, h_n, c_n = run_module(module, x, h0, c0)  # module.double() on a copy, eval mode
        states = None
        if not case.bidirectional:
            states = cell_route(module, x, h0, c0)
            size = case.hidden_size * (2 if case.cell == "lstm" else 1)
            top = states[:, :, (case.num_layers - 1) * size:][:, :, :case.hidden_size]
            assert rel_err(top, out) <= 1e-12, f"{case.name}: torch cells disagree with the module"
        case.want = {"outputs": out, "h_n": h_n, "c_n": c_n, "states": states}

    # 2. export every module (subprocesses, in parallel)
    procs = run_commands([[PYTHON, export_py, c.pt, c.model] for c in cases], jobs)
    for case, proc in zip(cases, procs):
        def export_check(case=case, proc=proc):
            if proc.returncode != 0:
                raise CheckFailed(f"torch_export.py failed, {failure_text(proc)}")
            if os.path.exists(case.model + ".partial"):
                raise CheckFailed(".partial left behind")
            check_export(case.module, case.model, source_prefix(case))
            return case.describe()
        case.exported = check(report, f"export    {case.name}", export_check)

    # 3. round trip: model file -> model_to_torch.py -> torch module, identical outputs
    done = [c for c in cases if c.exported]
    procs = run_commands([[PYTHON, to_torch_py, c.model, c.rt] for c in done], jobs)
    for case, proc in zip(done, procs):
        def roundtrip_check(case=case, proc=proc):
            if proc.returncode != 0:
                raise CheckFailed(f"model_to_torch.py failed, {failure_text(proc)}")
            back = torch.load(case.rt)
            orig = case.module
            if type(back) is not type(orig):
                raise CheckFailed(f"class {type(back).__name__}, expected {type(orig).__name__}")
            for key in ("input_size", "hidden_size", "num_layers", "bias", "batch_first", "bidirectional",
                        "dropout", "mode"):
                if getattr(back, key) != getattr(orig, key):
                    raise CheckFailed(f"{key} = {getattr(back, key)!r}, expected {getattr(orig, key)!r}")
            if any(p.dtype != torch.float64 for p in back.parameters()):
                raise CheckFailed("parameters are not float64")
            got = run_module(back, case.x, case.h0, case.c0)
            for name, g, w in zip(("outputs", "h_n", "c_n"), got, (case.want[k] for k in ("outputs", "h_n", "c_n"))):
                if w is not None and not np.array_equal(g, w):
                    raise CheckFailed(f"{name} differs by {np.abs(g - w).max():.3g} (expected identical)")
            return "identical outputs"
        check(report, f"roundtrip {case.name}", roundtrip_check)

    # 4. forward: the program under test vs torch
    procs = run_commands([forward_cmd + ["forward", c.model, c.input, "-o", c.out] for c in done], jobs)
    for case, proc in zip(done, procs):
        def forward_check(case=case, proc=proc):
            if proc.returncode != 0:
                raise CheckFailed(f"forward failed, {failure_text(proc)}")
            return f"max rel err {check_forward_output(case.out, case.want, case.model):.2g}"
        check(report, f"forward   {case.name}", forward_check)

    # 5. forward on the committed reference data (tests/data/torch)
    ref_cases = sorted(p[:-len(".model.h5")] for p in os.listdir(REFERENCE_DIR) if p.endswith(".model.h5")) \
        if os.path.isdir(REFERENCE_DIR) else []

    def reference_present():
        if len(ref_cases) != 64:
            raise CheckFailed(f"{len(ref_cases)} cases in {REFERENCE_DIR}, expected 64 "
                              "(run scripts/make_torch_reference.py)")
        return f"({len(ref_cases)} cases)"
    check(report, "reference data present", reference_present)
    outs = [os.path.join(work, f"reference_{c}.out.h5") for c in ref_cases]
    ins = [os.path.join(work, f"reference_{c}.in.h5") for c in ref_cases]
    _rm(*outs, *ins)
    for c, inp in zip(ref_cases, ins):  # only the forward inputs: io.h5 also holds the answers
        with h5py.File(os.path.join(REFERENCE_DIR, c + ".io.h5"), "r") as src, h5py.File(inp, "w") as dst:
            for name in ("inputs", "h0", "c0"):
                if name in src:
                    dst.create_dataset(name, data=src[name][()])
    procs = run_commands([forward_cmd + ["forward", os.path.join(REFERENCE_DIR, c + ".model.h5"), inp, "-o", o]
                          for c, inp, o in zip(ref_cases, ins, outs)], jobs)
    for c, o, proc in zip(ref_cases, outs, procs):
        def reference_check(c=c, o=o, proc=proc):
            if proc.returncode != 0:
                raise CheckFailed(f"forward failed, {failure_text(proc)}")
            with h5py.File(os.path.join(REFERENCE_DIR, c + ".io.h5"), "r") as f:
                want = {k: (f[k][()] if k in f else None) for k in ("outputs", "h_n", "c_n", "states")}
            return f"max rel err {check_forward_output(o, want, os.path.join(REFERENCE_DIR, c + '.model.h5')):.2g}"
        check(report, f"forward   reference/{c}", reference_check)

    # 6. refusals
    refusal_dir = os.path.join(work, "refusals")
    os.makedirs(refusal_dir, exist_ok=True)
    R = lambda name: os.path.join(refusal_dir, name)  # noqa: E731
    torch.manual_seed(7)
    torch.save(torch.nn.LSTM(4, 7, num_layers=2, proj_size=3).double(), R("proj.pt"))
    torch.save(torch.nn.RNN(4, 7).double().state_dict(), R("state_dict.pt"))  # tanh or relu? not in the weights
    torch.save(torch.nn.Linear(4, 7), R("linear.pt"))
    torch.save(torch.nn.Sequential(torch.nn.GRU(4, 7), torch.nn.GRU(7, 7)), R("sequential.pt"))  # which one?
    with open(R("garbage.pt"), "w") as f:
        f.write("this is not a torch.save file\n")
    refusals = [("torch_export.py", export_py, "proj.pt", "proj_size"),
                ("torch_export.py", export_py, "state_dict.pt", "--cell"),
                ("torch_export.py", export_py, "linear.pt", "Linear"),
                ("torch_export.py", export_py, "sequential.pt", "--submodule"),
                ("torch_export.py", export_py, "garbage.pt", "torch.save"),
                ("torch_export.py", export_py, "missing.pt", "does not exist")]
    source = next((c for c in cases if c.exported and c.num_layers >= 2), None)
    if source is not None:
        for flag, value, keyword in (("skip", 1, "skip"), ("cell", "gru_reset_before", "gru_reset_before"),
                                     ("hidden_size", source.hidden_size + 1, "hidden_size")):
            bad = R(f"model_{flag}.h5")
            with open(source.model, "rb") as src, open(bad, "wb") as dst:
                dst.write(src.read())
            with h5py.File(bad, "r+") as f:
                f["layers"]["1"].attrs[flag] = value if isinstance(value, str) else np.int64(value)
            refusals.append(("model_to_torch.py", to_torch_py, os.path.basename(bad), keyword))
    outputs = [R(f"refused_{i}.out") for i in range(len(refusals))]
    _rm(*outputs)
    procs = run_commands([[PYTHON, script, R(inp), out] for (_, script, inp, _), out in zip(refusals, outputs)], jobs)
    for (prog, _, inp, keyword), out, proc in zip(refusals, outputs, procs):
        def refusal_check(prog=prog, keyword=keyword, out=out, proc=proc):
            lines = proc.stderr.splitlines()
            if proc.returncode != 2:
                raise CheckFailed(f"exit code {proc.returncode}, expected 2 ({failure_text(proc)})")
            if len(lines) != 1 or not lines[0].startswith(f"{prog}: error: "):
                raise CheckFailed(f"stderr {proc.stderr!r}, expected one line '{prog}: error: ...'")
            if keyword not in lines[0]:
                raise CheckFailed(f"message {lines[0]!r} does not mention {keyword!r}")
            if os.path.exists(out) or os.path.exists(out + ".partial"):
                raise CheckFailed("an output file was written")
            return f"({lines[0]})"
        check(report, f"refuse    {prog} {inp}", refusal_check)

    # 7. (--fake-forward) the comparison must reject wrong results
    if fake:
        picks = [next(c for c in done if c.cell == "lstm" and not c.bidirectional and c.num_layers >= 2),
                 next(c for c in done if c.bidirectional)]
        corruptions = ["outputs_eps", "directions_swapped", "h_n_batch_major", "c_n_missing", "states_c_before_h",
                       "states_top_first", "nan", "partial_left"]
        jobs_list = []
        for kind in corruptions:
            for case in picks:
                if kind == "directions_swapped" and not case.bidirectional:
                    continue
                if kind.startswith("states") and case.bidirectional:
                    continue
                if kind == "c_n_missing" and case.cell != "lstm":
                    continue
                if kind == "h_n_batch_major" and case.batch == case.num_layers * (2 if case.bidirectional else 1):
                    continue
                jobs_list.append((kind, case))
        for kind, case in jobs_list:
            out = os.path.join(work, f"corrupt_{kind}_{case.name}.out.h5")
            _rm(out)
            env = dict(os.environ, STACKDYN_FAKE_CORRUPT=kind)
            proc = run_command(forward_cmd + ["forward", case.model, case.input, "-o", out], env=env)

            def rejected(case=case, out=out, proc=proc):
                if proc.returncode != 0:
                    raise CheckFailed(f"fake forward failed, {failure_text(proc)}")
                try:
                    check_forward_output(out, case.want, case.model)
                except CheckFailed as e:
                    return f"(rejected: {one_line(e)})"
                raise CheckFailed("the comparison accepted a corrupted result")
            check(report, f"selfcheck {kind} {case.name}", rejected)

    print(f"{report.passed} passed, {report.failed} failed", flush=True)
    return 1 if report.failed else 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--as-fake-stackdyn":
        sys.exit(fake_stackdyn(sys.argv[2:]))
    sys.exit(main(sys.argv[1:]))
