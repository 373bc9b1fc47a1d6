"""Training: optimiser, generic loop with checkpoints and resume, pre-training and fine-tuning stages."""
