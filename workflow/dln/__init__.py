"""Deep linear networks with a width-1 layer: balanced starts, gradient descent and flow, theory.

Chen, Lin & Zhang, "On Non-local Convergence Analysis of Deep Linear Networks" (ICML 2022).
"""

__version__ = "0.2.0"
