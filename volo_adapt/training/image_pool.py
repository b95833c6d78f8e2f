"""CycleGAN's history buffer of generated images for critic updates (Shrivastava et al. 2017).

Hand-written because no installed library provides it (a few lines). Randomness comes from the
global torch RNG so that a resumed run (which restores that RNG) makes the same choices.
"""

from __future__ import annotations

import torch


class ImagePool:
    """Keep up to ``size`` past fakes; each query returns, per image, the new one or (p = 0.5) a stored one.

    While the pool is not full, every image is stored and returned unchanged. Once full, each incoming
    image is, with probability 0.5, swapped for a random stored image (which is returned, and the new
    image takes its place); otherwise it is returned as is. ``size == 0`` disables the pool. A non-finite image
    (from a batch whose steps are skipped) is returned but never stored.

    Args:
        size: capacity in images (CycleGAN: 50; 0 = off).

    Example:
        >>> pool = ImagePool(2)
        >>> out = pool.query(torch.zeros(3, 4, 8, 8))
        >>> out.shape, len(pool)
        (torch.Size([3, 4, 8, 8]), 2)
    """

    def __init__(self, size: int) -> None:
        assert size >= 0, size
        self.size = size
        self.images: list[torch.Tensor] = []

    def __len__(self) -> int:
        return len(self.images)

    @torch.no_grad()
    def query(self, images: torch.Tensor) -> torch.Tensor:
        """Return a batch of the same shape as ``images`` ``(B, C, H, W)``, mixing in stored fakes.

        ``images`` should already be detached; stored copies are detached clones on the same device.
        """
        if self.size == 0:
            return images
        out = []
        for img in images:
            img = img.detach().clone()
            if not bool(torch.isfinite(img).all()):  # its step is skipped; stored, it would spoil later critic steps
                out.append(img)
                continue
            if len(self.images) < self.size:
                self.images.append(img)
                out.append(img)
            elif torch.rand(()).item() < 0.5:
                idx = int(torch.randint(0, self.size, ()).item())
                out.append(self.images[idx].to(img.device, img.dtype))
                self.images[idx] = img
            else:
                out.append(img)
        return torch.stack(out, 0)

    def state_dict(self) -> dict:
        """Pool contents as CPU tensors (for checkpoints; tensors only, so a weights-only load reads them)."""
        return {"size": self.size, "images": [t.detach().cpu() for t in self.images]}

    def load_state_dict(self, state: dict, device: torch.device | None = None) -> None:
        """Restore contents saved by :meth:`state_dict` (keeps at most ``self.size`` images)."""
        self.images = [t.to(device) if device is not None else t for t in state.get("images", [])][: self.size]
