"""Point-cloud view of an evaluation: a few source and translated depth images back-projected to 3-D and drawn
from two viewpoints (matplotlib ``Axes3D`` scatter), so that holes, flying pixels and noise show as geometry.

Back-projection uses an **assumed** pinhole camera: the checkpoint does not store intrinsics, so every image gets
:meth:`~volo_adapt.synth.camera.PinholeCamera.from_fov` at its own size (65 degree horizontal field of view, square
pixels, principal point at the image centre: ``fx = fy = 0.785 * W``), the camera of the built-in synthetic
benchmark. Real data taken with another lens is shown stretched or squashed in ``x``/``y`` (depth ``z`` is exact).
"""

from __future__ import annotations

from typing import Any

import torch
from matplotlib.figure import Figure

from volo_adapt.data.sample import from_network
from volo_adapt.synth.camera import DEFAULT_HFOV_DEG, PinholeCamera

AZIMUTHS = (-70.0, -20.0)
"""The two viewing azimuths (degrees, matplotlib ``view_init``), both from slightly above."""
MAX_POINTS = 3000
"""At most this many points per cloud (a seeded, fixed subsample)."""


def back_project(depth: torch.Tensor, valid: torch.Tensor, camera: PinholeCamera) -> torch.Tensor:
    """``(1, H, W)`` depth (m, along the optical axis) and validity -> ``(P, 3)`` float points of the valid pixels,
    OpenCV frame (x right, y down, z forward), metres: ``x = (u + 0.5 - cx) z / fx``, ``y = (v + 0.5 - cy) z / fy``."""
    h, w = depth.shape[-2:]
    v, u = torch.meshgrid(torch.arange(h, dtype=torch.float32) + 0.5, torch.arange(w, dtype=torch.float32) + 0.5,
                          indexing="ij")
    z = depth[0].float()
    m = valid[0]
    return torch.stack([(u[m] - camera.cx) * z[m] / camera.fx, (v[m] - camera.cy) * z[m] / camera.fy, z[m]], dim=-1)


def subsample(points: torch.Tensor, n: int = MAX_POINTS, seed: int = 0) -> torch.Tensor:
    """At most ``n`` rows of ``points`` ``(P, 3)``, chosen with a private seeded generator (global RNG untouched)."""
    if len(points) <= n:
        return points
    g = torch.Generator().manual_seed(seed)
    return points[torch.randperm(len(points), generator=g)[:n]]


def intrinsics_note(size: int) -> str:
    """One line naming the assumed intrinsics at ``size`` x ``size`` pixels (for captions)."""
    cam = PinholeCamera.from_fov(size)
    return (f"assumed pinhole intrinsics (not stored in the checkpoint): {DEFAULT_HFOV_DEG:g} deg horizontal FoV, "
            f"fx = fy = {cam.fx:.1f} px, cx = cy = {cam.cx:.1f} px at {size}x{size}")


def point_cloud_figure(report: Any, k: int = 2) -> Figure:
    """Rows: the first ``k`` source images and their translations (paired scenes when present); columns: the two
    :data:`AZIMUTHS`. Points coloured by depth (viridis over the codec range)."""
    t = report.tensors
    src, fake = (t["paired_source"], t["paired_translated"]) if "paired_source" in t else (t["source"], t["translated"])
    k = max(1, min(k, len(src)))
    codec = report.codec
    size = src.shape[-1]
    camera = PinholeCamera.from_fov(size, src.shape[-2])
    rows = []
    for i in range(k):
        for label, x in ((f"source {i}", src), (f"translated {i}", fake)):
            _, d, v = from_network(x[i : i + 1].float(), codec)
            rows.append((label, subsample(back_project(d[0], v[0], camera), seed=i)))
    fig = Figure(figsize=(8, 3.2 * len(rows)), layout="constrained")
    for r, (label, p) in enumerate(rows):
        for c, azim in enumerate(AZIMUTHS):
            ax = fig.add_subplot(len(rows), len(AZIMUTHS), r * len(AZIMUTHS) + c + 1, projection="3d")
            # plot x right, z (depth) into the page, -y up, so that the image's up is up
            ax.scatter(p[:, 0].numpy(), p[:, 2].numpy(), (-p[:, 1]).numpy(), s=1.5, c=p[:, 2].numpy(),
                       cmap="viridis", vmin=codec.near, vmax=codec.far, depthshade=False)
            ax.view_init(elev=15, azim=azim)
            if len(p):  # metres equal on all axes: the geometry is not stretched by the plot
                ax.set_box_aspect([max(float(p[:, i].max() - p[:, i].min()), 1e-3) for i in (0, 2, 1)])
            ax.set_xlabel("x (m)", fontsize=7)
            ax.set_ylabel("z depth (m)", fontsize=7)
            ax.set_zlabel("-y (m)", fontsize=7)
            ax.tick_params(labelsize=6)
            ax.set_title(f"{label}, {len(p)} points, azimuth {azim:g} deg", fontsize=8)
    fig.suptitle(intrinsics_note(size), fontsize=8)
    return fig
