"""One benchmark variant of a training step: the project's own ``VoloGANModule.training_step`` run by a Lightning
``Trainer`` (both optimisers, the precision plugin, every per-batch hook), or the classic CycleGAN step.

Timing and memory cover one batch, from Lightning's ``on_train_batch_start`` to ``on_train_batch_end`` (data
loading and the host-to-device copy are outside it). Each call of :meth:`ModuleVariant.run` fits a fresh
``Trainer`` for ``len(batches)`` batches on the same module; the optimiser states of the previous call are loaded
back (so every timed step is a steady-state step, with moment buffers already allocated) and kept between calls,
counted in :meth:`persistent_bytes`.
"""

from __future__ import annotations

import gc
import logging
import warnings
from typing import Any

import torch
from benchkit import PeakMemory, sync, tensor_bytes
from torch.utils.flop_counter import FlopCounterMode


def random_batches(n: int, batch: int, size: int, gap: float, device: str, seed: int = 0) -> list[dict]:
    """``n`` batches like the DataModule's: RGB in [0, 1], encoded depth in [gap, 1] with an invalid band (all
    channels 0) along the top tenth of each image, on ``device``."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        b = {}
        for d in ("A", "B"):
            x = torch.rand(batch, 4, size, size, generator=g)
            x[:, 3] = gap + (1 - gap) * x[:, 3]
            x[:, :, : max(1, size // 10)] = 0.0
            b[d] = x.to(device)
            b[f"valid_{d}"] = (x[:, 3:] > 0).to(device)
        out.append(b)
    return out


class _Batches(torch.utils.data.Dataset):
    def __init__(self, batches: list[dict]) -> None:
        self.batches = batches

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, i: int) -> dict:
        return self.batches[i]


class _Measure:
    """Lightning callback: wall and CPU time, memory growth (and FLOPs when asked) of every batch."""

    def __init__(self, device: torch.device, count_flops: bool) -> None:
        import lightning as L

        self.device, self.count_flops = device, count_flops
        self.records: list[dict[str, float]] = []
        self.mem = PeakMemory(device)
        self.flops: FlopCounterMode | None = None
        outer = self

        class Callback(L.Callback):
            def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
                outer.start()

            def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
                outer.stop()

        self.callback = Callback()

    def start(self) -> None:
        import time

        gc.collect()
        self.mem.start()
        if self.count_flops:
            self.flops = FlopCounterMode(display=False)
            self.flops.__enter__()
        sync(self.device)
        self._t, self._c = time.perf_counter(), time.process_time()

    def stop(self) -> None:
        import time

        sync(self.device)
        wall, cpu = time.perf_counter() - self._t, time.process_time() - self._c
        rec = {"wall_s": wall, "cpu_s": cpu, "growth_bytes": float(self.mem.stop())}
        if self.flops is not None:
            self.flops.__exit__(None, None, None)
            rec["flops"] = float(self.flops.get_total_flops())
            self.flops = None
        self.records.append(rec)


class ModuleVariant:
    """A preset's ``VoloGANModule`` with benchmark overrides, trained by a real Lightning Trainer.

    Args:
        preset: a preset name (``configs/NAME.yaml``) or file, read now (presets change; nothing is cached).
        overrides: ``--set``-style overrides of this variant.
        size: image side, pixels. batch: images per domain and step. device: ``cpu`` or ``cuda``.
        seed: weights seed (every variant of a preset starts from the same weights).
    """

    def __init__(self, preset: str, overrides: list[str], size: int, batch: int, device: str, seed: int = 0):
        from volo_adapt.config import load_config
        from volo_adapt.hardware import resolve_train_precision
        from volo_adapt.training.module import VoloGANModule

        accelerator = "gpu" if device == "cuda" else "cpu"
        self.cfg = load_config(preset, [*overrides, f"data.image_size={size}", f"data.batch_size={batch}",
                                        f"train.accelerator={accelerator}", "train.devices=1", "train.logger=none",
                                        "optim.critic_warmup=0"])
        self.precision = resolve_train_precision(self.cfg.train.precision, accelerator)
        self.device = torch.device(device)
        torch.manual_seed(seed)
        self.module = VoloGANModule(self.cfg).to(self.device)
        self.opt_states: list[dict] | None = None

    @property
    def dtype(self) -> str:
        """The compute dtype of the convolutions: ``bf16`` under bf16-mixed, else ``fp32``."""
        return "bf16" if self.precision.startswith("bf16") else ("fp16" if self.precision.startswith("16") else "fp32")

    def persistent_bytes(self) -> int:
        """Weights, buffers (EMA copies included), image pools and the kept optimiser states."""
        tensors = [*self.module.parameters(), *self.module.buffers(), *self.module.pool_a.images,
                   *self.module.pool_b.images]
        for sd in self.opt_states or []:
            for state in sd["state"].values():
                tensors += [v for v in state.values() if isinstance(v, torch.Tensor)]
        return tensor_bytes(tensors)

    def run(self, batches: list[dict], count_flops: bool = False) -> list[dict[str, float]]:
        """Train one Lightning ``fit`` over ``batches``; returns one record per batch (``wall_s``, ``cpu_s``,
        ``growth_bytes``, and ``flops`` when ``count_flops``)."""
        import lightning as L

        measure = _Measure(self.device, count_flops)
        restore = _RestoreOptimizers(self)
        for name in ("lightning.pytorch", "lightning.fabric"):  # one Trainer per call: no banner every time
            logging.getLogger(name).setLevel(logging.ERROR)
        trainer = L.Trainer(
            accelerator="gpu" if self.device.type == "cuda" else "cpu", devices=1, precision=self.precision,
            max_epochs=1, limit_train_batches=len(batches), logger=False, enable_checkpointing=False,
            enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0, limit_val_batches=0,
            callbacks=[restore, measure.callback],
        )
        loader = torch.utils.data.DataLoader(_Batches(batches), batch_size=None, shuffle=False)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            trainer.fit(self.module, train_dataloaders=loader)
        self.opt_states = [opt.state_dict() for opt in trainer.optimizers]
        self.module.zero_grad(set_to_none=True)
        self.module.trainer = None
        del trainer
        gc.collect()
        return measure.records


def _restore_callback_base():
    import lightning as L

    return L.Callback


class _RestoreOptimizers(_restore_callback_base()):
    """Loads the variant's optimiser states of the previous fit into the new optimisers (steady-state steps)."""

    def __init__(self, variant: ModuleVariant) -> None:
        self.variant = variant

    def on_train_start(self, trainer, pl_module) -> None:
        if self.variant.opt_states is not None:
            for opt, sd in zip(trainer.optimizers, self.variant.opt_states, strict=True):
                opt.load_state_dict(sd)


class ClassicVariant:
    """The classic CycleGAN step (``classic_cyclegan.py``) with the ``cyclegan`` preset's networks, eager fp32."""

    precision = "32-true"
    dtype = "fp32"

    def __init__(self, size: int, batch: int, device: str, seed: int = 0) -> None:
        from classic_cyclegan import ClassicCycleGANStep

        self.device = torch.device(device)
        torch.manual_seed(seed)
        self.step = ClassicCycleGANStep(device=self.device)

    def persistent_bytes(self) -> int:
        tensors: list[Any] = [t for net in self.step.networks() for t in (*net.parameters(), *net.buffers())]
        for opt in (self.step.opt_gen, self.step.opt_critic):
            for state in opt.state.values():
                tensors += [v for v in state.values() if isinstance(v, torch.Tensor)]
        tensors += [*self.step.pool_x.images, *self.step.pool_y.images]
        return tensor_bytes(tensors)

    def run(self, batches: list[dict], count_flops: bool = False) -> list[dict[str, float]]:
        measure = _Measure(self.device, count_flops)
        for b in batches:
            measure.start()
            self.step.step(b["A"], b["B"])
            measure.stop()
        for net in self.step.networks():
            net.zero_grad(set_to_none=True)
        return measure.records
