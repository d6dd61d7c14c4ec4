"""The kernel-connection layer: one bridge (comm) per kernel, over ZMQ or a gateway's websocket."""
