#!/usr/bin/env python3
"""The PyTorch peer of robust_mean_benchmark: the paper's authors' approach.

For each draw of the paper's robust-mean protocol (centre c ~ U[-40, 40], 10
inliers N(c, 4^2), 100 outliers U[-40, 40]) at sigma = 4:
  E(t) = sum_i -exp(-(x_i - t)^2 / sigma^2), seeded at the lowest-energy
  sample, minimised by torch.optim.LBFGS (strong Wolfe line search), finished
  by one Newton step with the dense autograd Hessian, and differentiated:
  dt*/dsigma = -H^-1 d2E/(dt dsigma) (implicit, autograd), and the gradient of
  the loss 1/2 (t* - c)^2. Double precision, one thread.

Prints one JSON object: examples_per_s, failed, mean_loss, draws, torch
version. Exits 0 with {"skipped": reason} when PyTorch is absent (Debian:
python3-torch).

  robust_mean_peer.py [--draws N] [--seed S]
"""

import argparse
import json
import sys
import time


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=500)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    try:
        import torch
    except ImportError:
        print(json.dumps({"skipped": "PyTorch is not installed (Debian: python3-torch)"}))
        return 0
    torch.set_num_threads(1)
    dtype = torch.float64
    generator = torch.Generator().manual_seed(args.seed)
    sigma0 = 4.0

    def energy(x, t, sigma):
        return -torch.exp(-((x - t) ** 2) / sigma ** 2).sum()

    def evaluate(x, centre):
        sigma = torch.tensor(sigma0, dtype=dtype, requires_grad=True)
        with torch.no_grad():
            grid = -torch.exp(-((x[:, None] - x[None, :]) ** 2) / sigma0 ** 2).sum(0)
            seed = x[torch.argmin(grid)]
        t = seed.clone().requires_grad_(True)
        optimiser = torch.optim.LBFGS([t], lr=1.0, max_iter=100, tolerance_grad=1e-10,
                                      tolerance_change=1e-14, line_search_fn="strong_wolfe")

        def closure():
            optimiser.zero_grad()
            e = energy(x, t, sigma.detach())
            e.backward()
            return e

        optimiser.step(closure)
        t = t.detach().requires_grad_(True)
        hessian = torch.autograd.functional.hessian(lambda tt: energy(x, tt, sigma.detach()), t)
        e = energy(x, t, sigma)
        (g,) = torch.autograd.grad(e, t, create_graph=True)
        (g_sigma,) = torch.autograd.grad(g, sigma)
        if not torch.isfinite(hessian) or hessian <= 0:
            return None
        t_star = t.detach() - g.detach() / hessian
        dt_dsigma = -g_sigma / hessian
        residual = t_star - centre
        return 0.5 * float(residual ** 2), float(residual * dt_dsigma)

    draws = []
    for _ in range(args.draws):
        centre = float(torch.empty(1, dtype=dtype).uniform_(-40.0, 40.0, generator=generator))
        inliers = torch.empty(10, dtype=dtype).normal_(centre, 4.0, generator=generator)
        outliers = torch.empty(100, dtype=dtype).uniform_(-40.0, 40.0, generator=generator)
        draws.append((torch.cat([inliers, outliers]), centre))

    failed, losses = 0, []
    start = time.perf_counter()
    for x, centre in draws:
        result = evaluate(x, centre)
        if result is None:
            failed += 1
        else:
            losses.append(result[0])
    seconds = time.perf_counter() - start
    print(json.dumps({"examples_per_s": len(losses) / seconds, "failed": failed,
                      "mean_loss": sum(losses) / max(1, len(losses)), "draws": args.draws,
                      "seconds": seconds, "torch": torch.__version__}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
