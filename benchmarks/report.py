#!/usr/bin/env python3
"""Runs the ceres_wiberg benchmarks and turns their JSON into tables and plots.

Two sub-commands (Python 3 standard library only; plots need gnuplot):

  report.py run --build-dir BUILD [--full] [--only NAME ...]
      Runs the benchmark programs of BUILD/benchmarks with the standard
      commands, writing benchmarks/results/<name>.json, and records each exact
      command line, start and end time in benchmarks/results/commands.json.
      --full adds the 256 x 256 and 512 x 512 Fields-of-Experts cases
      (about 25 minutes on 2 cores) as results/foe_large.json, and the
      bundle-adjustment scenes of 1.5e4, 4.0e4 and 1.09e5 inner variables
      (several minutes) as results/bundle_adjustment.json.

  report.py report
      Reads benchmarks/results/*.json and writes the log-log plots
      (results/*.png, through gnuplot) and the tables, targets, machine, date
      and commands between the markers <!-- report:begin --> and
      <!-- report:end --> of benchmarks/README.md. The text around the
      markers is left alone.
"""

import argparse
import datetime
import json
import math
import os
import platform
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results")
README = os.path.join(HERE, "README.md")
BEGIN = "<!-- report:begin -->"
END = "<!-- report:end -->"

# name -> (program, extra arguments). Output flags are added by `run`.
RUNS = {
    "dense_pose": ("dense_pose_benchmark", []),
    "tiny_problems": ("tiny_problems_benchmark", []),
    "foe": ("foe_denoising_benchmark", []),
    # No re-solve differences at 256 and 512: at 512 they alone take about an
    # hour (2 columns x 2 warm Ceres re-solves); the 64 and 128 rows keep them.
    "foe_large": ("foe_denoising_benchmark", ["--foe_sides=256,512", "--foe_fd_columns=0"]),
    "robust_mean": ("robust_mean_benchmark", []),
    "bundle_adjustment": ("bundle_adjustment_benchmark", ["--ba_max_iterations=500"]),
}


# ---------------------------------------------------------------------------
# run

def command_for(build_dir, name):
    program, extra = RUNS[name]
    out = os.path.join(RESULTS, name + ".json")
    return [os.path.join(build_dir, "benchmarks", program)] + extra + [
        "--benchmark_out=" + out, "--benchmark_out_format=json"]


def git_description():
    """HEAD of the repository and whether the library's sources differ from it."""
    repo = os.path.dirname(HERE)
    try:
        head = subprocess.run(["git", "-C", repo, "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", repo, "status", "--porcelain", "--",
                                "internal", "include"],
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + (" (library sources modified)" if dirty else " (library sources clean)")


def load_commands():
    path = os.path.join(RESULTS, "commands.json")
    if os.path.exists(path):
        with open(path) as f:
            return json.load(f)
    return {}


def run(args):
    os.makedirs(RESULTS, exist_ok=True)
    names = args.only or (["dense_pose", "tiny_problems", "foe", "robust_mean"] +
                          (["foe_large", "bundle_adjustment"] if args.full else []))
    commands = load_commands()
    for name in names:
        command = command_for(os.path.abspath(args.build_dir), name)
        print("running:", " ".join(command), flush=True)
        # The source the run starts from (the tree may move while it runs).
        source = git_description()
        start = datetime.datetime.now().astimezone()
        subprocess.run(command, check=True)
        end = datetime.datetime.now().astimezone()
        commands[name] = {
            "command": " ".join(command),
            "start": start.isoformat(timespec="seconds"),
            "end": end.isoformat(timespec="seconds"),
            "source": source,
        }
        with open(os.path.join(RESULTS, "commands.json"), "w") as f:
            json.dump(commands, f, indent=2)
            f.write("\n")


# ---------------------------------------------------------------------------
# report: loading

def load(name):
    path = os.path.join(RESULTS, name + ".json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def runs(data):
    """Iteration runs (no aggregates), without errors."""
    if data is None:
        return []
    return [b for b in data["benchmarks"]
            if b.get("run_type", "iteration") == "iteration" and not b.get("error_occurred")]


def family(name):
    """'DensePose/EXACT/DENSE/n_w:50/iterations:10/manual_time' -> 'DensePose/EXACT/DENSE'."""
    parts = [p for p in name.split("/")
             if ":" not in p and p != "manual_time"]
    return "/".join(parts)


# ---------------------------------------------------------------------------
# report: formatting

def fmt(value, digits=3):
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    if value != value:  # NaN
        return "nan"
    if value == 0:
        return "0"
    if value < 0:
        return "n/a"
    magnitude = abs(value)
    if magnitude >= 1e5 or magnitude < 1e-3:
        return "%.*e" % (digits - 1, value)
    return "%.*g" % (digits, value)


def table(header, rows):
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join("---:" for _ in header) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def loglog_slope(xs, ys):
    points = [(math.log(x), math.log(y)) for x, y in zip(xs, ys) if x > 0 and y > 0]
    if len(points) < 2:
        return None
    mx = sum(p[0] for p in points) / len(points)
    my = sum(p[1] for p in points) / len(points)
    sxx = sum((p[0] - mx) ** 2 for p in points)
    sxy = sum((p[0] - mx) * (p[1] - my) for p in points)
    return sxy / sxx if sxx > 0 else None


# ---------------------------------------------------------------------------
# report: plots

def quote(text):
    """A gnuplot single-quoted string."""
    return "'" + text.replace("'", "''") + "'"


def plot(name, title, xlabel, ylabel, series, notes=()):
    """series: list of (label, [(x, y), ...]). Writes results/<name>.png."""
    gnuplot = shutil.which("gnuplot")
    if gnuplot is None:
        print("gnuplot not found: skipping", name, file=sys.stderr)
        return None
    series = [(label, [(x, y) for x, y in points if x > 0 and y > 0])
              for label, points in series]
    series = [(label, points) for label, points in series if points]
    if not series:
        return None
    data_path = os.path.join(RESULTS, name + ".dat")
    with open(data_path, "w") as f:
        for label, points in series:
            f.write("# %s\n" % label)
            for x, y in points:
                f.write("%.9g %.9g\n" % (x, y))
            f.write("\n\n")
    png = os.path.join(RESULTS, name + ".png")
    script = [
        "set terminal pngcairo size 900,600 noenhanced" if has_cairo(gnuplot)
        else "set terminal png size 900,600 noenhanced",
        "set output %s" % quote(png),
        "set title %s" % quote(title),
        "set xlabel %s" % quote(xlabel),
        "set ylabel %s" % quote(ylabel),
        "set logscale xy",
        "set grid",
        "set key left top",
    ]
    for i, note in enumerate(notes):
        script.append("set label %d %s at graph 0.02, graph %.2f" % (
            i + 1, quote(note), 0.70 - 0.05 * i))
    plots = ["%s index %d using 1:2 with linespoints title %s" % (quote(data_path), i,
                                                                  quote(label))
             for i, (label, _) in enumerate(series)]
    script.append("plot " + ", ".join(plots))
    try:
        subprocess.run([gnuplot], input="\n".join(script) + "\n", text=True, check=True)
    finally:
        os.remove(data_path)
    return os.path.basename(png)


_CAIRO = None


def has_cairo(gnuplot):
    global _CAIRO
    if _CAIRO is None:
        out = subprocess.run([gnuplot, "-e", "set terminal"], capture_output=True, text=True)
        _CAIRO = "pngcairo" in (out.stdout + out.stderr)
    return _CAIRO


# ---------------------------------------------------------------------------
# report: sections

def machine_section(datasets):
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    lines = ["### Machine and runs", "",
             "- Report generated %s on %s (%s), nproc = %d, CPU: %s." % (
                 datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
                 platform.node(), platform.platform(), os.cpu_count() or 0, cpu)]
    commands = load_commands()
    for name, data in datasets:
        if data is None:
            continue
        context = data.get("context", {})
        record = commands.get(name, {})
        lines.append(
            "- `results/%s.json`: run %s, %s CPUs at %s MHz, load average %s, "
            "Google Benchmark library build: %s (the library's own build type; "
            "the benchmarks and ceres_wiberg were built Release)." % (
                name, context.get("date", "?"), context.get("num_cpus", "?"),
                context.get("mhz_per_cpu", "?"),
                ", ".join("%.2f" % v for v in context.get("load_avg", [])) or "?",
                context.get("library_build_type", "?")))
        if record:
            lines.append("  Command: `%s` (%s to %s; source %s)." % (
                record["command"], record.get("start", "?"), record.get("end", "?"),
                record.get("source", "?")))
            if record.get("note"):
                lines.append("  Note: %s" % record["note"])
    return "\n".join(lines)


def dense_section(data):
    rows_by_family = {}
    for b in runs(data):
        rows_by_family.setdefault(family(b["name"]), []).append(b)
    out = ["### Dense family: pose-like energy, n_y = 60", ""]
    header = ["n_w", "solve ms", "grad ms", "jacobian ms", "FD s", "FD polished s",
              "grad/solve", "FD/grad", "FD polished/grad", "max_rel_err",
              "FD plain rel err", "mem solve MB", "mem grad MB", "mem jac MB", "mem ratio"]
    for fam, rows in rows_by_family.items():
        rows.sort(key=lambda b: b["n_w"])
        out.append("**%s** (solve: %s LM iterations on average)" % (
            fam, fmt(rows[0].get("solve_iterations"))))
        out.append("")
        body = []
        for b in rows:
            body.append([
                "%d" % b["n_w"],
                fmt(1e3 * b["solve_s"]), fmt(1e3 * b["grad_s"]), fmt(1e3 * b["jacobian_s"]),
                fmt(b["fd_s"]) + (" (extrap.)" if b.get("fd_extrapolated") else ""),
                fmt(b["fd_polished_s"]) + " (extrap.)",
                fmt(b["grad_over_solve"]), fmt(b["fd_over_grad"]),
                fmt(b["fd_polished_over_grad"]), fmt(b["max_rel_err"]),
                fmt(b["fd_plain_rel_err"]), fmt(b["mem_solve_MB"]), fmt(b["mem_grad_MB"]),
                fmt(b["mem_jacobian_MB"]), fmt(b["mem_ratio"])])
        out.append(table(header, body))
        out.append("")
    main = sorted(rows_by_family.get("DensePose/EXACT/DENSE", []), key=lambda b: b["n_w"])
    if main:
        png = plot("dense_pose_times", "Dense pose-like energy (n_y = 60), EXACT/DENSE",
                   "n_w (learnable parameters)", "seconds", [
                       ("inner solve", [(b["n_w"], b["solve_s"]) for b in main]),
                       ("reverse mode (Linearise + VJP)", [(b["n_w"], b["grad_s"]) for b in main]),
                       ("forward mode (Linearise + Jacobian)",
                        [(b["n_w"], b["jacobian_s"]) for b in main]),
                       ("FD, Ceres re-solves", [(b["n_w"], b["fd_s"]) for b in main]),
                       ("FD, polished re-solves", [(b["n_w"], b["fd_polished_s"]) for b in main]),
                   ])
        if png:
            out.append("![dense family times](results/%s)" % png)
            out.append("")
    return "\n".join(out)


def foe_section(datasets):
    rows = []
    for data in datasets:
        rows.extend(runs(data))
    rows.sort(key=lambda b: b["side"])
    out = ["### Sparse family: Fields-of-Experts denoising, n_w = 80", ""]
    if not rows:
        return "\n".join(out + ["(no results)"])
    header = ["side", "n_y", "LM iters", "solve s", "s / LM iter", "grad s (Linearise + VJP)",
              "jacobian s", "GN grad s", "grad/solve", "grad/LM iter", "FD s (extrap.)",
              "FD/grad", "FD cold est./grad", "max_rel_err (fixed point)",
              "timed at solution", "PSNR noisy -> restored"]
    body = []
    for b in rows:
        body.append([
            "%d" % b["side"], "%d" % b["n_y"], fmt(b["solve_iterations"]), fmt(b["solve_s"]),
            fmt(b["solve_per_iteration_s"]),
            "%s (%s + %s)" % (fmt(b["grad_s"]), fmt(b["linearise_s"]), fmt(b["vjp_s"])),
            fmt(b["jacobian_s"]), fmt(b["grad_gn_s"]), fmt(b["grad_over_solve"]),
            fmt(b["grad_over_iteration"]), fmt(b["fd_s"]), fmt(b["fd_over_grad"]),
            fmt(b["fd_cold_over_grad"]), fmt(b["max_rel_err"]),
            fmt(b["max_rel_err_at_solution"]),
            "%.2f -> %.2f dB" % (b["psnr_noisy"], b["psnr_restored"])])
    out.append(table(header, body))
    out.append("")
    header = ["side", "problem RSS MB", "mem solve MB", "mem grad MB", "mem jacobian MB",
              "mem GN grad MB", "mem ratio (grad/solve)", "plain FD rel err",
              "FD re-solve LM iters"]
    body = []
    for b in rows:
        body.append(["%d" % b["side"], fmt(b["rss_problem_MB"]), fmt(b["mem_solve_MB"]),
                     fmt(b["mem_grad_MB"]), fmt(b["mem_jacobian_MB"]),
                     fmt(b["mem_grad_gn_MB"]), fmt(b["mem_ratio"]),
                     fmt(b["fd_plain_rel_err"]), fmt(b["fd_resolve_iterations"])])
    out.append(table(header, body))
    out.append("")
    pixels = [b["n_y"] for b in rows]
    slope = loglog_slope(pixels, [b["grad_s"] for b in rows])
    slope_solve_iter = loglog_slope(pixels, [b["solve_per_iteration_s"] for b in rows])
    if slope is not None:
        out.append("Log-log slope of the reverse-mode time against the number of pixels "
                   "(least squares over %d sizes): **%.2f** (1 = linear); of one LM "
                   "iteration of the inner solve: %.2f." % (len(rows), slope, slope_solve_iter))
        out.append("")
    png = plot("foe_times", "Fields-of-Experts denoising (n_w = 80)", "pixels (inner variables)",
               "seconds", [
                   ("inner solve", [(b["n_y"], b["solve_s"]) for b in rows]),
                   ("one LM iteration", [(b["n_y"], b["solve_per_iteration_s"]) for b in rows]),
                   ("reverse mode, EXACT", [(b["n_y"], b["grad_s"]) for b in rows]),
                   ("forward mode, EXACT", [(b["n_y"], b["jacobian_s"]) for b in rows]),
                   ("reverse mode, GAUSS_NEWTON", [(b["n_y"], b["grad_gn_s"]) for b in rows]),
                   ("FD, Ceres re-solves (extrap.)", [(b["n_y"], b["fd_s"]) for b in rows]),
               ], notes=["reverse-mode slope %.2f" % slope] if slope is not None else ())
    if png:
        out.append("![FoE times](results/%s)" % png)
        out.append("")
    png = plot("foe_memory", "Fields-of-Experts denoising: peak memory added by each phase",
               "pixels (inner variables)", "MB", [
                   ("inner solve", [(b["n_y"], b["mem_solve_MB"]) for b in rows]),
                   ("reverse mode, EXACT", [(b["n_y"], b["mem_grad_MB"]) for b in rows]),
                   ("forward mode, EXACT", [(b["n_y"], b["mem_jacobian_MB"]) for b in rows]),
                   ("reverse mode, GAUSS_NEWTON", [(b["n_y"], b["mem_grad_gn_MB"]) for b in rows]),
               ])
    if png:
        out.append("![FoE memory](results/%s)" % png)
        out.append("")
    return "\n".join(out)


def tiny_section(data):
    rows = runs(data)
    out = ["### Many tiny problems: tracker fusion, n_y = 2, n_w = 18, 200 examples", ""]
    header = ["case", "solve us", "derivative us", "FD us", "solve ex/s",
              "solve+grad ex/s", "solve+jacobian ex/s", "solve+FD ex/s",
              "BilevelExample ex/s", "NEWTON ex/s", "grad/solve", "FD/grad", "max_rel_err",
              "plain FD rel err", "mem solve MB", "mem grad MB"]
    body = []
    # The full cases; TrackerFusionNewton (the NEWTON mode alone, for
    # callgrind) has only its throughput, given below the table.
    newton_alone = [b for b in rows if "solve_us" not in b]
    for b in rows:
        if "solve_us" not in b:
            continue
        body.append([family(b["name"]), fmt(b["solve_us"]), fmt(b["grad_only_us"]),
                     fmt(b["fd_only_us"]), fmt(b["solve_examples_per_s"]),
                     fmt(b["grad_examples_per_s"]), fmt(b["forward_examples_per_s"]),
                     fmt(b["fd_examples_per_s"]), fmt(b["bilevel_example_examples_per_s"]),
                     fmt(b.get("newton_example_examples_per_s", -1)),
                     fmt(b["grad_over_solve"]), fmt(b["fd_over_grad"]), fmt(b["max_rel_err"]),
                     fmt(b["fd_plain_rel_err"]),
                     fmt(b["mem_solve_MB"]), fmt(b["mem_grad_MB"])])
    out.append(table(header, body))
    out.append("")
    for b in newton_alone:
        out.append("`%s` (BilevelExample with NEWTON, nothing else timed): %s examples/s." %
                   (b["name"], fmt(b["newton_example_examples_per_s"])))
        out.append("")
    return "\n".join(out)


def targets_section(dense, foe_sets, tiny):
    out = ["### Targets", ""]
    rows = []
    foe_rows = sorted([b for d in foe_sets for b in runs(d)], key=lambda b: b["side"])
    big = [b for b in foe_rows if b["side"] == 512]
    if big:
        b = big[0]
        rows.append(["reverse mode <= 0.3 x inner solve, 512 x 512",
                     "grad/solve = %s (%s s / %s s)" % (fmt(b["grad_over_solve"]),
                                                       fmt(b["grad_s"]), fmt(b["solve_s"])),
                     "met" if b["grad_over_solve"] <= 0.3 else "MISSED"])
    else:
        rows.append(["reverse mode <= 0.3 x inner solve, 512 x 512", "not run", "-"])
    if len(foe_rows) >= 2:
        slope = loglog_slope([b["n_y"] for b in foe_rows], [b["grad_s"] for b in foe_rows])
        rows.append(["reverse-mode cost about linear in pixels",
                     "log-log slope %.2f over sides %s" % (
                         slope, ", ".join("%d" % b["side"] for b in foe_rows)),
                     "met" if 0.8 <= slope <= 1.25 else "MISSED"])
    main = [b for b in runs(dense)
            if family(b["name"]) == "DensePose/EXACT/DENSE" and b["n_w"] == 50]
    if main:
        b = main[0]
        rows.append(["n_w = 50: >= 100 x faster than central FD (Ceres re-solves)",
                     "FD/grad = %s" % fmt(b["fd_over_grad"]),
                     "met" if b["fd_over_grad"] >= 100 else "MISSED"])
        rows.append(["n_w = 50: >= 100 x faster than central FD (polished re-solves)",
                     "FD/grad = %s" % fmt(b["fd_polished_over_grad"]),
                     "met" if b["fd_polished_over_grad"] >= 100 else "MISSED"])
        rows.append(["n_w = 50: agreement <= 1e-6 relative",
                     "max_rel_err = %s over %d columns" % (fmt(b["max_rel_err"]),
                                                            b["checked_columns"]),
                     "met" if b["max_rel_err"] <= 1e-6 else "MISSED"])
    # Tiny problems are left out: their increments are a few hundred KB for
    # the whole batch, dominated by allocator reuse (see the README).
    ratios = []
    for name, data in (("dense", dense),):
        for b in runs(data):
            if b.get("mem_solve_MB", 0) > 0:
                ratios.append((b["mem_ratio"], family(b["name"]) + (
                    "/n_w:%d" % b["n_w"] if "n_w" in b else "")))
    for b in foe_rows:
        ratios.append((b["mem_ratio"], "FoE/side:%d" % b["side"]))
    if ratios:
        worst = max(ratios)
        foe_worst = max([r for r in ratios if r[1].startswith("FoE")], default=None)
        detail = "worst %s (%s)" % (fmt(worst[0]), worst[1])
        if foe_worst:
            detail += "; FoE worst %s (%s)" % (fmt(foe_worst[0]), foe_worst[1])
        rows.append(["peak memory of the derivative <= 2 x the inner solve's", detail,
                     "met" if worst[0] <= 2 else "MISSED"])
    out.append(table(["target", "measured", "status"], rows))
    out.append("")
    return "\n".join(out)


def robust_mean_section(data):
    out = ["### Many tiny problems: the robust mean, 110 samples, n_y = 1, 2,000 draws", "",
           "Inner solve included; the PyTorch peer is timed by `robust_mean_peer.sh` "
           "(below the tables).", ""]
    header = ["case", "derivative evaluations / s", "failed", "mean loss"]
    body = [[family(b["name"]), fmt(b["examples_per_s"]), fmt(b["failed"]), fmt(b["mean_loss"])]
            for b in runs(data)]
    out.append(table(header, body))
    out.append("")
    return "\n".join(out)


def bundle_adjustment_section(data):
    out = ["### Bundle adjustment at scale (opt-in: `report.py run --only bundle_adjustment`)", "",
           "Ceres LM (`SPARSE_SCHUR`, one thread) to convergence or its iteration limit; "
           "s / LM iter = solve s / LM iters. Gradients: reverse mode, lambda = 0.1, "
           "`HESSIAN_DIAGONAL`, final Newton step (two points: H built and factorised twice), "
           "with the derivative's `AUTOMATIC` solver (`SPARSE_SCHUR` where the column says "
           "so: the points eliminated, the reduced camera matrix factorised; else the full "
           "sparse factorisation) and CHOLMOD (`SUITE_SPARSE`, the default); `EIGEN_SPARSE` "
           "(Eigen's factorisations) in the same run for comparison. EXACT: the reprojection errors' "
           "curvature in closed form, derived by hand (`SnavelyCostFunction`); autodiff "
           "curvature: the same energy with `AutoDiffSecondOrderCostFunction` (second-order "
           "forward-mode autodiff of the same functor); differenced: with "
           "`AutoDiffCostFunction` (curvature by central differences of its Jacobians); "
           "both CHOLMOD.", ""]
    header = ["n_y", "n_w", "observations", "LM iters", "converged", "solve s", "s / LM iter",
              "EXACT grad s (H build, factorisation)", "EXACT ok",
              "autodiff-curvature EXACT grad s (H build)",
              "differenced EXACT grad s (H build)", "differenced grad / LM iter",
              "GN grad s (factorisation)",
              "GN ok", "EXACT grad / LM iter", "GN grad / LM iter",
              "EIGEN_SPARSE: EXACT grad s (factorisation)", "EIGEN_SPARSE: GN grad s",
              "derivative's solver (eliminated coordinates)",
              "mem solve MB", "mem EXACT MB", "mem GN MB", "peak RSS MB"]
    body = []
    for b in runs(data):
        factorisation_gn = b.get("linearise_factorisation_gn_s")
        gn = fmt(b["grad_gn_s"]) + (" (%s)" % fmt(factorisation_gn)
                                    if factorisation_gn is not None else "")
        hessian = b.get("linearise_hessian_s")
        exact = ("%s (%s, %s)" % (fmt(b["grad_s"]), fmt(hessian),
                                  fmt(b["linearise_factorisation_s"]))
                 if hessian is not None else
                 "%s (-, %s)" % (fmt(b["grad_s"]), fmt(b["linearise_factorisation_s"])))
        eigen = ("%s (%s)" % (fmt(b["grad_s_eigen"]), fmt(b["linearise_factorisation_s_eigen"]))
                 if "grad_s_eigen" in b else "-")
        body.append([fmt(b["n_y"]), fmt(b["n_w"]), fmt(b["observations"]),
                     fmt(b["solve_iterations"]), "yes" if b["solve_converged"] else "no",
                     fmt(b["solve_s"]), fmt(b["solve_per_iteration_s"]), exact,
                     "yes" if b["exact_ok"] else "no",
                     ("%s (%s)" % (fmt(b["grad_autodiff_s"]),
                                   fmt(b["linearise_hessian_autodiff_s"]))
                      if "grad_autodiff_s" in b else "-"),
                     ("%s (%s)" % (fmt(b["grad_differenced_s"]),
                                   fmt(b["linearise_hessian_differenced_s"]))
                      if "grad_differenced_s" in b else "-"),
                     fmt(b.get("grad_differenced_over_iteration")), gn,
                     "yes" if b["gn_ok"] else "no", fmt(b["grad_over_iteration"]),
                     fmt(b["grad_gn_over_iteration"]), eigen, fmt(b.get("grad_gn_s_eigen")),
                     ("SPARSE_SCHUR (%s)" % fmt(b["eliminated_parameters"])
                      if b.get("schur") else "SPARSE"),
                     fmt(b["mem_solve_MB"]), fmt(b["mem_grad_MB"]), fmt(b["mem_grad_gn_MB"]),
                     fmt(b["peak_rss_MB"])])
    out.append(table(header, body))
    out.append("")
    return "\n".join(out)


def report(args):
    dense = load("dense_pose")
    tiny = load("tiny_problems")
    foe = load("foe")
    foe_large = load("foe_large")
    robust_mean = load("robust_mean")
    bundle_adjustment = load("bundle_adjustment")
    sections = [
        targets_section(dense, [foe, foe_large], tiny),
        dense_section(dense) if dense else "### Dense family\n\n(no results)",
        foe_section([foe, foe_large]),
        tiny_section(tiny) if tiny else "### Many tiny problems\n\n(no results)",
        robust_mean_section(robust_mean) if robust_mean else "### Robust mean\n\n(no results)",
        (bundle_adjustment_section(bundle_adjustment) if bundle_adjustment
         else "### Bundle adjustment at scale\n\n(no results)"),
        machine_section([("dense_pose", dense), ("tiny_problems", tiny), ("foe", foe),
                         ("foe_large", foe_large), ("robust_mean", robust_mean),
                         ("bundle_adjustment", bundle_adjustment)]),
    ]
    generated = "\n\n".join(s.rstrip() for s in sections)
    if os.path.exists(README):
        with open(README) as f:
            text = f.read()
    else:
        text = "# Benchmarks\n\n%s\n%s\n" % (BEGIN, END)
    if BEGIN not in text or END not in text:
        text = text.rstrip() + "\n\n%s\n%s\n" % (BEGIN, END)
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    text = head + BEGIN + "\n" + generated + "\n" + END + tail
    with open(README, "w") as f:
        f.write(text)
    print("wrote", README)


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    run_parser = sub.add_parser("run", help="run the benchmarks")
    run_parser.add_argument("--build-dir", required=True)
    run_parser.add_argument("--full", action="store_true",
                            help="also the 256 and 512 FoE cases (about 25 minutes)")
    run_parser.add_argument("--only", nargs="*", choices=sorted(RUNS))
    sub.add_parser("report", help="write plots and README tables")
    args = parser.parse_args()
    if args.command == "run":
        run(args)
    else:
        report(args)


if __name__ == "__main__":
    main()
