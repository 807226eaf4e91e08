"""The solvers: the GD kernel (C, with a NumPy reference), the gradient flow, one run's settings and simulation."""
