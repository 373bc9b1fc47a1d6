"""Table 5: quantizers (LFQ and FSQ at several codebook sizes): tokenizer quality and downstream top-1.

Each row trains its tokenizer (no scorer) and uses its latents as MAE targets (random decoder
masking, 15%). FVD needs a feature network file (`--set pretrained.tokens.tokenizer.fvd_file=...`);
without one the column is n/a: nothing is downloaded and no value is made up.
"""
from ablations.spec import DECODER_STRATEGIES, RECONSTRUCTION_TARGETS, GridTable, Measure

_TOKENIZER = "pretrained.tokens.tokenizer"
_LFQ = RECONSTRUCTION_TARGETS["MAGVIT (LFQ)"]
_FSQ = RECONSTRUCTION_TARGETS["FSQ-MagViT"]


def _lfq(bits: int) -> tuple[str, ...]:
  return _LFQ + (f"{_TOKENIZER}.quantizer.bits={bits}", f"{_TOKENIZER}.autoencoder.latent_dim={bits}")


def _fsq(levels: tuple[int, ...]) -> tuple[str, ...]:
  return _FSQ + (f"{_TOKENIZER}.quantizer.levels={levels}", f"{_TOKENIZER}.autoencoder.latent_dim={len(levels)}")


TABLE = GridTable(
    id="5",
    title="Quantizers: LFQ vs FSQ codebooks (tokenizer PSNR, codebook usage, FVD; downstream top-1)",
    experiment="finetune",
    rows={
        "LFQ 2^10": _lfq(10),
        "LFQ 2^14": _lfq(14),
        "LFQ 2^18": _lfq(18),
        "FSQ 8-5-5-5 (1,000)": _fsq((8, 5, 5, 5)),
        "FSQ 8-8-8-5-5-5 (64,000)": _fsq((8, 8, 8, 5, 5, 5)),
        "FSQ 8^6 (2^18)": _fsq((8, 8, 8, 8, 8, 8)),
    },
    columns={"": DECODER_STRATEGIES["random (15%)"]},
    metrics={
        "PSNR (dB)": Measure(_TOKENIZER, "psnr", 1.0),
        "codebook usage (%)": Measure(_TOKENIZER, "codebook_usage", 100.0),
        "FVD": Measure(_TOKENIZER, "fvd", 1.0),
        "top-1 (%)": Measure("", "top1", 100.0),
    },
    metric_label="tokenizer metrics on the eval split; top-1 of the fine-tuned MAE",
    seeds=(0, 1, 2),
    claim="FSQ 18-bit best PSNR and top-1",
)
