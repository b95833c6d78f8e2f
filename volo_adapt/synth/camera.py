"""The pinhole camera shared by the synthetic scenes and both sensor models.

Frame convention (OpenCV): ``x`` right, ``y`` down, ``z`` forward (along the optical axis), metres. The camera
sits at the origin. A pixel ``(u, v)`` (column, row; pixel centres at integer + 0.5) looks along
``((u - cx) / fx, (v - cy) / fy, 1)``. Depth images store ``z`` (distance along the optical axis, not along the
ray), which is what RGB-D sensors and ``kornia.geometry.depth.depth_to_3d`` use.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch

DEFAULT_HFOV_DEG = 65.0
"""Horizontal field of view of the default camera, degrees. Phone main ("wide") cameras have a horizontal FoV of
about 63-70 degrees on their 4:3 sensor (about 26 mm equivalent focal length); 65 degrees is a round value in that
range (approximate, not a specific phone model)."""


@dataclass(frozen=True)
class PinholeCamera:
    """Ideal pinhole intrinsics (no lens distortion).

    Attributes:
        width: image width in pixels.
        height: image height in pixels.
        fx: focal length along x, pixels.
        fy: focal length along y, pixels.
        cx: principal point x, pixels (``width / 2`` for a centred optical axis).
        cy: principal point y, pixels.
    """

    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float

    @staticmethod
    def from_fov(width: int, height: int | None = None, hfov_deg: float = DEFAULT_HFOV_DEG) -> PinholeCamera:
        """Square-pixel camera with the principal point at the image centre.

        ``fx = fy = (width / 2) / tan(hfov / 2)``; for the default 65 degrees this is ``0.785 * width``
        (e.g. 100.5 px at 128, 401.9 px at 512).
        """
        height = width if height is None else height
        assert width > 0 and height > 0 and 0.0 < hfov_deg < 180.0
        f = (width / 2.0) / math.tan(math.radians(hfov_deg) / 2.0)
        return PinholeCamera(width=width, height=height, fx=f, fy=f, cx=width / 2.0, cy=height / 2.0)

    @property
    def matrix(self) -> torch.Tensor:
        """``(3, 3)`` float64 intrinsic matrix ``K``."""
        return torch.tensor([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]], dtype=torch.float64)

    def rays(self, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """Unit ray directions through every pixel centre, camera frame.

        Returns:
            ``(H, W, 3)`` unit vectors (``z > 0``).
        """
        v, u = torch.meshgrid(
            torch.arange(self.height, dtype=torch.float64) + 0.5,
            torch.arange(self.width, dtype=torch.float64) + 0.5,
            indexing="ij",
        )
        d = torch.stack([(u - self.cx) / self.fx, (v - self.cy) / self.fy, torch.ones_like(u)], dim=-1)
        return (d / d.norm(dim=-1, keepdim=True)).to(dtype)

    def to_dict(self) -> dict:
        """JSON-ready intrinsics (pixels) plus the derived fields of view (degrees)."""
        d = asdict(self)
        d["hfov_deg"] = math.degrees(2.0 * math.atan(self.width / (2.0 * self.fx)))
        d["vfov_deg"] = math.degrees(2.0 * math.atan(self.height / (2.0 * self.fy)))
        d["convention"] = "OpenCV: x right, y down, z forward; depth = z in metres; pixel centres at +0.5"
        return d
