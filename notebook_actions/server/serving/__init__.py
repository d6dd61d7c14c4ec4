"""Served notebooks: a pool of primed kernels each, healed after a restart."""
