"""Analyses on trained models: embedding-space discrepancy (Kendall's tau) and statistics over seeds and users."""
