#!/usr/bin/python3
"""scripts/torch_export.py on torch models as people save them: a state_dict (architecture
read from the keys or given by flags), a wrapper module whose class cannot be imported by
the exporter, a wrapper's state_dict, and export_module / export_state_dict from Python.

Each form must give the same model file as exporting the bare module (the route the torch
end-to-end test checks against torch), and `stackdyn forward` on it must agree with torch
itself; ambiguous or contradicting input is refused in one line (exit 2, no file).
Usage: torch_export_forms.py STACKDYN WORKDIR SOURCE_DIR"""
import os
import shutil
import subprocess
import sys
import textwrap

import h5py
import numpy as np

exe, work, src = sys.argv[1:4]
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
PY = "/usr/bin/python3"
EXPORT = os.path.join(src, "scripts", "torch_export.py")
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(src, "scripts"))
import torch  # noqa: E402
import torch_export  # noqa: E402

failures = []


def check(what, ok, detail=""):
    print(("ok     " if ok else "FAILED ") + what + (f": {detail}" if detail else ""), flush=True)
    if not ok:
        failures.append(what)


def export(args):
    return subprocess.run([PY, EXPORT] + args, cwd=work, capture_output=True, text=True)


def same_model(a, b):
    """Every layer dataset equal (bitwise) and the same architecture attributes."""
    with h5py.File(os.path.join(work, a)) as fa, h5py.File(os.path.join(work, b)) as fb:
        for k in ("input_size", "num_layers", "bidirectional", "state_dim"):
            if fa.attrs[k] != fb.attrs[k]:
                return f"attribute {k}: {fa.attrs[k]} vs {fb.attrs[k]}"
        for layer in fa["layers"]:
            ga, gb = fa["layers"][layer], fb["layers"][layer]
            if ga.attrs["cell"] != gb.attrs["cell"] or sorted(ga) != sorted(gb):
                return f"layer {layer}: {ga.attrs['cell']} {sorted(ga)} vs {gb.attrs['cell']} {sorted(gb)}"
            for d in ga:
                if not np.array_equal(ga[d][...], gb[d][...]):
                    return f"layers/{layer}/{d} differs"
    return ""


def forward_matches_torch(model_h5, rnn, tag):
    """stackdyn forward on model_h5 against the torch module rnn (float64 copy, eval)."""
    torch.manual_seed(5)
    x = torch.randn(3, 6, rnn.input_size, dtype=torch.float64)
    with h5py.File(os.path.join(work, f"{tag}.in.h5"), "w") as f:
        f["inputs"] = x.numpy()
    r = subprocess.run([exe, "-q", "forward", model_h5, f"{tag}.in.h5", "-o", f"{tag}.out.h5"], cwd=work,
                       capture_output=True, text=True)
    if r.returncode != 0:
        return f"forward failed: {r.stderr.strip()}"
    m = type(rnn)(**{k: getattr(rnn, k) for k in ("input_size", "hidden_size", "num_layers", "bias",
                                                  "bidirectional")}, batch_first=True).double().eval()
    if isinstance(rnn, torch.nn.RNN):
        m = torch.nn.RNN(rnn.input_size, rnn.hidden_size, rnn.num_layers, nonlinearity=rnn.nonlinearity,
                         bias=rnn.bias, batch_first=True, bidirectional=rnn.bidirectional).double().eval()
    m.load_state_dict({k: v.double() for k, v in rnn.state_dict().items()})
    with torch.no_grad():
        want = m(x)[0].numpy()
    with h5py.File(os.path.join(work, f"{tag}.out.h5")) as f:
        got = f["outputs"][...]
    err = np.abs(got - want).max() / np.abs(want).max()
    return "" if err < 1e-10 else f"relative error {err:.3g}"


# A wrapper model saved by another process from its __main__: its class is not importable here.
saver = os.path.join(work, "save_models.py")
with open(saver, "w") as f:
    f.write(textwrap.dedent("""
        import torch
        class Net(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.rnn = torch.nn.LSTM(3, 5, num_layers=2, batch_first=True)
                self.head = torch.nn.Linear(5, 2)
            def forward(self, x):
                return self.head(self.rnn(x)[0])
        class Two(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.enc = torch.nn.GRU(3, 4)
                self.dec = torch.nn.GRU(4, 4, bidirectional=True)
        torch.manual_seed(0)
        net = Net()
        torch.save(net, "wrapper.pt")
        torch.save(net.state_dict(), "wrapper_sd.pt")
        torch.save(net.rnn, "lstm.pt")
        torch.save(net.rnn.state_dict(), "lstm_sd.pt")
        two = Two()
        torch.save(two, "two.pt")
        torch.save(two.state_dict(), "two_sd.pt")
        torch.save(two.dec, "dec.pt")
        relu = torch.nn.RNN(3, 4, num_layers=3, nonlinearity="relu", bias=False).double()
        torch.save(relu, "relu.pt")
        torch.save(relu.state_dict(), "relu_sd.pt")
    """))
subprocess.run([PY, saver], cwd=work, check=True)

for args, what in ((["lstm.pt", "lstm.h5"], "the bare module"),
                   (["lstm_sd.pt", "lstm_sd.h5"], "an LSTM's state_dict (all read from the keys)"),
                   (["lstm_sd.pt", "lstm_sd_flags.h5", "--cell", "lstm", "--num-layers", "2", "--hidden-size", "5",
                     "--input-size", "3"], "an LSTM's state_dict with agreeing flags"),
                   (["wrapper.pt", "wrapper.h5"], "a wrapper whose class is not importable"),
                   (["wrapper_sd.pt", "wrapper_sd.h5"], "a wrapper's state_dict"),
                   (["two.pt", "dec_sub.h5", "--submodule", "dec"], "one of two RNNs of a wrapper, by --submodule"),
                   (["two_sd.pt", "dec_prefix.h5", "--prefix", "dec."], "one of two RNNs of a state_dict, by --prefix"),
                   (["dec.pt", "dec.h5"], "the bare bidirectional GRU"),
                   (["relu.pt", "relu.h5"], "a bare relu RNN without bias"),
                   (["relu_sd.pt", "relu_sd.h5", "--cell", "rnn_relu"], "its state_dict with --cell rnn_relu")):
    r = export(args)
    check(f"export {what}", r.returncode == 0, r.stderr.strip())

for a, b, what in (("lstm_sd.h5", "lstm.h5", "state_dict"), ("lstm_sd_flags.h5", "lstm.h5", "state_dict + flags"),
                   ("wrapper.h5", "lstm.h5", "unimportable wrapper"), ("wrapper_sd.h5", "lstm.h5", "wrapper state_dict"),
                   ("dec_sub.h5", "dec.h5", "--submodule"), ("dec_prefix.h5", "dec.h5", "--prefix"),
                   ("relu_sd.h5", "relu.h5", "relu state_dict")):
    if os.path.exists(os.path.join(work, a)):
        d = same_model(a, b)
        check(f"{what} gives the bare module's model file", not d, d)
with h5py.File(os.path.join(work, "wrapper.h5")) as f:
    source = f.attrs["source"]
    check("the file says which submodule and that Net was not importable",
          "submodule 'rnn'" in source and "__main__.Net" in source, source)

lstm = torch.load(os.path.join(work, "lstm.pt"))
d = forward_matches_torch("wrapper.h5", lstm, "wrapper")
check("forward on the unimportable wrapper's export agrees with torch", not d, d)
relu = torch.load(os.path.join(work, "relu.pt"))
d = forward_matches_torch("relu_sd.h5", relu, "relu")
check("forward on the relu state_dict's export agrees with torch", not d, d)

# From Python, without a file round trip
torch_export.export_module(lstm, os.path.join(work, "api_module.h5"), "torch_export_forms.py")
torch_export.export_state_dict(relu.state_dict(), os.path.join(work, "api_sd.h5"), "torch_export_forms.py",
                               cell="rnn_relu")
check("export_module() from Python", not same_model("api_module.h5", "lstm.h5"), same_model("api_module.h5", "lstm.h5"))
check("export_state_dict() from Python", not same_model("api_sd.h5", "relu.h5"), same_model("api_sd.h5", "relu.h5"))

# Refusals: one line, exit 2, no file
for args, keyword, what in ((["relu_sd.pt", "x.h5"], "--cell", "a plain RNN's state_dict without --cell"),
                            (["lstm_sd.pt", "x.h5", "--hidden-size", "4"], "hidden_size = 5", "a contradicting flag"),
                            (["lstm_sd.pt", "x.h5", "--cell", "gru"], "4 gate blocks", "a contradicting --cell"),
                            (["two.pt", "x.h5"], "--submodule", "a wrapper with two RNNs"),
                            (["two_sd.pt", "x.h5"], "--prefix", "a state_dict with two RNNs"),
                            (["two.pt", "x.h5", "--submodule", "head"], "'enc', 'dec'", "an unknown --submodule"),
                            (["lstm.pt", "x.h5", "--hidden-size", "5"], "state_dicts", "flags with a module")):
    r = export(args)
    lines = r.stderr.splitlines()
    ok = (r.returncode == 2 and len(lines) == 1 and lines[0].startswith("torch_export.py: error: ")
          and keyword in lines[0] and not os.path.exists(os.path.join(work, "x.h5"))
          and not os.path.exists(os.path.join(work, "x.h5.partial")))
    check(f"refuse {what}", ok, r.stderr.strip())

if failures:
    print(f"{len(failures)} failed")
    sys.exit(1)
print("all passed")
