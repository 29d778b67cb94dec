"""Everything that trains or measures, around the `keras_wsoftmax` package.

Run from a clone of the repository: ``python -m experiments.<name> --help``.
Studies (`alpha_grid`, `width`, `overfitting`, `unseen_classes`,
`noisy_labels`, `subcenter_accuracy`, `partial_fc_accuracy`, `protocol`,
`regime_map`, `factors`, `glyphs`: each a `runner.Study`), the
one-seed showcases (`demo`, `features_2d`) and cost benchmarks
(`loss_speed`, `train_step`, `correctness`, `determinism_cost`,
`class_parallel`) are thin entry points over the shared modules: `data`,
`models`, `training`, `geometry`, `losses` (the loss registry), `peers`,
`runner`, `comparison`, `statistics`, `reporting` and `cli`. `docs/architecture.md` says what may
import what.
"""
