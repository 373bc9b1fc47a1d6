"""LVMAE: long-video masked autoencoders with adaptive decoder masking.

The library is config-free: every class and function takes explicit arguments. Experiments
(`experiments/`) configure it with Fiddle; ablations (`ablations/`) declare the paper's tables.
"""
