"""Joint RGB-D training augmentation, batched on the device, with kornia.

The same geometry is applied to RGB, encoded depth and the valid mask of a sample; depth and mask are
resampled with NEAREST (kornia's ``"mask"`` data key), so augmentation never invents a depth value
between a surface and the background or between two surfaces. Colour jitter touches RGB only.

Stages, each drawn independently per sample (in this order):

1. random horizontal flip (``p = 0.5`` when enabled, as in the original VoloGAN);
2. the original's "shift": zero-pad bottom/right by 10 % of H and 40 % of W, then random crop back to
   ``(H, W)``; the padded area is invalid (all channels 0, mask False);
3. random resized crop (area scale 0.6-1, aspect ratio 0.9-1.1), back to ``(H, W)``;
4. colour jitter (brightness, contrast, saturation of strength ``color_jitter``) on RGB only.

Afterwards the network-tensor invariant holds again: every channel is 0 where ``valid`` is False.
"""

from __future__ import annotations

import kornia.augmentation as K
import torch
from torch import nn

SHIFT_PAD_H = 0.1
"""The original's shift: bottom padding as a fraction of the image height."""
SHIFT_PAD_W = 0.4
"""The original's shift: right padding as a fraction of the image width."""
RESIZED_CROP_SCALE = (0.6, 1.0)
"""Random resized crop: range of the cropped area as a fraction of the image area."""
RESIZED_CROP_RATIO = (0.9, 1.1)
"""Random resized crop: range of the crop's aspect ratio (width / height)."""


def _per_sample(
    seq: K.AugmentationSequential, rgb: torch.Tensor, masks: torch.Tensor, p: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Apply ``seq`` (built with ``p=1``) to a Bernoulli(``p``) subset of the batch.

    kornia's crop augmentations draw their probability once per *batch* (``p_batch``) because a crop may
    change the sample shape; the original applies the shift per sample, so the subset is chosen here.
    """
    if p <= 0:
        return rgb, masks
    chosen = torch.rand(rgb.shape[0], device=rgb.device) < p
    if not bool(chosen.any()):
        return rgb, masks
    idx = chosen.nonzero(as_tuple=True)[0]
    out_rgb, out_masks = seq(rgb[idx], masks[idx])
    rgb = rgb.index_copy(0, idx, out_rgb.to(rgb.dtype))
    masks = masks.index_copy(0, idx, out_masks.to(masks.dtype))
    return rgb, masks


class JointAugment(nn.Module):
    """Random flip / shift / resized crop shared by RGB, depth and mask, plus RGB-only colour jitter.

    Args:
        hflip: random horizontal flip with probability 0.5.
        shift_prob: per-sample probability of the original's shift (pad bottom 10 % H, right 40 % W with
            invalid pixels, random crop back).
        resized_crop_prob: per-sample probability of a random resized crop (scale 0.6-1, ratio 0.9-1.1).
        color_jitter: strength of brightness/contrast/saturation jitter on RGB (0 = off). Applied to the
            whole RGB image, then the invalid background is set back to 0 (contrast and saturation use the
            image mean, which includes the black background: an approximation, like the original's data).

    The randomness comes from torch's global RNG on the input's device (seed it with
    ``lightning.seed_everything``).

    Example:
        >>> aug = JointAugment(hflip=True, shift_prob=0.3)
        >>> x, valid = torch.rand(2, 4, 16, 16), torch.ones(2, 1, 16, 16, dtype=torch.bool)
        >>> y, v = aug(x, valid)
        >>> y.shape, v.dtype
        (torch.Size([2, 4, 16, 16]), torch.bool)
    """

    def __init__(
        self, hflip: bool = True, shift_prob: float = 0.3, resized_crop_prob: float = 0.0, color_jitter: float = 0.0
    ) -> None:
        super().__init__()
        assert 0 <= shift_prob <= 1 and 0 <= resized_crop_prob <= 1 and color_jitter >= 0
        self.hflip = hflip
        self.shift_prob = float(shift_prob)
        self.resized_crop_prob = float(resized_crop_prob)
        self.color_jitter = float(color_jitter)
        # Per-sample flip: kornia draws p per sample for flips; masks follow the input's geometry.
        self.flip = K.AugmentationSequential(K.RandomHorizontalFlip(p=0.5), data_keys=["input", "mask"])
        # Crop stages depend on the image size; built on first use per size (they hold no parameters).
        self._crops: dict[tuple[str, int, int], K.AugmentationSequential] = {}
        self.jitter = (
            K.ColorJitter(brightness=color_jitter, contrast=color_jitter, saturation=color_jitter, hue=0.0, p=1.0)
            if color_jitter > 0
            else None
        )

    @property
    def enabled(self) -> bool:
        """Whether any stage can change a sample."""
        return self.hflip or self.shift_prob > 0 or self.resized_crop_prob > 0 or self.color_jitter > 0

    def _crop_stage(self, kind: str, height: int, width: int) -> K.AugmentationSequential:
        key = (kind, height, width)
        if key not in self._crops:
            if kind == "shift":
                pad_h, pad_w = round(SHIFT_PAD_H * height), round(SHIFT_PAD_W * width)
                # kornia's padding order is (left, top, right, bottom); fill 0 = invalid in every channel and mask.
                op = K.RandomCrop((height, width), padding=(0, 0, pad_w, pad_h), fill=0.0, padding_mode="constant")
            else:
                op = K.RandomResizedCrop((height, width), scale=RESIZED_CROP_SCALE, ratio=RESIZED_CROP_RATIO)
            self._crops[key] = K.AugmentationSequential(op, data_keys=["input", "mask"])
        return self._crops[key]

    @torch.no_grad()
    def forward(self, x: torch.Tensor, valid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Augment a batch.

        Args:
            x: ``(B, 4, H, W)`` float in ``[0, 1]``: RGB then encoded depth, 0 in every channel where invalid.
            valid: ``(B, 1, H, W)`` bool.

        Returns:
            ``(x, valid)`` with the same shapes and dtypes; depth values are a subset of the input's
            depth values plus 0; every channel is 0 where the returned ``valid`` is False.
        """
        assert x.ndim == 4 and x.shape[1] == 4, f"expected x of shape (B,4,H,W), got {tuple(x.shape)}"
        assert valid.shape == (x.shape[0], 1, *x.shape[2:]) and valid.dtype == torch.bool, (
            f"expected valid of shape {(x.shape[0], 1, *x.shape[2:])} bool, got {tuple(valid.shape)} {valid.dtype}"
        )
        if not self.enabled or x.shape[0] == 0:
            return x, valid
        height, width = int(x.shape[2]), int(x.shape[3])
        rgb = x[:, :3]
        # Depth and mask travel as kornia "mask" channels: same geometry as the input, nearest resampling,
        # no intensity augmentation.
        masks = torch.cat([x[:, 3:4], valid.to(x.dtype)], dim=1)
        if self.hflip:
            rgb, masks = self.flip(rgb, masks)
        rgb, masks = _per_sample(self._crop_stage("shift", height, width), rgb, masks, self.shift_prob)
        rgb, masks = _per_sample(self._crop_stage("resized_crop", height, width), rgb, masks, self.resized_crop_prob)
        if self.jitter is not None:
            rgb = self.jitter(rgb)
        new_valid = masks[:, 1:2] > 0.5
        zero = torch.zeros((), dtype=x.dtype, device=x.device)
        out = torch.cat([rgb.clamp(0, 1), masks[:, 0:1]], dim=1)
        out = torch.where(new_valid, out, zero)
        return out.contiguous(), new_valid
