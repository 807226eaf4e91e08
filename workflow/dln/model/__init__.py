"""The model: the problem (Phi, widths), balanced and Gaussian starts, the theory's predictions."""
