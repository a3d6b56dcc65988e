"""PAD — Pre-train, Align, and Disentangle: the library behind the Snakemake workflow."""

__version__ = "0.1.0"
