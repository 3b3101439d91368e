#!/usr/bin/python3
"""FixedPointFinder's default optimisation (Golub & Sussillo 2018), reimplemented in torch:
the reference against which `stackdyn fixed-points` is benchmarked.

    /usr/bin/python3 scripts/fixed_point_finder_reference.py MODEL.h5 STARTS.h5 [-o OUT.h5]
        [--threads 2] [--dtype float32] [--max-iters 5000] [--q-tol 1e-12] [--input-constant v1,...]

MODEL.h5 is a torch-shaped one-layer stackdyn model (scripts/model_to_torch.py reads it);
STARTS.h5 holds 'states' (n, state_dim). F is one step of the network under a constant input
(zeros by default), q(x) = 1/2 |F(x) - x|^2.

What is reproduced, and from where (github.com/mattgolub/fixed-point-finder and
github.com/mattgolub/recurrent-whisperer, read through the code index, not run here):

- FixedPointFinderBase._default_hps: tol_q 1e-12, tol_dq 1e-20, max_iters 5000,
  method 'joint', dtype 'float32', adam_hps {'epsilon': 0.01}, alr_hps {}, agnc_hps {},
  tol_unique 1e-3, do_exclude_distance_outliers True with outlier_distance_scale 10,
  do_rerun_q_outliers False.
- FixedPointFinderTF._run_joint_optimization / _run_optimization_loop (the original,
  TensorFlow, implementation): ONE optimiser over the whole (n, d) batch of states; the
  objective is the mean of the per-start q; per iteration, in this order: take the
  learning rate from AdaptiveLearningRate and the clip value from AdaptiveGradNormClip,
  evaluate q (before the step), clip the gradient by its global norm
  (tf.clip_by_global_norm: g * clip / max(|g|, clip)), one Adam step; stop when
  iter > 1 and every start has dq < tol_dq * learning_rate or q < tol_q, or when
  iter + 1 > max_iters; otherwise update the learning rate with the mean q and the clip
  value with the (unclipped) gradient norm.
- tf.compat.v1.train.AdamOptimizer (beta1 0.9, beta2 0.999, epsilon 0.01 from adam_hps):
  its "epsilon hat" form, x -= lr sqrt(1 - b2^t)/(1 - b1^t) m / (sqrt(v) + eps), which is
  not torch.optim.Adam's (that adds eps to sqrt(v_hat)); written out below.
- recurrent-whisperer AdaptiveLearningRate.default_hps: initial_rate 1.0, no warm-up,
  decrease x0.95 when the newest loss is worse than each of the previous 5 and no change
  happened in the last 5 steps; increase x1/0.95 when the last 5 losses decreased
  monotonically and no change happened in the last 5 steps (min_rate 1e-3 only feeds
  is_finished(), which FixedPointFinder does not use: the rate has no floor).
- recurrent-whisperer AdaptiveGradNormClip.default_hps: sliding window of 128 gradient
  norms, clip at their 95th percentile (np.percentile), 1e12 before the first update.

FixedPointFinder's own torch port (FixedPointFinderTorch.py) uses torch.optim.Adam with
ReduceLROnPlateau and no clipping instead; the TensorFlow loop above is the one the paper
and the defaults describe, so it is the one followed here. The optimisation runs in the
`--dtype` (float32, FixedPointFinder's default) with torch.set_num_threads(--threads) and
denormals flushed to zero, as TensorFlow's CPU kernels run (tensorflow/core: its thread
pools and kernel execution hold port::ScopedFlushDenormal).

Printed: the optimisation time (the loop only: no model loading, no post-processing), the
iterations, the fraction of starts with q < q-tol by FixedPointFinder's own final q
(float32, evaluated before the last step, as its qstar) and by q of the returned states
re-evaluated in float64 (the figure the benchmark compares: stackdyn's q is float64), and
the unique points (2-norm < 1e-3, greedy in order of q, as stackdyn; among the starts with
float64 q < q-tol, with their stability) and FixedPointFinder's unique count over all final
states after its distance-outlier exclusion.
"""
import os
import sys
import time

import h5py
import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _stackdyn_io as sio  # noqa: E402
import model_to_torch  # noqa: E402

PROG = "fixed_point_finder_reference.py"


class AdaptiveLearningRate:
    """recurrent-whisperer's AdaptiveLearningRate with its default hyperparameters."""

    def __init__(self, initial_rate=1.0, min_steps_per_decrease=5, decrease_factor=0.95,
                 min_steps_per_increase=5, increase_factor=1 / 0.95):
        self.rate = initial_rate
        self.initial_rate = initial_rate
        self.n_dec, self.f_dec = min_steps_per_decrease, decrease_factor
        self.n_inc, self.f_inc = min_steps_per_increase, increase_factor
        self.step, self.step_last_update, self.loss_log = 0, -1, []

    def __call__(self):
        return self.rate

    def update(self, loss):
        self.loss_log.append(loss)
        step = self.step
        if step <= 0:  # n_warmup_steps = 0: the first update sets the initial rate
            self.rate = self.initial_rate
            self.step_last_update = step
        elif step >= self.step_last_update + self.n_dec and \
                all(loss > w for w in self.loss_log[-(1 + self.n_dec):-1]):
            self.rate *= self.f_dec
            self.step_last_update = step
        elif step >= self.step_last_update + self.n_inc and \
                all(b < a for a, b in zip(self.loss_log[-(1 + self.n_inc):-1], self.loss_log[-self.n_inc:])):
            self.rate *= self.f_inc
            self.step_last_update = step
        self.step = step + 1
        return self.rate


class AdaptiveGradNormClip:
    """recurrent-whisperer's AdaptiveGradNormClip with its default hyperparameters."""

    def __init__(self, sliding_window_len=128, percentile=95.0, init_clip_val=1e12, max_clip_val=1e12):
        self.window, self.percentile, self.max_clip = sliding_window_len, percentile, max_clip_val
        self.clip_val, self.log, self.step = init_clip_val, [], 0

    def __call__(self):
        return self.clip_val

    def update(self, grad_norm):
        if self.step < self.window:
            self.log.append(grad_norm)
        else:
            self.log[self.step % self.window] = grad_norm
        self.clip_val = min(float(np.percentile(self.log, self.percentile)), self.max_clip)
        self.step += 1


def step_fn(module, x_star):
    """F(x): one step of a one-layer torch RNN/GRU from states x (n, hidden) under x*, the
    module's own cell function (what module(inputs_bx1xd, x_1xbxd) computes for one step)."""
    w = module._flat_weights
    if isinstance(module, torch.nn.GRU):
        def F(x):
            return torch._VF.gru_cell(x_star.expand(x.shape[0], -1), x, *w[:4])
    elif isinstance(module, torch.nn.RNN):
        act = torch.tanh if module.nonlinearity == "tanh" else torch.relu

        def F(x):
            return act(torch.nn.functional.linear(x_star, w[0], w[2]) + torch.nn.functional.linear(x, w[1], w[3]))
    else:
        raise sio.ScriptError("the model's cell is not a GRU or vanilla RNN; expected one of those")
    return F


def run_joint_optimization(F, initial_states, tol_q=1e-12, tol_dq=1e-20, max_iters=5000, epsilon=0.01,
                           beta1=0.9, beta2=0.999):
    """FixedPointFinderTF._run_optimization_loop on the mean q of all starts (see the module
    docstring). Returns (x after the last step, FixedPointFinder's qstar, iterations, seconds)."""
    x = initial_states.clone().requires_grad_(True)
    m = torch.zeros_like(x)
    v = torch.zeros_like(x)
    alr, agnc = AdaptiveLearningRate(), AdaptiveGradNormClip()
    q_prev = torch.full((x.shape[0],), float("nan"), dtype=x.dtype)
    t0 = time.perf_counter()
    iter_count = 1
    while True:
        lr, clip_val = alr(), agnc()
        q = 0.5 * torch.sum((F(x) - x) ** 2, dim=1)
        q_scalar = q.mean()
        (grad,) = torch.autograd.grad(q_scalar, [x])
        with torch.no_grad():
            q = q.detach()
            grad_norm = float(torch.linalg.vector_norm(grad))
            g = grad * (clip_val / max(grad_norm, clip_val))  # tf.clip_by_global_norm
            m.mul_(beta1).add_(g, alpha=1 - beta1)
            v.mul_(beta2).addcmul_(g, g, value=1 - beta2)
            lr_t = lr * np.sqrt(1 - beta2 ** iter_count) / (1 - beta1 ** iter_count)
            x.addcdiv_(m, v.sqrt().add_(epsilon), value=-lr_t)  # TF1 AdamOptimizer
            dq = torch.abs(q - q_prev)
            if iter_count > 1 and bool(torch.all((dq < tol_dq * lr) | (q < tol_q))):
                break
            if iter_count + 1 > max_iters:
                break
        q_prev = q
        alr.update(float(q_scalar))
        agnc.update(grad_norm)
        iter_count += 1
    seconds = time.perf_counter() - t0
    return x.detach(), q, iter_count, seconds


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


def fpf_unique_count(final, initial, tol_unique=1e-3, outlier_distance_scale=10.0):
    """FixedPointFinder's unique_fps count: FixedPoints.get_unique (same point when every
    element differs by less than tol_unique), then _exclude_distance_outliers."""
    kept = []
    for p in final:
        if not any(np.all(np.abs(p - k) < tol_unique) for k in kept):
            kept.append(p)
    kept = np.array(kept)
    c = initial.mean(axis=0)
    avg = np.linalg.norm(initial - c, axis=1).mean()
    return int(np.sum(np.linalg.norm(kept - c, axis=1) / avg < outlier_distance_scale))


def stability(module64, x_star64, points):
    """Number of eigenvalues with |lambda| > 1 of dF/dx at each point (float64 autograd)."""
    F = step_fn(module64, x_star64)
    out = []
    for p in points:
        J = torch.autograd.functional.jacobian(lambda h: F(h[None, :])[0], torch.as_tensor(p))
        out.append(int(np.sum(np.abs(np.linalg.eigvals(J.numpy())) > 1 + 1e-12)))
    return out


def main(argv=None):
    return sio.run_main(PROG, body, argv)


def body(argv):
    ap = sio.Parser(prog=PROG, description=__doc__.splitlines()[0])
    ap.add_argument("model", help="model file, run file or FILE.h5:/group")
    ap.add_argument("starts")
    ap.add_argument("-o", "--output")
    ap.add_argument("--input-constant", default=None, help="v1,v2,... (default zeros)")
    ap.add_argument("--max-iters", type=int, default=5000)
    ap.add_argument("--q-tol", type=float, default=1e-12)
    ap.add_argument("--dq-tol", type=float, default=1e-20)
    ap.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--quiet", action="store_true", help="print one line: seconds, iterations, fraction")
    args = ap.parse_args(argv)
    if args.output:
        sio.refuse_output_among_inputs(args.output, [args.model, args.starts])
    torch.set_num_threads(args.threads)
    # TensorFlow runs every kernel with denormals flushed to zero (port::ScopedFlushDenormal in
    # its thread pools and op execution); torch does not by default, and float32 Adam moments
    # of gradients ~1e-20 are denormal: without this each step is many times slower.
    torch.set_flush_denormal(True)
    dtype = getattr(torch, args.dtype)
    module64 = model_to_torch.build_module(model_to_torch.read_model(args.model)).double()
    if module64.num_layers != 1:
        raise sio.ScriptError(f"{args.model} has {module64.num_layers} layers; expected a one-layer model")
    for p in module64.parameters():
        p.requires_grad_(False)
    x64 = torch.zeros(1, module64.input_size, dtype=torch.float64)
    if args.input_constant:
        x64 = torch.tensor([[float(v) for v in args.input_constant.split(",")]], dtype=torch.float64)
    with sio.open_h5(args.starts, "an HDF5 file with dataset 'states' (starts, state)") as f:
        if "states" not in f:
            raise sio.ScriptError(f"{args.starts} has no dataset 'states'; expected the starts as 'states' (n, state)")
        starts = np.asarray(f["states"], dtype=np.float64)
    module = module64.to(dtype)
    F = step_fn(module, x64.to(dtype))
    final, q_fpf, iters, seconds = run_joint_optimization(F, torch.as_tensor(starts).to(dtype), tol_q=args.q_tol,
                                                          tol_dq=args.dq_tol, max_iters=args.max_iters)
    module64 = module64.double()
    F64 = step_fn(module64, x64)
    final64 = final.double()
    with torch.no_grad():
        q64 = (0.5 * torch.sum((F64(final64) - final64) ** 2, dim=1)).numpy()
    final64 = final64.numpy()
    q_fpf = q_fpf.double().numpy()
    ok, ok_fpf = q64 < args.q_tol, q_fpf < args.q_tol
    if args.quiet:
        print(f"{seconds:.4f} {iters} {ok.mean():.4f} {ok_fpf.mean():.4f}")
        return 0
    order = np.argsort(q64, kind="stable")
    pts, counts = unique(final64[order][ok[order]])
    nu = stability(module64, x64, pts)
    print(f"reference (FixedPointFinder's joint Adam, its defaults, {args.dtype}, {args.threads} threads): "
          f"{len(q64)} starts, {iters} iterations, {seconds:.3f} s of optimisation")
    print(f"  starts with q < {args.q_tol:g}: {ok.sum()} ({100 * ok.mean():.1f}%) by q of the final states in "
          f"float64; {ok_fpf.sum()} ({100 * ok_fpf.mean():.1f}%) by FixedPointFinder's own q ({args.dtype}, "
          f"before the last step)")
    print(f"  float64 q of the final states: median {np.median(q64):.2e}, max {q64.max():.2e}")
    print(f"  unique points with q < {args.q_tol:g}: {len(pts)} ({nu.count(0)} stable, "
          f"{sum(1 for n in nu if n == 1)} index-1 saddles); FixedPointFinder's unique_fps (all final states, "
          f"distance outliers excluded): {fpf_unique_count(final64, starts)}")
    if args.output:
        with sio.atomic_output(args.output) as partial, h5py.File(partial, "w") as f:
            f["final"] = final64
            f["q"] = q64
            f["q_fixed_point_finder"] = q_fpf
            f.attrs["seconds"] = seconds
            f.attrs["iterations"] = iters
            f.attrs["dtype"] = args.dtype
            f.attrs["q_definition"] = "q = 1/2 |F(s) - s|^2; 'q' in float64 at 'final', 'q_fixed_point_finder' as it reports"
    return 0


if __name__ == "__main__":
    sys.exit(main())
