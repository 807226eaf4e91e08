"""Figure 7: float32 against float64 from the same orthogonal starts. float32's round-off seeds
p_1 at ~1e-7 instead of ~1e-16, so the run leaves saddle k sooner (left: loss of one start;
right: stuck lengths per k, seeds as points, with the escape model's prediction)."""

import matplotlib.pyplot as plt

from dln import plotting

sm = snakemake  # noqa: F821
plotting.setup(sm)
ds = plotting.load(sm.input.dataset)
table = plotting.summary(sm.input.summary)
prec = table[table["studies"].str.contains("precision") & (table["method"] == "gd")]
fig, (ax, bx) = plt.subplots(1, 2, figsize=(7.2, 3.0))
styles = {"float64": "-", "float32": "--"}
ks = sorted(prec["k"].unique())
colors = plotting.k_colors(ks) if ks else {}
for k in ks:
    for dtype in ("float64", "float32"):
        sel = plotting.runs(ds, study="precision", k=k, dtype=dtype, seed=sm.params.seed)
        if sel.sizes["run"]:
            run = sel.isel(run=0)
            ax.plot(run["step"], run["loss"], color=colors[k], ls=styles[dtype], lw=1.2,
                    label=f"k = {k}" if dtype == "float64" else None)
ax.plot([], [], "k-", label="float64")
ax.plot([], [], "k--", label="float32")
plotting.level_lines(ax, ds["critical_level"].values)
ax.set_xlabel("GD iteration")
ax.set_ylabel("loss")
ax.set_title(f"(a) seed {sm.params.seed}")
ax.legend(fontsize=6, ncol=2, loc="center right")
esc = prec[prec["stuck_steps"] > 0]
for dtype, offset in (("float64", -0.12), ("float32", 0.12)):
    g = esc[esc["dtype"] == dtype]
    bx.scatter(g["k"] + offset, g["stuck_steps"], marker="o" if dtype == "float64" else "s",
               s=16, color="C0" if dtype == "float64" else "C3", label=f"{dtype} (measured)", zorder=3)
    model = g.groupby("k")["predicted_stuck_steps_band"].median()
    bx.scatter(model.index + offset, model.values, marker="_", s=200, lw=1.5,
               color="C0" if dtype == "float64" else "C3", label=f"{dtype} (model)")
if len(esc):
    bx.set_yscale("log")
    bx.set_xticks(ks)
else:
    plotting.note(bx, "no run of the precision study left its saddle")
bx.set_xlabel("saddle index k")
bx.set_ylabel("iterations stuck at $L_k$")
bx.set_title("(b) stuck length")
bx.legend(fontsize=6)
plotting.save(fig, sm.output, sm.params.dpi)
