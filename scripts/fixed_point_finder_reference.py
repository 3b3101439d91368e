#!/usr/bin/python3
"""FixedPointFinder's approach, reimplemented in torch (Golub & Sussillo 2018): Adam on
q(s) = 1/2 |F(s, x*) - s|^2 for all starts at once, with its defaults (adaptive learning
rate from 1.0, Adam epsilon 0.01, tol_q 1e-12, tol_dq 1e-20, max_iters 5000, unique
tolerance 1e-3). The reference against which `stackdyn fixed-points` is benchmarked.

    /usr/bin/python3 scripts/fixed_point_finder_reference.py MODEL.h5 STARTS.h5 [-o OUT.h5]

MODEL.h5 is a torch-shaped stackdyn model (one layer, scripts/model_to_torch.py reads it);
STARTS.h5 holds 'states' (n, state_dim). Prints the optimisation time, the fraction of
starts with q < tol_q, and the unique points; OUT.h5 (optional) gets 'final' (n, state_dim)
and 'q' (n,). F is one step of the network with a constant input (zeros by default).
"""
import argparse
import os
import sys
import time

import h5py
import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import model_to_torch  # noqa: E402


class AdaptiveLearningRate:
    """FixedPointFinder's schedule: start at 1.0; after a worse loss, x0.95 (at most every
    5 steps); after 5 steps of steady improvement, x1/0.95; never below 1e-3."""

    def __init__(self, initial=1.0, min_rate=1e-3, patience=5, decrease=0.95, increase=1 / 0.95):
        self.rate, self.min_rate, self.patience = initial, min_rate, patience
        self.decrease, self.increase = decrease, increase
        self.prev, self.improving, self.since_decrease = np.inf, 0, 0

    def update(self, loss):
        self.since_decrease += 1
        if loss > self.prev:
            self.improving = 0
            if self.since_decrease >= self.patience:
                self.rate = max(self.rate * self.decrease, self.min_rate)
                self.since_decrease = 0
        else:
            self.improving += 1
            if self.improving >= self.patience:
                self.rate *= self.increase
                self.improving = 0
        self.prev = loss
        return self.rate


def step_fn(module, x_star):
    """F(s): one step of a one-layer torch RNN/GRU from states s (n, hidden) under x*."""
    cell_step = {
        torch.nn.GRU: lambda x, h: torch._VF.gru_cell(x, h, *module._flat_weights[:4]),
        torch.nn.RNN: lambda x, h: (torch.tanh if module.nonlinearity == "tanh" else torch.relu)(
            torch.nn.functional.linear(x, module._flat_weights[0], module._flat_weights[2]) +
            torch.nn.functional.linear(h, module._flat_weights[1], module._flat_weights[3])),
    }[type(module)]

    def F(s):
        return cell_step(x_star.expand(s.shape[0], -1), s)
    return F


def find_fixed_points(F, starts, tol_q=1e-12, tol_dq=1e-20, max_iters=5000, epsilon=0.01):
    """Adam on the mean of q over all starts (as FixedPointFinder). Returns (final, q, iters, seconds)."""
    s = starts.clone().requires_grad_(True)
    opt = torch.optim.Adam([s], lr=1.0, eps=epsilon, betas=(0.9, 0.999))
    alr = AdaptiveLearningRate()
    q_prev = None
    t0 = time.perf_counter()
    it = 0
    for it in range(max_iters):
        q = 0.5 * torch.sum((F(s) - s) ** 2, dim=1)
        loss = q.mean()
        for g in opt.param_groups:
            g["lr"] = alr.update(loss.item())
        opt.zero_grad()
        loss.backward()
        opt.step()
        qd = q.detach()
        if qd.max().item() < tol_q:
            break
        if q_prev is not None and torch.mean(torch.abs(qd - q_prev)).item() < tol_dq:
            break
        q_prev = qd
    seconds = time.perf_counter() - t0
    with torch.no_grad():
        final = s.detach()
        q = 0.5 * torch.sum((F(final) - final) ** 2, dim=1)
    return final, q, it + 1, seconds


def unique(points, tol=1e-3):
    """Greedy deduplication (2-norm < tol), in the given order; returns kept rows and counts."""
    kept, counts = [], []
    for p in points:
        for i, k in enumerate(kept):
            if np.linalg.norm(p - k) < tol:
                counts[i] += 1
                break
        else:
            kept.append(p)
            counts.append(1)
    return np.array(kept).reshape(len(kept), points.shape[1] if len(points) else 0), counts


def stability(module, x_star, points):
    """Number of eigenvalues with |lambda| > 1 of dF/ds at each point (torch autograd Jacobian)."""
    F = step_fn(module, x_star)
    out = []
    for p in points:
        J = torch.autograd.functional.jacobian(lambda h: F(h[None, :])[0], torch.as_tensor(p))
        out.append(int(np.sum(np.abs(np.linalg.eigvals(J.numpy())) > 1 + 1e-12)))
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model")
    ap.add_argument("starts")
    ap.add_argument("-o", "--output")
    ap.add_argument("--input-constant", default=None, help="v1,v2,... (default zeros)")
    ap.add_argument("--max-iters", type=int, default=5000)
    ap.add_argument("--q-tol", type=float, default=1e-12)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    module = model_to_torch.build_module(model_to_torch.read_model(args.model)).double()
    if module.num_layers != 1:
        raise SystemExit("fixed_point_finder_reference.py: error: one-layer models only")
    d = module.input_size
    x = torch.zeros(1, d, dtype=torch.float64)
    if args.input_constant:
        x = torch.tensor([[float(v) for v in args.input_constant.split(",")]], dtype=torch.float64)
    with h5py.File(args.starts, "r") as f:
        starts = torch.as_tensor(np.asarray(f["states"], dtype=np.float64))
    F = step_fn(module, x)
    with torch.no_grad():
        pass
    final, q, iters, seconds = find_fixed_points(F, starts, tol_q=args.q_tol, max_iters=args.max_iters)
    q = q.numpy()
    ok = q < args.q_tol
    order = np.argsort(q)
    pts, counts = unique(final.numpy()[order][ok[order]])
    all_pts, _ = unique(final.numpy()[order])
    nu = stability(module, x, pts)
    print(f"reference (Adam on q, FixedPointFinder defaults): {len(q)} starts, {iters} iterations, "
          f"{seconds:.3f} s of optimisation")
    print(f"  starts with q < {args.q_tol:g}: {ok.sum()} ({100 * ok.mean():.1f}%); median q {np.median(q):.2e}, "
          f"max q {q.max():.2e}")
    print(f"  unique points with q < {args.q_tol:g}: {len(pts)} ({nu.count(0)} stable, "
          f"{sum(1 for n in nu if n == 1)} index-1 saddles); unique among all final states: {len(all_pts)}")
    if args.output:
        with h5py.File(args.output, "w") as f:
            f["final"] = final.numpy()
            f["q"] = q
            f.attrs["seconds"] = seconds
            f.attrs["iterations"] = iters
            f.attrs["q_definition"] = "q = 1/2 |F(s) - s|^2"
    return 0


if __name__ == "__main__":
    sys.exit(main())
