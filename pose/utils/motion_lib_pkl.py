"""Motion library over TWIST clips: load, pre-process, sample and evaluate reference frames
(docs/motion_data.md, MotionLib).

`MotionLib(motion_file, device)` takes a TWIST YAML manifest or one clip file (`.pkl` / `.npz`),
validates every clip with `pose.formats` (errors are `MotionFileError` naming file, key and what was
expected, the same messages as `python -m pose.validate`; root quaternions a little off unit norm
are renormalised with one `MotionFileWarning` per file; fps may be any positive float, e.g. 29.98)
and stores all clips concatenated along time on `device`:

  frames (F = sum of T_i):  root_pos (F,3), root_rot (F,4) xyzw, root_vel (F,3), root_ang_vel (F,3),
                            dof_pos (F,23), dof_vel (F,23), local_body_pos (F,38,3)
  clips (M):                start index, number of frames T, length L = (T-1)/fps, fps, dt,
                            normalised weight, xy displacement (last - first root position, z = 0)

Velocities are computed at load time for all frames at once, with per-clip boundaries:
root linear velocity and DOF velocity are forward differences x fps, the root angular velocity is
the exponential map of q_{k+1} * q_k^-1 (world frame) x fps; each clip's last frame copies the one
before; then every channel is smoothed per clip by a `smooth_window`-tap (19) moving average with
zero padding ("same" output, so the first and last 9 frames of a clip are attenuated), computed
with a float64 cumulative sum and windows clamped to the clip.

`calc_motion_frame(ids, times)` is fully batched on the device (no loop over clips) and never
modifies its inputs (TWIST modified the caller's time tensor in place; docs/decisions.md D9).

Differences from TWIST kept on purpose: a clip that fails validation raises instead of being logged
and skipped (pass `skip_invalid=True` for TWIST's behaviour); every clip's `link_body_list` is
checked and its bodies put in the model's order (TWIST read the first clip's list only).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from pose.formats import MotionFileError, load_clip, motion_sources, validate_clip
from pose.g1_model import load_g1
from pose.utils.torch_utils import quat_conjugate, quat_mul, quat_to_exp_map, slerp

# Show a progress bar when a manifest names at least this many files.
PROGRESS_MIN_FILES = 100
# Frames per chunk of the load-time velocity pass (bounds float64 temporaries, about 1 GB).
VELOCITY_CHUNK_FRAMES = 1 << 20


def _box_smooth(x: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor, window: int) -> torch.Tensor:
    """Moving average over frames with per-frame window bounds [lo, hi) clamped to the clip.

    Equivalent to a `window`-tap box filter with zero padding applied to every clip separately
    (out-of-clip samples count as zeros, the divisor is always `window`). x: (F, C) float64.
    """
    csum = torch.cat([torch.zeros_like(x[:1]), torch.cumsum(x, dim=0)], dim=0)  # csum[j] = sum x[:j]
    return (csum[hi] - csum[lo]) / float(window)


class MotionLib:
    """All reference clips of a manifest (or one clip), concatenated on `device`.

    Args:
      motion_file: TWIST manifest (`.yaml`/`.yml`) or a single `.pkl`/`.npz` clip (weight 1).
      device: torch device for all stored tensors and queries.
      smooth_window: taps of the velocity box filter (odd; 1 disables smoothing).
      skip_invalid: warn about and skip clips that fail validation instead of raising.
    """

    def __init__(self, motion_file, device="cpu", smooth_window: int = 19, skip_invalid: bool = False):
        entries = motion_sources(motion_file)  # MotionFileError for a missing/empty/bad manifest
        clips, weights, files = [], [], []
        for entry in self._progress(entries, "Loading motions"):
            try:
                clip = load_clip(entry.file)
            except MotionFileError as e:
                if not skip_invalid:
                    raise
                warnings.warn("skipping motion clip: {}".format(e))
                continue
            clips.append(clip)
            weights.append(entry.weight)
            files.append(str(entry.file))
        if not clips:
            raise MotionFileError("{}: no valid motion clips".format(motion_file))
        self.motion_file = str(motion_file)
        self._build(clips, weights, files, device, smooth_window, source=motion_file)

    @classmethod
    def from_clips(
        cls,
        clips: Sequence[dict],
        weights: Optional[Sequence[float]] = None,
        names: Optional[Sequence[str]] = None,
        device="cpu",
        smooth_window: int = 19,
    ) -> "MotionLib":
        """Build from in-memory clip dicts (the clip format of `pose.formats`), each validated.

        `names` label the clips in error messages and `motion_files` (default `<clip i>`).
        """
        clips = list(clips)
        if not clips:
            raise MotionFileError("<clips>: expected at least one motion clip, got none")
        if names is None:
            names = ["<clip {}>".format(i) for i in range(len(clips))]
        names = [str(n) for n in names]
        if len(names) != len(clips):
            raise ValueError("names: expected {} entries (one per clip), got {}".format(len(clips), len(names)))
        if weights is None:
            weights = [1.0] * len(clips)
        weights = [float(w) for w in weights]
        if len(weights) != len(clips):
            raise ValueError("weights: expected {} entries (one per clip), got {}".format(len(clips), len(weights)))
        validated = [validate_clip(c, n) for c, n in zip(cls._progress(clips, "Validating motions"), names)]
        obj = cls.__new__(cls)
        obj.motion_file = "<in-memory>"
        obj._build(validated, weights, names, device, smooth_window, source="<clips>")
        return obj

    @staticmethod
    def _progress(items, desc):
        if len(items) < PROGRESS_MIN_FILES:
            return items
        from tqdm import tqdm

        return tqdm(items, desc=desc, unit="clip", leave=False)

    # --- construction ---------------------------------------------------------------------------

    def _build(self, clips: List[dict], weights, files, device, smooth_window: int, source) -> None:
        smooth_window = int(smooth_window)
        if smooth_window < 1 or smooth_window % 2 == 0:
            raise ValueError("smooth_window: expected an odd number >= 1, got {}".format(smooth_window))
        w = np.asarray(weights, dtype=np.float64)
        if (w < 0).any() or not np.isfinite(w).all() or w.sum() <= 0:
            raise MotionFileError(
                "{}: weights must be finite, >= 0 and not all zero, got {}".format(source, w.tolist())
            )
        model = load_g1()
        self.device = torch.device(device)
        self.smooth_window = smooth_window
        self._motion_files = list(files)
        self._body_link_list = list(model.motion_bodies)
        self._dof_names = list(model.dof_names)

        nf = np.array([c["root_pos"].shape[0] for c in clips], dtype=np.int64)
        fps = np.array([c["fps"] for c in clips], dtype=np.float64)
        starts = np.concatenate([[0], np.cumsum(nf)[:-1]]).astype(np.int64)
        cat = lambda key: np.concatenate([c[key] for c in clips], axis=0)  # noqa: E731
        root_pos = cat("root_pos").astype(np.float32)
        root_rot = cat("root_rot").astype(np.float32)
        dof_pos = cat("dof_pos").astype(np.float32)
        local_body_pos = cat("local_body_pos").astype(np.float32)

        dev = self.device
        f32: Dict[str, Any] = dict(device=dev, dtype=torch.float32)
        self._motion_num_frames = torch.as_tensor(nf, device=dev, dtype=torch.long)
        self._motion_start_idx = torch.as_tensor(starts, device=dev, dtype=torch.long)
        self._motion_fps = torch.as_tensor(fps, **f32)
        self._motion_dt = torch.as_tensor(1.0 / fps, **f32)
        self._motion_lengths = torch.as_tensor((nf - 1) / fps, **f32)
        self._motion_weights = torch.as_tensor(w / w.sum(), **f32)
        disp = root_pos[starts + nf - 1] - root_pos[starts]
        disp[:, 2] = 0.0
        self._motion_displacement = torch.as_tensor(disp, **f32)

        self._root_pos = torch.as_tensor(root_pos, device=dev)
        self._root_rot = torch.as_tensor(root_rot, device=dev)
        self._dof_pos = torch.as_tensor(dof_pos, device=dev)
        self._local_body_pos = torch.as_tensor(local_body_pos, device=dev)
        self._root_vel, self._root_ang_vel, self._dof_vel = self._compute_velocities(fps, nf, starts)

    def _compute_velocities(self, fps: np.ndarray, nf: np.ndarray, starts: np.ndarray):
        """Finite-difference velocities of all frames, then per-clip box smoothing.

        Vectorised over frames; clips are taken in chunks of about `VELOCITY_CHUNK_FRAMES` frames
        (whole clips) only to bound the float64 temporaries on the device.
        """
        f32: Dict[str, Any] = dict(device=self.device, dtype=torch.float32)
        n_frames = int(nf.sum())
        root_vel = torch.empty((n_frames, 3), **f32)
        root_ang_vel = torch.empty((n_frames, 3), **f32)
        dof_vel = torch.empty((n_frames, self._dof_pos.shape[1]), **f32)
        ends = np.cumsum(nf)
        c0 = 0
        while c0 < len(nf):
            # Whole clips from c0 up to about VELOCITY_CHUNK_FRAMES frames (at least one clip).
            limit = (ends[c0] - nf[c0]) + VELOCITY_CHUNK_FRAMES
            c1 = max(c0 + 1, int(np.searchsorted(ends, limit, side="right")))
            f0, f1 = int(starts[c0]), int(ends[c1 - 1])
            v, w, d = self._velocities_of_range(fps[c0:c1], nf[c0:c1], f0, f1)
            root_vel[f0:f1], root_ang_vel[f0:f1], dof_vel[f0:f1] = v, w, d
            c0 = c1
        return root_vel, root_ang_vel, dof_vel

    def _velocities_of_range(self, fps: np.ndarray, nf: np.ndarray, f0: int, f1: int):
        """Velocities of the consecutive clips stored in frames [f0, f1), all at once."""
        # float64 for the differences and the cumulative sums; mps has no float64.
        dev = self.device if self.device.type != "mps" else torch.device("cpu")
        f64: Dict[str, Any] = dict(device=dev, dtype=torch.float64)
        n_frames = f1 - f0
        nf_t = torch.as_tensor(nf, device=dev, dtype=torch.long)
        starts_t = torch.cumsum(nf_t, 0) - nf_t  # clip starts relative to f0
        clip_of = torch.repeat_interleave(torch.arange(len(nf), device=dev), nf_t)  # (F,)
        fps_f = torch.as_tensor(fps, **f64)[clip_of].unsqueeze(-1)
        # Frame pair of each forward difference; a clip's last frame reuses the previous pair.
        i0 = torch.arange(n_frames, device=dev)
        i0[starts_t + nf_t - 1] -= 1
        i1 = i0 + 1

        root_pos = self._root_pos[f0:f1].to(**f64)
        root_rot = self._root_rot[f0:f1].to(**f64)
        dof_pos = self._dof_pos[f0:f1].to(**f64)
        root_vel = (root_pos[i1] - root_pos[i0]) * fps_f
        dq = quat_mul(root_rot[i1], quat_conjugate(root_rot[i0]))  # world-frame rotation k -> k+1
        root_ang_vel = quat_to_exp_map(dq) * fps_f
        dof_vel = (dof_pos[i1] - dof_pos[i0]) * fps_f

        if self.smooth_window > 1:
            h = self.smooth_window // 2
            frame = torch.arange(n_frames, device=dev)
            clip_start = starts_t[clip_of]
            clip_end = clip_start + nf_t[clip_of]
            lo = torch.maximum(frame - h, clip_start)
            hi = torch.minimum(frame + h + 1, clip_end)
            stacked = torch.cat([root_vel, root_ang_vel, dof_vel], dim=-1)
            stacked = _box_smooth(stacked, lo, hi, self.smooth_window)
            root_vel, root_ang_vel, dof_vel = stacked.split([3, 3, dof_vel.shape[-1]], dim=-1)
        f32: Dict[str, Any] = dict(device=self.device, dtype=torch.float32)
        return root_vel.to(**f32), root_ang_vel.to(**f32), dof_vel.to(**f32)

    # --- information --------------------------------------------------------------------------

    def num_motions(self) -> int:
        return int(self._motion_num_frames.shape[0])

    def get_total_length(self) -> float:
        return float(self._motion_lengths.sum())

    def num_frames_total(self) -> int:
        return int(self._root_pos.shape[0])

    def _ids(self, motion_ids) -> torch.Tensor:
        return torch.as_tensor(motion_ids, device=self.device).long()

    def get_motion_length(self, motion_ids=None) -> torch.Tensor:
        """Clip lengths (T-1)/fps in seconds; all clips when `motion_ids` is None."""
        return self._motion_lengths if motion_ids is None else self._motion_lengths[self._ids(motion_ids)]

    def get_motion_num_frames(self, motion_ids=None) -> torch.Tensor:
        return self._motion_num_frames if motion_ids is None else self._motion_num_frames[self._ids(motion_ids)]

    def get_motion_fps(self, motion_ids=None) -> torch.Tensor:
        return self._motion_fps if motion_ids is None else self._motion_fps[self._ids(motion_ids)]

    def get_motion_weights(self) -> torch.Tensor:
        """Sampling weights normalised to sum 1."""
        return self._motion_weights

    @property
    def motion_files(self) -> List[str]:
        """Source file (or in-memory name) of every clip, in motion-id order."""
        return list(self._motion_files)

    @property
    def motion_names(self) -> List[str]:
        """Clip names: file stems (in-memory names unchanged)."""
        return [Path(f).stem if not f.startswith("<") else f for f in self._motion_files]

    def get_body_names(self) -> List[str]:
        """The 38 motion bodies, in the order of `local_body_pos`."""
        return list(self._body_link_list)

    def get_dof_names(self) -> List[str]:
        return list(self._dof_names)

    def get_key_body_idx(self, key_body_names: Sequence[str]) -> torch.Tensor:
        """Indices into the 38 motion bodies of `key_body_names` (long tensor on the device)."""
        idx = []
        for name in key_body_names:
            if name not in self._body_link_list:
                raise KeyError("key body {!r} is not a motion body (known: {})".format(name, self._body_link_list))
            idx.append(self._body_link_list.index(name))
        return torch.tensor(idx, device=self.device, dtype=torch.long)

    def __repr__(self) -> str:
        return "MotionLib({} clips, {} frames, {:.1f} s, device={})".format(
            self.num_motions(), self.num_frames_total(), self.get_total_length(), self.device
        )

    # --- sampling -----------------------------------------------------------------------------

    def sample_motions(self, n: int, motion_difficulty: Optional[torch.Tensor] = None, generator=None) -> torch.Tensor:
        """`n` clip ids drawn with replacement with probability proportional to weight x difficulty."""
        probs = self._motion_weights
        if motion_difficulty is not None:
            d = torch.as_tensor(motion_difficulty, device=self.device, dtype=torch.float32)
            if d.shape != probs.shape:
                raise ValueError(
                    "motion_difficulty: expected shape ({},), got {}".format(self.num_motions(), tuple(d.shape))
                )
            probs = probs * d
        # Values are not checked beforehand: that would synchronise with the GPU at every reset.
        # torch rejects an invalid distribution itself (on CUDA with a device-side assert).
        try:
            return torch.multinomial(probs, num_samples=int(n), replacement=True, generator=generator)
        except RuntimeError as e:
            raise ValueError("sample_motions: weight x difficulty must be finite, >= 0 and not all zero ({})".format(e))

    def sample_time(self, motion_ids, truncate_time: Optional[float] = None, generator=None) -> torch.Tensor:
        """Uniform times in [0, L) of each clip (L reduced by `truncate_time`, floored at 0)."""
        ids = self._ids(motion_ids)
        length = self._motion_lengths[ids]
        if truncate_time is not None:
            length = (length - float(truncate_time)).clamp_min(0.0)
        phase = torch.rand(ids.shape, device=self.device, generator=generator)
        return phase * length

    # --- frame evaluation ---------------------------------------------------------------------

    def calc_motion_frame(self, motion_ids, motion_times) -> Tuple[torch.Tensor, ...]:
        """Reference state of clips `motion_ids` at times `motion_times` (seconds), batched.

        ids and times broadcast together (any shape, e.g. (N*20,) or (N, 20)); outputs have that
        shape plus the feature dims: root_pos (3), root_rot (4, xyzw), root_vel (3), root_ang_vel (3),
        dof_pos (23), dof_vel (23), local_body_pos (38, 3).

        Times wrap around the clip (TWIST's, docs/decisions.md K5): k = floor(t / L) loops, the root position is shifted
        by k times the clip's xy displacement. Negative times follow the same rule (k < 0), i.e. the
        periodic extension backwards: t = -0.1 s reads L - 0.1 s shifted by minus one displacement.
        Positions are interpolated between the two neighbouring frames (slerp for the root
        rotation); velocities are taken from the lower frame. Inputs are never modified.
        """
        ids = self._ids(motion_ids)
        t = torch.as_tensor(motion_times, device=self.device, dtype=torch.float32)
        ids, t = torch.broadcast_tensors(ids, t)
        shape = tuple(ids.shape)
        ids = ids.reshape(-1)
        t = t.reshape(-1)

        length = self._motion_lengths[ids]
        n_frames = self._motion_num_frames[ids]
        loops = torch.floor(t / length)
        t_in = t - loops * length  # a new tensor: the caller's times stay untouched
        phase = (t_in / length).clamp(0.0, 1.0)
        f = phase * (n_frames - 1).to(torch.float32)
        i0 = f.floor().long()
        i0 = torch.minimum(i0, n_frames - 1)
        i1 = torch.minimum(i0 + 1, n_frames - 1)
        blend = (f - i0.to(torch.float32)).clamp(0.0, 1.0).unsqueeze(-1)
        start = self._motion_start_idx[ids]
        g0 = start + i0
        g1 = start + i1

        root_pos = torch.lerp(self._root_pos[g0], self._root_pos[g1], blend)
        root_pos = root_pos + loops.unsqueeze(-1) * self._motion_displacement[ids]
        root_rot = slerp(self._root_rot[g0], self._root_rot[g1], blend)
        dof_pos = torch.lerp(self._dof_pos[g0], self._dof_pos[g1], blend)
        local_body_pos = torch.lerp(self._local_body_pos[g0], self._local_body_pos[g1], blend.unsqueeze(-1))
        root_vel = self._root_vel[g0]
        root_ang_vel = self._root_ang_vel[g0]
        dof_vel = self._dof_vel[g0]

        out = (root_pos, root_rot, root_vel, root_ang_vel, dof_pos, dof_vel, local_body_pos)
        return tuple(x.reshape(shape + tuple(x.shape[1:])) for x in out)
