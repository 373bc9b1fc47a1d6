"""The acceptance test of the long-range tables' instrument (not a table of the paper): the SLC v2
acceptance test (ablations/acceptance.py, the same three checks) on SLC v2's long-range variant
(`long`: 2-frame events), probed at 128 frames with the long-range tables' recipe and clips
(`LONG_RANGE_SETS`).

Tables 2, 4c, 4d and 8 read linear probes of 128-frame views on these clips. Their rows differ in
how the encoder was pre-trained; this test says whether that probe can tell two pre-trainings apart
when one must be better (the oracle decoder mask, which reconstructs SLC's event tokens, against the
random one, RGB targets, 15% budget), pre-trained at 128 frames as Table 2's 128-frame row. Its
floors are the long-range tables' own (the same runs). Pre-trained at 32 frames (stride 4) instead,
the encoders learned the events but the 128-frame probe did not read them (README, "The long-range
acceptance test at the cpu profile").
Run: `make reproduce-table-acceptance-long PROFILE=cpu`.
"""
from ablations.acceptance import CLAIMS, COLUMN, ORACLE, RANDOM, STAGE
from ablations.spec import (DECODER_STRATEGIES, LONG_RANGE_RECIPE, LONG_RANGE_SETS, RECONSTRUCTION_TARGETS, GridTable,
                            as_probe, clip_sets, probe_floors, restaged)

_RECIPE = "Tables 2, 4c, 4d and 8"
_AT_128 = clip_sets(128, 1, ("",))  # the probe's clips (a fine-tuning's overrides, moved by as_probe)
_PRETRAIN_AT_128 = clip_sets(128, 1, ("pretrained.",))  # Table 2's 128-frame pre-training view
# The profile's long-range overrides: those of the probe's clips apply to the rows and the floors, those
# of the pre-training (`features.pretrained`) to the rows only (a floor does not pre-train).
_PROBE_SETS = {profile: as_probe(sets) for profile, sets in LONG_RANGE_SETS.items()}
_CLIPS = {profile: tuple(s for s in sets if not s.startswith(STAGE)) for profile, sets in _PROBE_SETS.items()}
_PRETRAINING = {profile: tuple(s for s in sets if s.startswith(STAGE)) for profile, sets in _PROBE_SETS.items()}

TABLE = GridTable(
    id="acceptance-long",
    title=("The long-range instrument: oracle vs random decoder mask (RGB targets, 15%) at 128 frames on the "
           "long-range variant, under the linear probe"),
    experiment="probe",
    rows={row: restaged(DECODER_STRATEGIES[row] + RECONSTRUCTION_TARGETS["RGB pixels"] + _PRETRAIN_AT_128, STAGE)
          + as_probe(_AT_128) for row in (ORACLE, RANDOM)},
    columns={COLUMN: ()},
    profile_columns={profile: {COLUMN: sets} for profile, sets in _PRETRAINING.items()},
    profile_sets=_CLIPS,
    # Five paired seeds, fixed before seeds 3 and 4 ran: at three (+6.8 [-0.0, +13.6], README) the
    # interval's width, not its sign, decided; the verdict is read once, at five.
    seeds=(0, 1, 2, 3, 4),
    metric="top1",
    metric_label="probe top-1 (%)",
    floors=probe_floors(as_probe(_AT_128)),
    token_losses=STAGE,
    skip_rows={"paper": (ORACLE,)},  # real data has no event tokens
    pass_fail="Long-range acceptance test",
    profile_notes={"cpu": (f"At the cpu profile the recipe is the long-range tables' ({_RECIPE}): "
                           f"{LONG_RANGE_RECIPE}; the rows pre-train at 128 frames, as Table 2's 128-frame row "
                           "does.")},
    claims=CLAIMS,
)
