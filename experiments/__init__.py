"""The Fiddle experiment registry: base experiments, profiles and command-line overrides."""
from experiments.registry import EXPERIMENTS, PROFILES, get, register

__all__ = ["EXPERIMENTS", "PROFILES", "get", "register"]
