"""Distillation: losses registered by name, the training loop and the Distiller."""
