"""Reaching a device: one Channel per transport (ssh, adb, the host itself), shared by the runners and deploy."""
