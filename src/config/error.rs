//! Every way a configuration can be rejected, one variant per rule. Each
//! message is one line naming the field, the value and what is allowed.

/// A rejected configuration (the CLI prints it and exits with code 2).
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ConfigError {
    #[error("cannot read config {path}: {reason}")]
    Read { path: String, reason: String },
    #[error("config {path}: {reason}")]
    Parse { path: String, reason: String },
    #[error("--set {value:?}: expected section.field=value")]
    SetSyntax { value: String },
    #[error("--set {key}: {reason}")]
    SetValue { key: String, reason: String },
    #[error("{field} = {value}: must be a positive integer (>= 1)")]
    NotPositive { field: &'static str, value: i64 },
    #[error("{field} = {value}: must be >= 0")]
    NegativeSeed { field: &'static str, value: i64 },
    #[error("target.levels = {value}: must be in 1..=8")]
    TooManyLevels { value: usize },
    #[error("target.fanout = {value}: must be 1, 2 or 4")]
    Fanout { value: i64 },
    #[error("target.root_patches = {value}: with fanout 4 it must be a perfect square (1, 4, 9, ...)")]
    RootNotSquare { value: usize },
    #[error("target.channels = {value}: must be in 1..=4")]
    Channels { value: usize },
    #[error("target.output = {value:?}: must be \"pyramid\" or \"direct\"")]
    OutputMode { value: String },
    #[error("target.fanout = {value}: output \"pyramid\" with levels >= 2 needs fanout 2 or 4")]
    PyramidFanout { value: usize },
    #[error("target.patch_side = {value}: output \"pyramid\" needs an even patch side")]
    PyramidOddSide { value: usize },
    #[error(
        "target: the top level would hold {values} values per sample; at most {max} are allowed (lower levels, patch_side or root_patches)"
    )]
    TooLarge { values: u128, max: usize },
    #[error("{field} has {len} entries: give one value or one per level ({levels})")]
    PerLevelLength {
        field: &'static str,
        len: usize,
        levels: usize,
    },
    #[error("target.widths[{level}] = {value}: must be >= 1")]
    WidthZero { level: usize, value: i64 },
    #[error("target.active[{level}] = {value}: must be in 1..={width} (the level's width)")]
    ActiveRange { level: usize, value: i64, width: usize },
    #[error("target.max_coherence = {value}: must be in (0, 1)")]
    MaxCoherence { value: f64 },
    #[error(
        "target.widths[{level}] = {width} exceeds the {dim}-dim subspace its atoms live in, and target.max_coherence = {max_coherence} is below the Welch bound {welch:.4}; raise max_coherence above it or lower the width"
    )]
    WidthExceedsSubspace {
        level: usize,
        width: usize,
        dim: usize,
        max_coherence: f64,
        welch: f64,
    },
    #[error("target.noise_sigma = {value}: must be finite and >= 0")]
    NoiseSigma { value: f64 },
    #[error("target.lambda = {value}: must be in [0, 1]")]
    Lambda { value: f64 },
    #[error("target.calibration_patches = {value}: must be >= 100")]
    CalibrationTooSmall { value: usize },
    // Learner and training rules follow (config/learner.rs, config/training.rs).
    #[error("learner.generator = {value:?}: must be \"fsr\", \"mlp\" or \"linear\"")]
    GeneratorKind { value: String },
    #[error("learner.kappa = {value}: must be in [1, 16]")]
    Kappa { value: f64 },
    #[error("learner.latent_dim = {value}: must be >= 0 (0 = automatic)")]
    LatentDim { value: i64 },
    #[error("learner.hidden[{index}] = {value}: must be >= 1")]
    HiddenWidth { index: usize, value: i64 },
    #[error("learner.leak = {value}: must be in [0, 1)")]
    Leak { value: f64 },
    #[error("{field} = {value:?}: must be relu, leaky_relu, identity, tanh, sigmoid or quadratic")]
    ActivationName { field: &'static str, value: String },
    #[error("learner.noise_dim = {value}: must be >= 0")]
    NoiseDim { value: i64 },
    #[error("learner.discriminator = {value:?}: must be \"auto\", \"patch\", \"mlp\" or \"quadratic\"")]
    DiscKind { value: String },
    #[error(
        "learner.discriminator = {discriminator:?} does not fit learner.generator = {generator:?}: fsr needs patch, mlp and linear need mlp or quadratic"
    )]
    DiscMismatch {
        generator: String,
        discriminator: String,
    },
    #[error("learner.d_input = {value:?}: must be \"auto\", \"raw\", \"pixels\" or \"laplacian\"")]
    DInputName { value: String },
    #[error(
        "learner.d_input = \"laplacian\" needs pyramid data, but target.output = \"direct\" (use \"auto\" or \"pixels\")"
    )]
    DInputDirect,
    #[error(
        "learner.d_input = \"laplacian\" with training.levels = \"top-only\": that ablation's D reads the top level's pixels alone (use \"auto\" or \"pixels\")"
    )]
    DInputTopOnly,
    #[error("learner.init_bias = {value}: must be finite")]
    InitBias { value: f64 },
    #[error("training.loss = {value:?}: must be \"logistic\", \"wgan\" or \"hinge\"")]
    LossName { value: String },
    #[error("{field} = {value}: must be finite and >= 0")]
    Gamma { field: &'static str, value: f64 },
    #[error("{field} = []: give one number, or one per level (the last holds for deeper levels)")]
    GammaEmpty { field: &'static str },
    #[error("training.gamma.switch = {value}: must be >= 0 (the iteration at which gamma.final takes over)")]
    GammaSwitch { value: i64 },
    #[error("{field} = {value}: must be in (0, 1) (the |cos| above which two units count as duplicates)")]
    RestartCos { field: &'static str, value: f64 },
    #[error("training.restarts.late_at = {value}: must be >= 0 (the iteration of the late check; 0 = none)")]
    RestartLateAt { value: i64 },
    #[error("training.restarts.until = {value}: must be >= 0 (the last iteration checked; 0 = no restarts)")]
    RestartUntil { value: i64 },
    #[error("training.restarts.atom = {value:?}: must be \"random\" or \"residual\"")]
    RestartAtom { value: String },
    #[error(
        "training.refit.at[{index}] = {value}: must be in (0, 1) (a fraction of the run before whose iteration the maps are refitted)"
    )]
    RefitAt { index: usize, value: f64 },
    #[error(
        "training.refit.on = {value}: must be in (0, 1) (the fraction of a reading's largest value above which it counts as on)"
    )]
    RefitOn { value: f64 },
    #[error("training.refit.samples = {value}: must be >= 1 (real samples per refit)")]
    RefitSamples { value: i64 },
    #[error(
        "training.d_chunks = {value}: must be at most training.batch = {batch} (each chunk holds >= 1 sample)"
    )]
    DChunks { value: usize, batch: usize },
    #[error("training.weight_decay = {value}: must be finite and >= 0")]
    WeightDecay { value: f64 },
    #[error("training.optimizer = {value:?}: must be \"sgd\", \"momentum\" or \"adam\"")]
    OptimizerName { value: String },
    #[error("{field} = {value}: must be in [0, 1)")]
    Beta { field: &'static str, value: f64 },
    #[error("training.eps = {value}: must be finite and > 0")]
    Eps { value: f64 },
    #[error("{field} = {value}: must be finite and > 0")]
    LearningRate { field: &'static str, value: f64 },
    #[error("training.schedule = {value:?}: must be \"constant\", \"step\" or \"linear\"")]
    ScheduleName { value: String },
    #[error("training.ema = {value}: must be in [0, 1) (0 = no parameter average)")]
    Ema { value: f64 },
    #[error("training.final_fraction = {value}: must be in [0, 1]")]
    FinalFraction { value: f64 },
    #[error("training.step_factor = {value}: must be in (0, 1]")]
    StepFactor { value: f64 },
    #[error("training.update = {value:?}: must be \"alternating\" or \"simultaneous\"")]
    UpdateName { value: String },
    #[error("training.level_grads = {value:?}: must be \"all\", \"pixels\" or \"own\"")]
    LevelGradsName { value: String },
    #[error(
        "training.level_grads = {value:?} with training.levels = {levels:?}: levels without their own discriminator would get no gradient; use level_grads = \"all\" or levels = \"joint\" / \"progressive\""
    )]
    LevelGradsSchedule { value: String, levels: String },
    #[error("training.train_size = {value}: must be >= 0 (0 = fresh samples)")]
    TrainSize { value: i64 },
    #[error("training.levels = {value:?}: must be \"joint\", \"progressive\", \"top-only\" or \"top-pair\"")]
    LevelScheduleName { value: String },
    #[error("training.switch_on[{index}] = {value}: must be >= 0")]
    SwitchOnNegative { index: usize, value: i64 },
    #[error("training.switch_on[0] = {value}: level 1 must switch on at iteration 0")]
    SwitchOnFirst { value: i64 },
    #[error("training.switch_on[{index}] = {value}: must be >= the previous level's {previous}")]
    SwitchOnOrder { index: usize, value: i64, previous: i64 },
    #[error("training.level_weights[{index}] = {value}: must be finite and >= 0")]
    LevelWeight { index: usize, value: f64 },
    #[error("training.level_weights: all zero; at least one level must have a positive weight")]
    LevelWeightsZero,
    #[error("{field}[{index}] = {value}: must be finite and >= 0")]
    LevelGamma {
        field: &'static str,
        index: usize,
        value: f64,
    },
    #[error(transparent)]
    Data(#[from] crate::data::DataError),
    #[error(
        "data.levels = {data} but target.levels = {target}: the [target] section sizes the learner, so the two must agree"
    )]
    DataLevels { data: usize, target: usize },
}
