"""Figure 7: float32 against float64 from the same orthogonal starts. float32's round-off seeds
p_1 at ~1e-7 instead of ~1e-16, so the run leaves saddle k sooner (left: loss of the main seed's
starts; right: stuck lengths per k, seeds as points, with the escape model's prediction)."""

import matplotlib.pyplot as plt

from dln.figures import plotting

sm = snakemake  # noqa: F821
plotting.setup(sm)
opts = plotting.options(sm)
tab = plotting.table(sm)
ds = plotting.load_runs(sm)
prec = tab[plotting.in_study(tab, "precision") & (tab["solver"] == "gd")]
fig, (ax, bx) = plt.subplots(1, 2, figsize=(7.6, 3.2))
styles = {"float64": "-", "float32": "--"}
ks = sorted(int(k) for k in prec["k"].dropna().unique())
colors = plotting.k_colors(ks) if ks else {}
if ds is not None:
    for k in ks:
        for dtype in ("float64", "float32"):
            sel = plotting.runs(ds, k=k, dtype=dtype)
            if sel.sizes["run"]:
                run = sel.isel(run=0)
                ax.plot(
                    run["step"],
                    run["loss"],
                    color=colors[k],
                    ls=styles[dtype],
                    lw=1.2,
                    label=f"k = {k}" if dtype == "float64" else None,
                )
    ax.plot([], [], "k-", label="float64")
    ax.plot([], [], "k--", label="float32")
    plotting.level_lines(ax, plotting.levels(ds))
    ax.legend(fontsize=6, ncol=2, loc="upper right", bbox_to_anchor=(1.0, 0.8))
else:
    plotting.note(ax, "no runs of the precision study at figures.main_seed")
ax.set_xlabel("GD iteration")
ax.set_ylabel("loss")
ax.set_title(f"(a) seed {opts['main_seed']}")
esc = prec[prec["stuck_steps"].notna()]
for dtype, offset in (("float64", -0.12), ("float32", 0.12)):
    g = esc[esc["dtype"] == dtype]
    color = "C0" if dtype == "float64" else "C3"
    bx.scatter(
        g["k"] + offset,
        g["stuck_steps"],
        marker="o" if dtype == "float64" else "s",
        s=16,
        color=color,
        label=f"{dtype} (measured)",
        zorder=3,
    )
    model = g.groupby("k")["escape_model_steps"].median()
    bx.scatter(
        model.index + offset,
        model.values,
        marker="_",
        s=200,
        lw=1.5,
        color=color,
        label=f"{dtype} (escape model)",
    )
if len(esc):
    bx.set_yscale("log")
    bx.set_xticks(ks)
    fig.legend(*bx.get_legend_handles_labels(), loc="outside lower center", ncol=4, fontsize=6)
else:
    plotting.note(bx, "no run of the precision study left its saddle")
bx.set_xlabel("saddle index k")
bx.set_ylabel("iterations stuck at $L_k$")
bx.set_title("(b) stuck length")
plotting.save(fig, sm.output, opts["dpi"])
