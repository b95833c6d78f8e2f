"""Validation of a :class:`~volo_adapt.config.RunConfig`: choices, ranges and cross-field rules, one section at a time.

:func:`validate` runs once, where a config is built (``RunConfig.from_dict``, hence ``load_config`` and
``with_overrides``); the config is frozen afterwards. Every refusal is a one-line
:class:`~volo_adapt.errors.ConfigError` that starts with the dotted key.

The accepted names of each choice come from the module that implements them (the generator and critic registry,
the losses, the schedules, ...), so a new architecture or loss is accepted by the config as soon as it is
registered; those modules import torch (and the training package Lightning), so they are imported here only when
a config is validated.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from volo_adapt.errors import ConfigError

if TYPE_CHECKING:
    from volo_adapt.config import DataConfig, LossConfig, ModelConfig, OptimConfig, RunConfig, TrainConfig

FSDP_REFUSAL = (
    "fsdp is not supported, use ddp: Lightning runs FSDP on CUDA only, the manual optimisation (two optimisers, "
    "critics frozen by toggling requires_grad, EMA copies) is untested under sharding, and every network fits one "
    "GPU (vologan: 45 M parameters in all)"
)
"""Why ``train.strategy=fsdp`` is refused (the README section "Training at scale" has the details)."""


def choices() -> dict[str, tuple[str, ...]]:
    """Each choice key of the config -> its accepted names, as the owning modules list them."""
    from volo_adapt.hardware import TRAIN_PRECISIONS
    from volo_adapt.losses import ADVERSARIAL_KINDS, GEOMETRY_REGIONS, RECONSTRUCTION_MASKS, ROUTINGS, SSIM_KINDS
    from volo_adapt.models.registry import list_critics, list_generators
    from volo_adapt.models.sensor_head import (
        COLOUR_MODES,
        DROP_MODES,
        NEW_RETURN_MODES,
        PINHOLE_FILL_MODES,
        PINHOLE_WHERE_MODES,
        RING_DEPTH_MODES,
        VALIDITY_MODES,
    )
    from volo_adapt.training.domain_births import BIRTH_RING_MODES
    from volo_adapt.training.domain_pinholes import PINHOLE_MODES
    from volo_adapt.training.loggers import LOGGERS
    from volo_adapt.training.schedules import SCHEDULES
    from volo_adapt.training.step_mechanics import (
        CRITIC_OPTIMIZERS,
        GEN_OPTIMIZERS,
        MEMORY_FORMATS,
        OPTIMIZER_IMPLEMENTATIONS,
    )
    from volo_adapt.training.target_grid import NATIVE_GRID_MODES

    return {
        "model.generator": tuple(list_generators()),
        "model.critic": tuple(list_critics()),
        "model.sensor.validity": VALIDITY_MODES,
        "model.sensor.colour": COLOUR_MODES,
        "model.sensor.new_returns": NEW_RETURN_MODES,
        "model.sensor.drops": DROP_MODES,
        "model.sensor.native_grid": NATIVE_GRID_MODES,
        "model.sensor.pinholes": PINHOLE_MODES,
        "model.sensor.birth_rings": BIRTH_RING_MODES,
        "model.sensor.ring_depth": RING_DEPTH_MODES,
        "model.sensor.pinhole_fill": PINHOLE_FILL_MODES,
        "model.sensor.pinhole_where": PINHOLE_WHERE_MODES,
        "loss.adversarial": ADVERSARIAL_KINDS,
        "loss.ssim_kind": SSIM_KINDS,
        "loss.reconstruction_mask": RECONSTRUCTION_MASKS,
        "loss.geometry_region": (*GEOMETRY_REGIONS, "auto"),
        "loss.routing": ROUTINGS,
        "optim.gen_optimizer": GEN_OPTIMIZERS,
        "optim.critic_optimizer": CRITIC_OPTIMIZERS,
        "optim.schedule": SCHEDULES,
        "optim.implementation": OPTIMIZER_IMPLEMENTATIONS,
        "train.precision": TRAIN_PRECISIONS,
        "train.memory_format": MEMORY_FORMATS,
        "train.logger": LOGGERS,
    }


def _need(ok: bool, key: str, msg: str) -> None:
    if not ok:
        raise ConfigError(f"{key}: {msg}")


def _need_int_list(key: str, values: list[Any], minimum: int, unit: str = "") -> None:
    _need(all(isinstance(v, int) and not isinstance(v, bool) and v >= minimum for v in values), key,
          f"must be a list of integers >= {minimum}{unit}, got {values}")


def _check_choices(cfg: RunConfig) -> None:
    for key, names in choices().items():
        node: Any = cfg
        for part in key.split("."):
            node = getattr(node, part)
        _need(node in names, key, f"must be one of {', '.join(names)}; got {node!r}")


def _check_data(d: DataConfig) -> None:
    _need(d.depth_scale > 0, "data.depth_scale", f"must be > 0, got {d.depth_scale}")
    _need(d.near >= 0, "data.near", f"must be >= 0 metres, got {d.near}")
    _need(d.far > d.near, "data.far", f"must be greater than data.near ({d.near}), got {d.far}")
    _need(0 <= d.depth_gap < 0.5, "data.depth_gap", f"must be in [0, 0.5), got {d.depth_gap}")
    _need(d.image_size >= 16, "data.image_size", f"must be >= 16 pixels, got {d.image_size}")
    _need(d.batch_size >= 1, "data.batch_size", f"must be >= 1, got {d.batch_size}")
    _need(d.num_workers >= 0, "data.num_workers", f"must be >= 0, got {d.num_workers}")
    _need(0 <= d.val_fraction < 1, "data.val_fraction", f"must be in [0, 1), got {d.val_fraction}")
    for k in ("shift_prob", "resized_crop_prob"):
        v = getattr(d, k)
        _need(0 <= v <= 1, f"data.{k}", f"must be a probability in [0, 1], got {v}")
    _need(d.color_jitter >= 0, "data.color_jitter", f"must be >= 0, got {d.color_jitter}")
    _need(d.demo_size >= 16, "data.demo_size", f"must be >= 16, got {d.demo_size}")
    _need(d.demo_count >= 2, "data.demo_count", f"must be >= 2, got {d.demo_count}")


def _check_model(m: ModelConfig) -> None:
    _need(m.channels >= 1, "model.channels", f"must be >= 1, got {m.channels}")
    _need(m.gen_base >= 1, "model.gen_base", f"must be >= 1, got {m.gen_base}")
    _need(m.critic_base >= 1, "model.critic_base", f"must be >= 1, got {m.critic_base}")
    _need(m.critic_highpass >= 0, "model.critic_highpass", f"must be >= 0, got {m.critic_highpass}")
    s = m.sensor
    _need(s.features >= 1, "model.sensor.features", f"must be >= 1, got {s.features}")
    _need_int_list("model.sensor.lowpass_scales", s.lowpass_scales, 2)
    _need_int_list("model.sensor.resample_factors", s.resample_factors, 2)
    _need_int_list("model.sensor.fill_radii", s.fill_radii, 1, " (pixels)")
    _need(s.new_returns == "ramp" or (s.validity == "depth" and s.residual and s.reach >= 0),
          "model.sensor.new_returns", "anchored needs model.sensor.validity=depth, residual=true and reach >= 0")
    _need(s.birth_prior >= 0, "model.sensor.birth_prior", f"must be >= 0, got {s.birth_prior}")
    _need(s.drops == "none" or s.new_returns == "anchored", "model.sensor.drops",
          "learned drops need model.sensor.new_returns=anchored")
    _need(s.validity_prior > 0, "model.sensor.validity_prior", f"must be > 0, got {s.validity_prior}")
    from volo_adapt.models.grid_resampling import MIN_CELL_PX

    rates = s.pinhole_rates
    _need(len(rates) in (0, 2) and all(isinstance(r, (int, float)) and not isinstance(r, bool) and 0 <= r < 1
                                       for r in rates),
          "model.sensor.pinhole_rates", f"must be empty or [domain A, domain B] fractions in [0, 1), got {rates}")
    _need((s.pinholes == "none" and not rates) or s.new_returns == "anchored", "model.sensor.pinholes",
          "filling and dropping pinholes needs model.sensor.new_returns=anchored")
    _need(not s.keep_majority or s.drops == "learned", "model.sensor.keep_majority",
          "a majority of keep decisions needs model.sensor.drops=learned")
    _need(not s.mask_decides or s.new_returns == "anchored", "model.sensor.mask_decides",
          "needs model.sensor.new_returns=anchored (the return mask it lets decide)")
    from volo_adapt.models.birth_rings import MAX_RINGS

    counts = s.birth_ring_counts
    _need(len(counts) in (0, 2) and all(isinstance(n, int) and not isinstance(n, bool) and 0 <= n <= MAX_RINGS
                                        for n in counts),
          "model.sensor.birth_ring_counts",
          f"must be empty or [A -> B, B -> A] integers in 0..{MAX_RINGS}, got {counts}")
    powers = s.birth_ring_powers
    _need(len(powers) in (0, 2) and all(isinstance(p, (list, tuple)) and len(p) == 2 and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v <= 8 for v in p) for p in powers),
          "model.sensor.birth_ring_powers",
          f"must be empty or [[colour, depth] of A -> B, [colour, depth] of B -> A], each in [0, 8], got {powers}")
    _need((s.birth_rings == "none" and not counts) or s.new_returns == "anchored", "model.sensor.birth_rings",
          "filling rings with new returns needs model.sensor.new_returns=anchored")
    _need(s.native_cell_px == 0 or s.native_cell_px >= MIN_CELL_PX, "model.sensor.native_cell_px",
          f"must be 0 (none) or >= {MIN_CELL_PX} pixels, got {s.native_cell_px}")


def _check_loss(lo: LossConfig, channels: int) -> None:
    from volo_adapt.losses import GEOMETRY_REGIONS

    for k in ("cycle_weight", "identity_weight", "ssim_weight", "geometry_weight", "swd_weight",
              "colour_anchor_weight", "return_rate_weight", "birth_rate_weight"):
        _need(getattr(lo, k) >= 0, f"loss.{k}", f"must be >= 0, got {getattr(lo, k)}")
    # names both keys: the user may have changed either (--set model.channels=1 or loss.channel_weights=[1])
    _need(len(lo.channel_weights) == channels, "loss.channel_weights",
          f"needs one weight per channel of model.channels={channels}, got {len(lo.channel_weights)} weights "
          f"{lo.channel_weights}")
    _need(lo.geometry_region_estimate in ("", *GEOMETRY_REGIONS), "loss.geometry_region_estimate",
          f"must be empty, 'all' or 'interior', got {lo.geometry_region_estimate!r}")
    _need(lo.l1_to_l2_at == -1 or 0 <= lo.l1_to_l2_at <= 1, "loss.l1_to_l2_at",
          f"must be -1 or in [0, 1], got {lo.l1_to_l2_at}")


def _check_optim(o: OptimConfig) -> None:
    _need(o.gen_lr > 0, "optim.gen_lr", f"must be > 0, got {o.gen_lr}")
    _need(o.critic_lr > 0, "optim.critic_lr", f"must be > 0, got {o.critic_lr}")
    _need(len(o.gen_betas) == 2, "optim.gen_betas", "needs two values")
    _need(len(o.critic_betas) == 2, "optim.critic_betas", "needs two values")
    _need(0 <= o.critic_momentum < 1, "optim.critic_momentum", f"must be in [0, 1), got {o.critic_momentum}")
    for k in ("warmup_epochs", "decay_start_epoch", "grad_clip", "pool_size"):
        _need(getattr(o, k) >= 0, f"optim.{k}", f"must be >= 0, got {getattr(o, k)}")
    _need(0 <= o.ema_decay < 1, "optim.ema_decay", f"must be in [0, 1), got {o.ema_decay}")
    _need(0 <= o.critic_warmup < 1, "optim.critic_warmup", f"must be in [0, 1), got {o.critic_warmup}")


def _check_train(t: TrainConfig) -> None:
    _need(t.max_epochs >= 1, "train.max_epochs", f"must be >= 1, got {t.max_epochs}")
    _need(t.num_nodes >= 1, "train.num_nodes", f"must be >= 1, got {t.num_nodes}")
    _need(not str(t.strategy).startswith("fsdp"), "train.strategy", FSDP_REFUSAL)
    _need(t.max_steps == -1 or t.max_steps >= 1, "train.max_steps", f"must be -1 or >= 1, got {t.max_steps}")
    if t.max_time:
        from volo_adapt.duration import parse_duration

        parse_duration(t.max_time, "train.max_time")
    _need(t.log_every_n_steps >= 1, "train.log_every_n_steps", f"must be >= 1, got {t.log_every_n_steps}")
    for k in ("sample_every_n_steps", "checkpoint_every_n_steps", "val_every_n_steps"):
        _need(getattr(t, k) >= 0, f"train.{k}", f"must be >= 0, got {getattr(t, k)}")
    _need(t.val_batches >= 1, "train.val_batches", f"must be >= 1, got {t.val_batches}")
    _need(t.max_bad_steps >= 1, "train.max_bad_steps", f"must be >= 1, got {t.max_bad_steps}")
    for key in ("split_backward", "batch_calls"):
        value = getattr(t, key)
        _need(not isinstance(value, str) or value == "auto", f"train.{key}",
              f"must be auto, true or false; got {value!r}")
    _need(t.cache_weights or not t.activation_checkpointing, "train.activation_checkpointing",
          "needs train.cache_weights=true (recomputing a spectrally normalised layer would rerun its power iteration)")


def validate(cfg: RunConfig) -> None:
    """Choice, range and cross-field checks of every section, in order (the first problem is reported).

    Raises:
        ConfigError: one line starting with the dotted key, e.g. ``train.max_epochs: must be >= 1, got 0`` or
            ``loss.adversarial: must be one of lsgan, hinge, bce; got 'wgan'``.
    """
    _check_choices(cfg)
    _check_data(cfg.data)
    _check_model(cfg.model)
    _check_loss(cfg.loss, cfg.model.channels)
    _need(cfg.loss.return_rate_weight == 0 or cfg.model.sensor.drops == "learned", "loss.return_rate_weight",
          "needs model.sensor.drops=learned (the term trains the learned return logit)")
    _need(cfg.loss.birth_rate_weight == 0 or cfg.model.sensor.new_returns == "anchored", "loss.birth_rate_weight",
          "needs model.sensor.new_returns=anchored (the term fits how many new returns the head makes)")
    _check_optim(cfg.optim)
    _check_train(cfg.train)
