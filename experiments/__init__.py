"""The Fiddle experiment registry: base experiments, profiles and command-line overrides."""
from experiments.registry import EXPERIMENTS, PROFILES, get, register, set_data_root

__all__ = ["EXPERIMENTS", "PROFILES", "get", "register", "set_data_root"]
