"""The Jupyter server extension: HTTP endpoints for the exported actions of running kernels."""
