"""Exporting models for where they run: C arrays for microcontroller firmware, with their metadata."""
