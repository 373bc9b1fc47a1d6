"""The decoder strategies, one module each (`none`, `random`, `uniform`, `running_cell`, `adaptive`,
`flow`, `everest`, `oracle`): each module's `STRATEGY` is a `base.Strategy` holding the strategy's
selection, its score source, its validation and its options. `scored` holds the selection that the
score-based ones share. The registry (name -> strategy) is lvmae.masking.decoder.
"""
