//! `--set` overrides of the large engine size shared by the SGDA benchmark
//! (`benches/sgda.rs`) and the peer comparison (`examples/sgda_step.rs`,
//! size `engine-large`), so both time the same problem. Included with
//! `#[path]`; not a bench target of its own.

/// Widths 256, patch side 8 (n = 64), D hidden 512, batch 256; direct
/// output, and the coherence bound relaxed so 256 atoms in R^64 can be
/// drawn.
pub const LARGE: &[&str] = &[
    "target.widths=256",
    "target.latent_dim=256",
    "target.active=8",
    "target.patch_side=8",
    "target.output=\"direct\"",
    "target.max_coherence=0.9",
    "target.calibration_patches=2000",
    "learner.d_hidden=512",
    "training.batch=256",
];
