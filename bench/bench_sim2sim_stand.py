"""Standing check of a deployed student in sim2sim: does the robot stay where it stands while its
reference stands?

    python bench/bench_sim2sim_stand.py [--policy_path P [P ...]] [--motion_file M] [--clip NAME]
        [--drift_feedback_gains POS YAW] [--leg_odometry] [--out FILE.json]

The reference is a standing clip (default: `stand` of the embedded set, quiet standing with a slight
sway) streamed as the high-level server streams a clip (`clip_frames`), through the low-level
server's loop (`LowLevelSim`: the student step, the safety gate, MuJoCo at 1 kHz, the policy at
50 Hz). Cases:

- `clip`: the clip as streamed;
- `held`: its first frame held for the clip's length, a reference that does not move at all;
- `held_<group>`: the clip with one group of the 33-D reference vector held at its first frame (root
  height, roll and pitch, yaw, the velocities, the joints): which inputs set a drift off;
- `held_push_forward`, `held_push_sideways`: the held frame, and at 1 s the pelvis is pushed (its
  velocity raised by 0.2 m/s forward or to the left, as the training's pushes set it): does the robot
  stop again?

Per case: the horizontal root displacement at 2, 4 and 6 s and at the end, the heading change, the
feet's touch-downs (a foot's floor contact starting again after a lift-off) and whether the robot fell
(the sim server's `fell`: pelvis below 0.4 m). Verdict per policy: it stays if on the clip, the held frame and both pushes it
ends within 0.3 m of its start without a fall (the `held_<group>` cases are diagnostics). A robot that
steps or walks away while its reference stands is not ready for a real robot: run this before
`deploy_real/server_low_level_g1_real.py`, with the drift-feedback flags that server will get:
--drift_feedback_gains POS YAW (a student with the drift feedback played with other gains than its metadata's)
and --leg_odometry (it dead-reckons on its legs' velocity where they agree with its estimate).
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import device_name  # noqa: E402
from bench.bench_sim2sim_tracking import PolicySettings  # noqa: E402
from deploy_real.contract import NUM_MIMIC_DEPLOY, ROOT_FIELDS  # noqa: E402
from pose.g1_model import load_g1  # noqa: E402
from pose.utils.torch_utils import get_euler_xyz  # noqa: E402

#: Entries of the 33-D reference vector by group (`held_<group>` cases).
GROUPS: Dict[str, List[int]] = {
    "root_z": [ROOT_FIELDS.index("root_z")],
    "roll_pitch": [ROOT_FIELDS.index("roll"), ROOT_FIELDS.index("pitch")],
    "yaw": [ROOT_FIELDS.index("yaw")],
    "velocities": [ROOT_FIELDS.index(f) for f in ("v_x", "v_y", "v_z", "yaw_rate")],
    "joints": list(range(len(ROOT_FIELDS), NUM_MIMIC_DEPLOY)),
}
CHECK_TIMES_S = (2.0, 4.0, 6.0)
PUSH_AT_S = 1.0
PUSH_MPS = 0.2
#: (forward, left) velocity added by the push cases, in the robot's start frame.
PUSHES = {"held_push_forward": (PUSH_MPS, 0.0), "held_push_sideways": (0.0, PUSH_MPS)}
STAY_LIMIT_M = 0.3
#: The cases the verdict reads.
VERDICT_CASES = ("clip", "held") + tuple(PUSHES)


def held(refs: np.ndarray, entries: Optional[Sequence[int]] = None) -> np.ndarray:
    """`refs` (T, 33) with `entries` (default: all) held at the first frame's values."""
    out = np.array(refs, dtype=np.float64, copy=True)
    cols = slice(None) if entries is None else list(entries)
    out[:, cols] = out[0, cols]
    return out


def touch_downs(contact: np.ndarray) -> np.ndarray:
    """(F,) number of times each foot's contact (T, F) bool starts again after having been lost (the
    landing after the reset, which starts the robot just above the floor, is not counted)."""
    c = np.asarray(contact, dtype=bool)
    regained = (~c[:-1]) & c[1:]
    had_contact = np.maximum.accumulate(c[:-1], axis=0)
    return (regained & had_contact).sum(axis=0)


def play(
    policy_path,
    refs: np.ndarray,
    start_heading: float,
    push=None,
    dt: float = 0.02,
    server_flags: Optional[dict] = None,
) -> dict:
    """Stream `refs` (T, 33) through a fresh low-level sim server (robot standing at the origin facing
    `start_heading`; `server_flags`: its drift-feedback flags, LowLevelSim's `drift_feedback_gains` and
    `leg_odometry`) and measure the robot (see the module docstring). `push` (forward, left) m/s in the start
    frame: added to the pelvis velocity at PUSH_AT_S."""
    from deploy_real.server_low_level_g1_sim import LowLevelSim

    # the clip from its first frame
    server = LowLevelSim(policy_path, link=None, reference_blend_in_s=0.0, **(server_flags or {}))
    sim = server.sim
    sim.reset(heading=start_heading)
    m, d = sim.model, sim.data
    feet = [m.body(name).id for name in load_g1().feet]
    xy0 = d.qpos[0:2].copy()
    xy, contact = [], []
    push_step = int(round(PUSH_AT_S / dt))
    for k, ref in enumerate(refs):
        if push is not None and k == push_step:
            cos_h, sin_h = np.cos(start_heading), np.sin(start_heading)
            d.qvel[0:2] += [cos_h * push[0] - sin_h * push[1], sin_h * push[0] + cos_h * push[1]]  # world frame
        server.step_reference(k, ref)
        xy.append(d.qpos[0:2] - xy0)
        bodies = {int(m.geom_bodyid[d.contact[i].geom1]) for i in range(d.ncon)}
        bodies |= {int(m.geom_bodyid[d.contact[i].geom2]) for i in range(d.ncon)}
        contact.append([f in bodies for f in feet])
    drift = np.linalg.norm(np.array(xy), axis=1)
    w, x, y, z = d.qpos[3:7]  # MuJoCo wxyz
    turned = float(get_euler_xyz(torch.tensor([[x, y, z, w]]))[2][0]) - start_heading
    return {
        "drift_m_at": {
            "{:g}s".format(t): round(float(drift[int(round(t / dt)) - 1]), 3)
            for t in CHECK_TIMES_S
            if int(round(t / dt)) <= len(drift)
        },
        "drift_m_end": round(float(drift[-1]), 3),
        "heading_change_rad": round(float(np.arctan2(np.sin(turned), np.cos(turned))), 3),
        "touch_downs": [int(n) for n in touch_downs(np.array(contact))],
        "fell": bool(server.fell),
        "seconds": round(len(refs) * dt, 2),
    }


def stand_cases(policy_path, lib, clip: int, server_flags: Optional[dict] = None) -> Dict[str, dict]:
    """Every case of the module docstring for one policy on clip `clip` of `lib` (`server_flags`: see `play`)."""
    from deploy_real.server_high_level_motion_lib import clip_frames

    refs, _ = clip_frames(lib, clip)
    start_rot = lib.calc_motion_frame(torch.tensor([clip]), torch.tensor([0.0]))[1]
    start = float(get_euler_xyz(start_rot)[2][0])
    cases = {"clip": refs, "held": held(refs)}
    cases.update({"held_" + g: held(refs, entries) for g, entries in GROUPS.items()})
    out = {name: play(policy_path, r, start, server_flags=server_flags) for name, r in cases.items()}
    out.update(
        {
            name: play(policy_path, cases["held"], start, push, server_flags=server_flags)
            for name, push in PUSHES.items()
        }
    )
    return out


def failed_cases(cases: Dict[str, dict]) -> List[str]:
    """The verdict cases the robot failed (ended beyond STAY_LIMIT_M or fell); [] if it stays."""
    return [n for n in VERDICT_CASES if cases[n]["fell"] or cases[n]["drift_m_end"] > STAY_LIMIT_M]


def format_rows(policy: str, cases: Dict[str, dict]) -> List[str]:
    rows = []
    for name, r in cases.items():
        at = " ".join("{:>6.2f}".format(v) for v in r["drift_m_at"].values())
        rows.append(
            "{:<28} {:<18} {}  end {:>5.2f} m  turn {:>+5.2f} rad  touch-downs {:>2}/{:<2} {}".format(
                Path(policy).name[:28],
                name,
                at,
                r["drift_m_end"],
                r["heading_change_rad"],
                *r["touch_downs"],
                "FELL" if r["fell"] else "",
            )
        )
    return rows


def main(argv=None) -> dict:
    from deploy_real.drift_feedback import add_gains_argument, add_leg_odometry_argument
    from deploy_real.policy import SHIPPED_POLICY
    from pose.synth import default_motion_file
    from pose.utils.motion_lib_pkl import MotionLib

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--policy_path", nargs="+", default=[str(SHIPPED_POLICY)], help="exported students")
    p.add_argument("--motion_file", default=None, help="default: the embedded motion set")
    p.add_argument("--clip", default="stand", help="name of the standing clip in --motion_file")
    add_gains_argument(p)
    add_leg_odometry_argument(p)
    p.add_argument("--out", default=None, help="JSON file")
    args = p.parse_args(argv)
    motion_file = str(args.motion_file or default_motion_file())
    server_flags = {"drift_feedback_gains": args.drift_feedback_gains, "leg_odometry": args.leg_odometry}
    t0 = time.time()
    results, lines = {}, []
    for policy in args.policy_path:
        window = PolicySettings.of(policy).vel_smooth_window
        lib = MotionLib(motion_file, device="cpu", smooth_window=window)  # the stream the policy expects
        if args.clip not in lib.motion_names:
            raise SystemExit("--clip {}: not in {} (clips: {})".format(args.clip, motion_file, lib.motion_names))
        cases = stand_cases(policy, lib, lib.motion_names.index(args.clip), server_flags)
        failed = failed_cases(cases)
        results[policy] = {"stays": not failed, "failed_cases": failed, "cases": cases}
        lines += format_rows(policy, cases)
        lines.append(
            "{}: {}".format(
                Path(policy).name,
                "stays (every verdict case within {} m, no fall)".format(STAY_LIMIT_M)
                if not failed
                else "WALKS OFF or falls in {}".format(", ".join(failed)),
            )
        )
    header = "{:<28} {:<18} {}  (horizontal root displacement, m)".format(
        "policy", "case", " ".join("{:>6}".format("{:g}s".format(t)) for t in CHECK_TIMES_S)
    )
    print("\n".join([header, "-" * len(header)] + lines))
    out = {
        "benchmark": "sim2sim standing check (bench/bench_sim2sim_stand.py)",
        "date": datetime.date.today().isoformat(),
        "device_name": device_name(torch.device("cpu")),
        "command": "python bench/bench_sim2sim_stand.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "motion_file": motion_file,
        "clip": args.clip,
        "drift_feedback_gains": args.drift_feedback_gains,
        "leg_odometry": args.leg_odometry,
        "groups": {g: [int(i) for i in e] for g, e in GROUPS.items()},
        "pushes": {"at_s": PUSH_AT_S, "forward_left_mps": PUSHES},
        "stay_limit_m": STAY_LIMIT_M,
        "policies": results,
        "wall_s": round(time.time() - t0, 1),
    }
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
        print("Wrote", args.out)
    return out


if __name__ == "__main__":
    main()
