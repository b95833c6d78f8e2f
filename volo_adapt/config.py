"""Typed run configuration: dataclasses with a docstring per field, YAML presets, strict validation.

``load_config(path, overrides)`` reads a YAML preset from ``configs/`` (or any file), applies
``key.sub=value`` overrides, and returns a :class:`RunConfig`. Unknown keys, wrong types and
out-of-range values raise :class:`~volo_adapt.errors.ConfigError` naming the dotted key.
The resolved config is written to every run folder and stored inside every checkpoint
(``to_dict`` / ``from_dict`` round-trip exactly).
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from volo_adapt.errors import ConfigError

CONFIG_VERSION = 1
"""Bumped when a change makes older configs/checkpoints unloadable."""

PRESETS_DIR = Path(__file__).resolve().parent.parent / "configs"


@dataclass
class DataConfig:
    """Where the two unpaired domains come from and how they become network tensors."""

    data_a: list[str] = field(default_factory=list)
    """Sources of domain A (the synthetic/source domain). Empty: the built-in synthetic demo set."""
    data_b: list[str] = field(default_factory=list)
    """Sources of domain B (the sensor/target domain). Empty: the built-in synthetic demo set."""
    depth_scale: float = 1000.0
    """Units per metre of integer (16-bit PNG) depth files: 1000 = millimetres, 5000 = TUM RGB-D."""
    near: float = 0.25
    """Smallest representable depth in metres; closer depth is treated as invalid."""
    far: float = 5.0
    """Largest representable depth in metres; farther depth is treated as invalid."""
    depth_gap: float = 0.05
    """Encoded band [0, gap) reserved for invalid depth (see DepthCodec); 0 reproduces the original."""
    image_size: int = 512
    """Side of the square training crop in pixels (must be a multiple of the generator's stride)."""
    batch_size: int = 1
    """Samples per domain per step and per device."""
    num_workers: int = 2
    """DataLoader worker processes per domain."""
    val_fraction: float = 0.2
    """Fraction of each domain held out for validation (the original used an 80/20 split)."""
    seed: int = 10
    """Seed of the train/val split and of augmentation (the original used 10)."""
    hflip: bool = True
    """Random horizontal flip (as in the original)."""
    shift_prob: float = 0.3
    """Probability of the original's shift: zero-pad bottom/right by 10 % of H and 40 % of W, random crop back."""
    resized_crop_prob: float = 0.0
    """Probability of a random resized crop (scale 0.6-1, nearest resampling of depth)."""
    color_jitter: float = 0.0
    """Strength of brightness/contrast/saturation jitter on RGB only (0 = off)."""
    skip_bad: bool = False
    """At start, skip unreadable samples and report them instead of refusing to train."""
    demo_size: int = 96
    """Image side of the generated built-in demo set (when data_a/data_b are empty)."""
    demo_count: int = 400
    """Training samples per domain of the generated built-in demo set."""
    stream_cache_dir: str = ""
    """Streamed (packed / s3://) sources: local cache folder for remote chunks ("" = litdata's default)."""
    stream_cache_size: str = "50GB"
    """Streamed sources: cache budget; older chunks are evicted beyond it, so memory and disk stay bounded."""
    stem_log: bool = False
    """Debugging: append each training batch's sample stems per rank to RUN_DIR/stems/rankR.jsonl."""


@dataclass
class SensorHeadConfig:
    """Sensor-aware generator options, built once around any generator (see ``volo_adapt/models/sensor_head.py``
    and ``docs/sensor-aware.md``). All off = the plain generator (the original VoloGAN / CycleGAN)."""

    residual: bool = False
    """Predict a correction to the input (a zero-initialised head: the untrained generator returns its input)."""
    validity: str = "none"
    """Per-pixel "no return": none (the depth value decides, colour as produced) | depth (the depth value decides,
    invalid pixels exactly 0 in every channel) | threshold (a separate logit, straight-through hard mask) | sampled
    (the logit with learned Gumbel noise)."""
    noise: bool = False
    """Noise inputs (per pixel and per image) and learned per-pixel output noise, as StyleGAN's noise injection."""
    coords: bool = False
    """Pixel-coordinate input channels (x, y, r^2) for position-dependent effects such as vignetting."""
    features: int = 16
    """Width of the backbone's raw output that the sensor head reads."""
    validity_prior: float = 3.0
    """With residual: logit offset +/- prior that reproduces the input's validity at initialisation."""
    reach: float = -1.0
    """How far from the input's valid pixels an output pixel may be valid, as a fraction of the image's longer side
    (new returns only next to surfaces: flying pixels, mixed edges); negative = anywhere."""
    lowpass_scales: list[int] = field(default_factory=list)
    """Low-resolution sensing: factors s (>= 2) of bases "the input at 1/s resolution" that the head blends towards
    per pixel and channel (depth ramps and mixed pixels at edges, colour blur); empty = off."""
    sensing_grids: list[float] = field(default_factory=list)
    """Coarse depth sensing: grid fractions f in (0, 1) of bases "the depth point-sampled on an f-times coarser grid
    and bilinearly upsampled" that the head blends the depth towards per pixel (phone LiDAR/ToF: depth resolution
    over colour resolution after your resizing, e.g. ARKit 256x192 over 640x480 = 0.4); empty = off."""

    @property
    def enabled(self) -> bool:
        """True when any switch is on (the generator is then wrapped)."""
        return (self.residual or self.validity != "none" or self.noise or self.coords or bool(self.lowpass_scales)
                or bool(self.sensing_grids))


@dataclass
class ModelConfig:
    """Which networks, and their sizes."""

    generator: str = "vologan"
    """Generator architecture from the registry: vologan | resnet9."""
    critic: str = "vologan"
    """Critic architecture from the registry: vologan | patchgan."""
    channels: int = 4
    """Image channels in and out (RGB + depth)."""
    gen_base: int = 64
    """Generator base width (the original: 64)."""
    critic_base: int = 64
    """Critic base width (the original: 64)."""
    gen_kwargs: dict = field(default_factory=dict)
    """Extra keyword arguments for the generator constructor (see the registry)."""
    critic_kwargs: dict = field(default_factory=dict)
    """Extra keyword arguments for the critic constructor (see the registry)."""
    critic_highpass: float = 0.0
    """Show each critic its input plus every channel's high-pass residual (x - 3x3 mean) times this gain, where
    sensor noise, quantisation, edge ramps and speckle stand out (volo_adapt/models/critic_view.py); 0 = off."""
    sensor: SensorHeadConfig = field(default_factory=SensorHeadConfig)
    """Sensor-aware generator switches (all off by default: the plain generator)."""


@dataclass
class LossConfig:
    """Loss terms and their weights."""

    adversarial: str = "lsgan"
    """Adversarial loss: lsgan (the original) | hinge | bce."""
    cycle_weight: float = 10.0
    """Lambda of the cycle-consistency loss (the original: 10)."""
    identity_weight: float = 0.5
    """Lambda of the identity loss (the original: 0.5)."""
    ssim_weight: float = 1.0
    """Lambda of the SSIM loss on (real, cycled) (the original: 1)."""
    ssim_kind: str = "global"
    """global (the original: one mean/var/cov per channel over the batch) | windowed (kornia, 11x11)."""
    channel_weights: list[float] = field(default_factory=lambda: [1.0, 1.0, 1.0, 3.0])
    """Per-channel weights of cycle/identity/SSIM losses (depth weighted 3, as in the original)."""
    l1_to_l2_at: float = -1.0
    """Fraction of training after which cycle/identity switch from L1 to L2 (-1 = never)."""
    mask_invalid: bool = False
    """Exclude invalid-depth pixels from the depth channel of cycle/identity losses."""
    geometry_weight: float = 0.0
    """Lambda of the geometry term: depth of each translation vs its own source, in metres, after a 5x5 low-pass,
    on pixels valid in both (a sensor adds noise and drops returns but does not move surfaces; see
    volo_adapt.losses.depth_geometry_loss). 0 = off (the original)."""
    swd_weight: float = 0.0
    """Lambda of the critic-free patch sliced-Wasserstein term between each domain's translations and its real
    images (4x4 patches at scales 1, 2, 4; volo_adapt.losses.patch_sliced_wasserstein). 0 = off (the original)."""
    swd_highpass: bool = False
    """Sliced-Wasserstein term on high-pass residuals (image - 3x3 blur) instead of raw patches: sensor texture
    (noise, blur, compression, tails) without the scene content of the unpaired batch."""
    reconstruction_mask: str = "none"
    """none | kept: cycle terms only over pixels valid in the real image *and* in the intermediate translation
    (a hole the sensor-side generator made need not be inpainted back), identity terms only over pixels valid in
    the real image (every channel, SSIM included). For generators that drop returns (model.sensor.validity)."""
    routing: str = "vologan"
    """Gradient routing: vologan (per-domain totals, one forward pass) | cyclegan (textbook)."""


@dataclass
class OptimConfig:
    """Optimisers and learning-rate schedules."""

    gen_optimizer: str = "nadam"
    """Generator optimiser: nadam (the original) | adam (CycleGAN)."""
    gen_lr: float = 2e-4
    """Generator learning rate."""
    gen_betas: list[float] = field(default_factory=lambda: [0.5, 0.999])
    """Generator (N)Adam betas."""
    critic_optimizer: str = "sgd"
    """Critic optimiser: sgd (with momentum, the original) | adam (CycleGAN)."""
    critic_lr: float = 1e-4
    """Critic learning rate."""
    critic_momentum: float = 0.9
    """SGD momentum of the critic (the original: 0.9)."""
    critic_betas: list[float] = field(default_factory=lambda: [0.5, 0.999])
    """Critic Adam betas (when critic_optimizer is adam)."""
    schedule: str = "warmup_cosine"
    """warmup_cosine (the original: linear warm-up then half-cosine to 0) | linear_decay (CycleGAN) | constant."""
    warmup_epochs: int = 10
    """warmup_cosine: epochs of linear warm-up (the original: 10 of 60)."""
    decay_start_epoch: int = 100
    """linear_decay: epoch at which the linear decay to 0 starts (CycleGAN: 100 of 200)."""
    grad_clip: float = 0.0
    """Clip each network's gradient norm to this value (0 = off)."""
    pool_size: int = 0
    """Image-pool size for critic updates (CycleGAN: 50; the original: 0 = off)."""
    ema_decay: float = 0.0
    """EMA of generator weights (0 = off, e.g. 0.999)."""
    implementation: str = "auto"
    """Optimiser kernels: auto (fused where torch has them: Adam, SGD; else foreach) | fused | foreach | for_loop
    (torch's CPU default). Same update up to float rounding; see volo_adapt/training/step_mechanics.py."""
    critic_warmup: float = 0.0
    """Share of the run (of the time budget, else of the planned batches) at the start during which only the
    critics are trained, on the untouched generators' fakes (0 = off). Useful with model.sensor.residual."""


@dataclass
class TrainConfig:
    """The training loop."""

    max_epochs: int = 60
    """Epochs to train (the original: 60)."""
    max_steps: int = -1
    """Stop after this many training batches (-1 = no limit). Counts batches, not optimiser steps."""
    max_time: str = ""
    """Wall-clock training budget (``10m``, ``1h30m``, ``HH:MM:SS``; "" = none). When set, the run trains until the
    budget is spent (max_epochs no longer limits it) and the learning-rate schedule is planned over the budget:
    schedule position = elapsed training time / budget, stretched onto max_epochs schedule epochs. Elapsed time
    is kept in checkpoints, so a resumed run continues the same budget."""
    precision: str = "32-true"
    """Lightning precision: 32-true | bf16-mixed | 16-mixed | auto (bf16-mixed where the device computes bf16 in
    hardware: CUDA with bf16, CPUs with AVX-512 BF16 or AMX; 32-true elsewhere, where emulated bf16 is far slower).
    The generators' output layers always run in fp32 (depth resolution)."""
    memory_format: str = "auto"
    """Networks and batches in contiguous (NCHW) | channels_last memory | auto (the measured faster one for the
    device; see volo_adapt/training/step_mechanics.py)."""
    cache_weights: bool = True
    """Compute each spectrally normalised weight once per optimiser step (one power iteration per step) instead of
    once per network call (false: torch's default, three power iterations per generator and step)."""
    activation_checkpointing: bool = False
    """Recompute the generators' activations in the backward pass instead of keeping them: much less memory for
    about one extra forward of compute (large images on small GPUs or CPUs). Needs cache_weights."""
    split_backward: bool = True
    """Back-propagate the generators' loss in three independent parts as soon as each is computed (the cycle from
    A with the adversarial term on its fake, the cycle from B, the identity terms) instead of one backward of the
    total: the same gradients, but only one part's activations are held at a time (about a third of the
    generator step's activation memory, at no extra compute). One process only (under DDP: one backward).
    Its generator calls cannot be batched (cycle and identity images are in different parts). Measured on 2 CPU
    cores (benchmarks/results/perf-512): the cyclegan step at 512 px took 0.83x the time and half the peak memory
    of one backward; at 64-128 px it was as fast or up to ~15 % slower (small unbatched calls), so the 64 px demo
    presets turn it off. Not used with activation_checkpointing on spectrally normalised networks (retain_graph
    would keep the recomputed activations; the vologan step at 512 px peaked higher split than in one backward)."""
    batch_calls: bool = True
    """Call a network once on several inputs stacked along the batch (each critic on real and pooled fake images;
    without split_backward also each generator's cycle reconstruction and identity image) instead of once per
    input: the same results (every normalisation in our networks is per sample), fewer and larger kernels.
    false: one call per input."""
    compile: bool = False
    """torch.compile the four networks (in place; checkpoints unchanged). Compiling takes minutes on a CPU."""
    accelerator: str = "auto"
    """cpu | gpu | auto."""
    devices: str = "auto"
    """Devices per node (Lightning syntax: auto, 1, 2, "0,1")."""
    num_nodes: int = 1
    """Machines taking part (each with `devices` devices); launched by torchrun or SLURM, see the README."""
    strategy: str = "auto"
    """auto | ddp (becomes ddp_find_unused_parameters_true where the networks need it) | another Lightning strategy
    name. fsdp is refused (README, "Training at scale")."""
    seed: int = 10
    """Global seed for weights and training randomness (the original: 10)."""
    deterministic: bool = False
    """Ask torch for deterministic algorithms (slower)."""
    log_every_n_steps: int = 10
    """Logging interval in batches."""
    sample_every_n_steps: int = 200
    """Write a sample grid (real/fake/cycled, RGB and colour-mapped depth) every N batches (0 = off)."""
    checkpoint_every_n_steps: int = 500
    """Keep a periodic checkpoint every N batches (last.ckpt is always refreshed)."""
    val_every_n_steps: int = 0
    """Run the validation metrics every N batches (0 = end of each epoch only)."""
    val_batches: int = 8
    """Validation batches per run."""
    logger: str = "tensorboard"
    """tensorboard | csv | none."""
    max_bad_steps: int = 5
    """Consecutive non-finite steps after which training stops with a checkpoint of the last good state."""


@dataclass
class RunConfig:
    """Everything a training run needs. Saved as ``config.yaml`` in the run folder and in every checkpoint."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    version: int = CONFIG_VERSION
    """Config schema version."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @staticmethod
    def from_dict(d: dict[str, Any], where: str = "config") -> RunConfig:
        cfg = _build(RunConfig, d, prefix="")
        if cfg.version != CONFIG_VERSION:
            raise ConfigError(
                f"{where}: config version {cfg.version} is not supported (this volo-adapt reads {CONFIG_VERSION})"
            )
        validate(cfg)
        return cfg

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)


FSDP_REFUSAL = (
    "fsdp is not supported, use ddp: Lightning runs FSDP on CUDA only, the manual optimisation (two optimisers, "
    "critics frozen by toggling requires_grad, EMA copies) is untested under sharding, and every network fits one "
    "GPU (vologan: 45 M parameters in all)"
)
"""Why ``train.strategy=fsdp`` is refused (the README section "Training at scale" has the details)."""

_CHOICES: dict[str, tuple[str, ...]] = {
    "model.generator": ("vologan", "resnet9"),
    "model.critic": ("vologan", "patchgan"),
    "model.sensor.validity": ("none", "depth", "threshold", "sampled"),
    "loss.adversarial": ("lsgan", "hinge", "bce"),
    "loss.ssim_kind": ("global", "windowed"),
    "loss.reconstruction_mask": ("none", "kept"),
    "loss.routing": ("vologan", "cyclegan"),
    "optim.gen_optimizer": ("nadam", "adam"),
    "optim.critic_optimizer": ("sgd", "adam"),
    "optim.schedule": ("warmup_cosine", "linear_decay", "constant"),
    "optim.implementation": ("auto", "fused", "foreach", "for_loop"),
    "train.precision": ("32-true", "32", "bf16-mixed", "16-mixed", "auto"),
    "train.memory_format": ("auto", "contiguous", "channels_last"),
    "train.logger": ("tensorboard", "csv", "none"),
}


def validate(cfg: RunConfig) -> None:
    """Range and choice checks; raises ConfigError naming the dotted key."""
    for key, choices in _CHOICES.items():
        *sections, name = key.split(".")
        node: Any = cfg
        for section in sections:
            node = getattr(node, section)
        value = getattr(node, name)
        if value not in choices:
            raise ConfigError(f"{key}: must be one of {', '.join(choices)}; got {value!r}")

    def need(ok: bool, key: str, msg: str) -> None:
        if not ok:
            raise ConfigError(f"{key}: {msg}")

    d, m, lo, o, t = cfg.data, cfg.model, cfg.loss, cfg.optim, cfg.train
    need(d.depth_scale > 0, "data.depth_scale", f"must be > 0, got {d.depth_scale}")
    need(d.near >= 0, "data.near", f"must be >= 0 metres, got {d.near}")
    need(d.far > d.near, "data.far", f"must be greater than data.near ({d.near}), got {d.far}")
    need(0 <= d.depth_gap < 0.5, "data.depth_gap", f"must be in [0, 0.5), got {d.depth_gap}")
    need(d.image_size >= 16, "data.image_size", f"must be >= 16 pixels, got {d.image_size}")
    need(d.batch_size >= 1, "data.batch_size", f"must be >= 1, got {d.batch_size}")
    need(d.num_workers >= 0, "data.num_workers", f"must be >= 0, got {d.num_workers}")
    need(0 <= d.val_fraction < 1, "data.val_fraction", f"must be in [0, 1), got {d.val_fraction}")
    for k in ("shift_prob", "resized_crop_prob"):
        v = getattr(d, k)
        need(0 <= v <= 1, f"data.{k}", f"must be a probability in [0, 1], got {v}")
    need(d.color_jitter >= 0, "data.color_jitter", f"must be >= 0, got {d.color_jitter}")
    need(d.demo_size >= 16, "data.demo_size", f"must be >= 16, got {d.demo_size}")
    need(d.demo_count >= 2, "data.demo_count", f"must be >= 2, got {d.demo_count}")
    need(m.channels >= 1, "model.channels", f"must be >= 1, got {m.channels}")
    need(m.gen_base >= 1, "model.gen_base", f"must be >= 1, got {m.gen_base}")
    need(m.critic_base >= 1, "model.critic_base", f"must be >= 1, got {m.critic_base}")
    need(m.critic_highpass >= 0, "model.critic_highpass", f"must be >= 0, got {m.critic_highpass}")
    need(m.sensor.features >= 1, "model.sensor.features", f"must be >= 1, got {m.sensor.features}")
    need(
        all(isinstance(f, int) and not isinstance(f, bool) and f >= 2 for f in m.sensor.lowpass_scales),
        "model.sensor.lowpass_scales",
        f"must be a list of integers >= 2, got {m.sensor.lowpass_scales}",
    )
    need(
        all(isinstance(f, int | float) and not isinstance(f, bool) and 0 < f < 1 for f in m.sensor.sensing_grids),
        "model.sensor.sensing_grids",
        f"must be a list of fractions in (0, 1), got {m.sensor.sensing_grids}",
    )
    need(m.sensor.validity_prior > 0, "model.sensor.validity_prior", f"must be > 0, got {m.sensor.validity_prior}")
    for k in ("cycle_weight", "identity_weight", "ssim_weight", "geometry_weight", "swd_weight"):
        need(getattr(lo, k) >= 0, f"loss.{k}", f"must be >= 0, got {getattr(lo, k)}")
    # names both keys: the user may have changed either (--set model.channels=1 or loss.channel_weights=[1])
    need(len(lo.channel_weights) == m.channels, "loss.channel_weights",
         f"needs one weight per channel of model.channels={m.channels}, got {len(lo.channel_weights)} weights "
         f"{lo.channel_weights}")
    need(lo.l1_to_l2_at == -1 or 0 <= lo.l1_to_l2_at <= 1, "loss.l1_to_l2_at",
         f"must be -1 or in [0, 1], got {lo.l1_to_l2_at}")
    need(o.gen_lr > 0, "optim.gen_lr", f"must be > 0, got {o.gen_lr}")
    need(o.critic_lr > 0, "optim.critic_lr", f"must be > 0, got {o.critic_lr}")
    need(len(o.gen_betas) == 2, "optim.gen_betas", "needs two values")
    need(len(o.critic_betas) == 2, "optim.critic_betas", "needs two values")
    need(0 <= o.critic_momentum < 1, "optim.critic_momentum", f"must be in [0, 1), got {o.critic_momentum}")
    need(o.warmup_epochs >= 0, "optim.warmup_epochs", f"must be >= 0, got {o.warmup_epochs}")
    need(o.decay_start_epoch >= 0, "optim.decay_start_epoch", f"must be >= 0, got {o.decay_start_epoch}")
    need(o.grad_clip >= 0, "optim.grad_clip", f"must be >= 0, got {o.grad_clip}")
    need(o.pool_size >= 0, "optim.pool_size", f"must be >= 0, got {o.pool_size}")
    need(0 <= o.ema_decay < 1, "optim.ema_decay", f"must be in [0, 1), got {o.ema_decay}")
    need(0 <= o.critic_warmup < 1, "optim.critic_warmup", f"must be in [0, 1), got {o.critic_warmup}")
    need(t.max_epochs >= 1, "train.max_epochs", f"must be >= 1, got {t.max_epochs}")
    need(t.num_nodes >= 1, "train.num_nodes", f"must be >= 1, got {t.num_nodes}")
    need(not str(t.strategy).startswith("fsdp"), "train.strategy", FSDP_REFUSAL)
    need(t.max_steps == -1 or t.max_steps >= 1, "train.max_steps", f"must be -1 or >= 1, got {t.max_steps}")
    if t.max_time:
        from volo_adapt.duration import parse_duration

        parse_duration(t.max_time, "train.max_time")
    need(t.log_every_n_steps >= 1, "train.log_every_n_steps", f"must be >= 1, got {t.log_every_n_steps}")
    for k in ("sample_every_n_steps", "checkpoint_every_n_steps", "val_every_n_steps"):
        need(getattr(t, k) >= 0, f"train.{k}", f"must be >= 0, got {getattr(t, k)}")
    need(t.val_batches >= 1, "train.val_batches", f"must be >= 1, got {t.val_batches}")
    need(t.max_bad_steps >= 1, "train.max_bad_steps", f"must be >= 1, got {t.max_bad_steps}")
    need(t.cache_weights or not t.activation_checkpointing, "train.activation_checkpointing",
         "needs train.cache_weights=true (recomputing a spectrally normalised layer would rerun its power iteration)")


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp))


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Check ``value`` against the annotation ``tp`` (int accepted for float); raise ConfigError naming ``key``."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        errors = []
        for arg in typing.get_args(tp):
            if arg is type(None) and value is None:
                return None
            try:
                return _coerce(value, arg, key)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(f"{key}: expected {tp}, got {value!r}")
    if origin is list:
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{key}: expected a list, got {type(value).__name__} {value!r}")
        (item_tp,) = typing.get_args(tp) or (Any,)
        return [_coerce(v, item_tp, f"{key}[{i}]") for i, v in enumerate(value)]
    if tp is dict or origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {type(value).__name__} {value!r}")
        return dict(value)
    if tp is Any:
        return value
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{key}: expected true/false, got {value!r}")
    if tp is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            try:
                number = float(value)
            except OverflowError:  # an int beyond float range
                number = math.inf
            if not math.isfinite(number):  # .nan/.inf would reach losses, learning rates and the depth codec
                raise ConfigError(f"{key}: must be a finite number, got {value!r}")
            return number
        raise ConfigError(f"{key}: expected a number, got {type(value).__name__} {value!r}")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(f"{key}: expected an integer, got {type(value).__name__} {value!r}")
    if tp is str:
        if isinstance(value, str):
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        raise ConfigError(f"{key}: expected a string, got {type(value).__name__} {value!r}")
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, prefix=f"{key}.")
    raise AssertionError(f"unsupported config type {_type_name(tp)} at {key}")


def _build(cls: type, d: Any, prefix: str) -> Any:
    if d is None:
        d = {}
    if not isinstance(d, dict):
        raise ConfigError(f"{prefix.rstrip('.') or 'config'}: expected a mapping, got {type(d).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    for k in d:
        if k not in names:
            close = [n for n in names if n.startswith(str(k)[:3])]
            hint = f" (did you mean {', '.join(sorted(close))}?)" if close else ""
            shown = k if isinstance(k, str) and k.isprintable() else repr(k)  # keep the message on one line
            raise ConfigError(f"{prefix}{shown}: unknown key{hint}")
    kwargs = {k: _coerce(v, hints[k], f"{prefix}{k}") for k, v in d.items()}
    return cls(**kwargs)


def _parse_override(item: str) -> tuple[list[str], Any]:
    if "=" not in item:
        raise ConfigError(f"--set {item!r}: expected key=value, e.g. loss.cycle_weight=5")
    key, raw = item.split("=", 1)
    key = key.strip()
    if not key:
        raise ConfigError(f"--set {item!r}: empty key")
    try:
        value = yaml.safe_load(raw) if raw.strip() != "" else ""
    except Exception:
        # not a YAML value: taken as the plain string, which the key's type check then judges. PyYAML's
        # constructors raise more than YAMLError on odd input: ValueError (2020-13-45, !!int abc, 5000 digits),
        # AttributeError (!!timestamp 1), KeyError (!!bool foo), RecursionError (brackets nested thousands deep)
        value = raw
    return key.split("."), value


def apply_overrides(d: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``a.b=value`` strings (values parsed as YAML scalars/lists) to a nested dict, in place."""
    for item in overrides:
        parts, value = _parse_override(item)
        node = d
        for p in parts[:-1]:
            nxt = node.get(p)
            if nxt is None:
                nxt = node[p] = {}
            if not isinstance(nxt, dict):
                raise ConfigError(f"--set {item!r}: {p} is not a section")
            node = nxt
        node[parts[-1]] = value
    return d


def resolve_preset(name_or_path: str | Path) -> Path:
    """A file path, or a preset name from ``configs/`` (``demo`` -> ``configs/demo.yaml``)."""
    p = Path(name_or_path)
    if p.is_file():
        return p
    candidate = PRESETS_DIR / f"{name_or_path}.yaml"
    if candidate.is_file():
        return candidate
    presets = sorted(x.stem for x in PRESETS_DIR.glob("*.yaml")) if PRESETS_DIR.is_dir() else []
    raise ConfigError(f"--config {name_or_path}: no such file or preset (presets: {', '.join(presets) or 'none'})")


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> RunConfig:
    """Read a YAML config (or the defaults when ``path`` is None), apply overrides, validate."""
    d: dict[str, Any] = {}
    where = "config"
    if path is not None:
        p = resolve_preset(path)
        where = str(p)
        try:
            loaded = yaml.safe_load(p.read_text(encoding="utf-8"))
        except Exception as e:
            # OSError, UnicodeDecodeError (not UTF-8 text), YAMLError, and what PyYAML's constructors raise on odd
            # values: ValueError (2020-13-45, !!int abc), AttributeError (!!timestamp 1), KeyError (!!bool foo),
            # RecursionError (brackets nested thousands deep)
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise ConfigError(f"{p}: not a readable YAML file ({first})") from e
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"{p}: expected a mapping at the top level")
        d = loaded or {}
    apply_overrides(d, overrides or [])
    return RunConfig.from_dict(d, where=where)
