"""Load an exported student (TorchScript `.pt` or `.onnx`, from `to_jit.sh`) as obs -> action means.

Both formats hold the observation normaliser (and the +-100 observation clip) inside: they take the
raw 1155-D observation. A student exported with its state estimate of the base velocity (the TorchScript
method `base_velocity`, the ONNX output `base_lin_vel`) gives that too: `Policy.base_velocity`, after
each call (None for other policies). `load_policy(path)` returns a `Policy` that runs one observation on the CPU:
an `.onnx` file with ONNX Runtime; a TorchScript file through `deploy_real.runtime.CpuFunction`
(exported to ONNX in memory and run by ONNX Runtime when installed, checked against TorchScript at
load; TorchScript itself otherwise or with engine "torch").

What is not such an export stops the server at start with one line naming the file and what it is: a
folder (with the exported files in it), a training checkpoint (`model_N.pt`: export it with to_jit.sh),
a file that TorchScript or ONNX Runtime cannot load (a truncated or damaged `.pt` is named so), a model
whose input is not the 1155-D student observation (a teacher's, 1318, is named so, also when its width is
only found by running it), one that fails on it or does not return 23 actions.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import numpy as np

from deploy_real.contract import NUM_DOFS
from legged_gym.envs.mdp.layout import EXPORT_METADATA_FILE, LAYOUT, read_export_sidecar

#: The policy shipped with the repository (trained on the embedded motion set; assets/README.md).
SHIPPED_POLICY = Path(__file__).resolve().parents[1] / "assets" / "twist_general_motion_tracker.pt"


class Policy:
    """`policy(obs)`: (1155,) -> (23,) float32 action means; `obs` of any real dtype (numpy float64, a torch
    tensor) is converted to the model's float32 first."""

    def __init__(
        self, path, num_obs: int = LAYOUT.n_student_obs, num_actions: int = NUM_DOFS, engine: str = "auto"
    ) -> None:
        self.path = Path(path)
        if self.path.is_dir():
            found = list(self.path.glob("*")) + list(self.path.glob("traced/*"))  # a run folder keeps them in traced/
            exports = sorted(str(p) for p in found if p.name.endswith(("-jit.pt", ".onnx")))
            raise ValueError(
                "--policy_path {}: a folder; give an exported model file{}".format(
                    path,
                    ": " + ", ".join(exports[:5]) if exports else " (export a run with `bash to_jit.sh <exptid>`)",
                )
            )
        if not self.path.is_file():
            raise FileNotFoundError(
                "--policy_path {}: no such file (export one with `bash to_jit.sh <student_exptid>`; "
                "the default is the shipped {})".format(path, SHIPPED_POLICY)
            )
        self.num_obs, self.num_actions = int(num_obs), int(num_actions)
        self._embedded_metadata: Optional[dict] = None
        #: whether the model also estimates the base velocity; the last estimate ((3,) m/s, base frame)
        self.has_base_velocity = False
        self.base_velocity: Optional[np.ndarray] = None
        suffix = self.path.suffix.lower()
        if suffix == ".onnx":
            self.engine = "onnxruntime"
            self._run = self._load_onnx()
        elif suffix in (".pt", ".jit", ".pth"):
            self._run = self._load_torchscript(engine)
        else:
            raise ValueError(
                "--policy_path {}: expected a TorchScript .pt or an .onnx file from to_jit.sh".format(path)
            )
        try:
            out = self(np.zeros(self.num_obs, dtype=np.float32))
        except Exception as e:  # an ONNX model of a dynamic width, say: onnxruntime's errors are no RuntimeError
            run = self._run
            width = self._teacher_width(lambda n: run(np.zeros(n, dtype=np.float32)))
            raise ValueError(self._width_error(width, _last_line(e)))
        if out.shape != (self.num_actions,):
            raise ValueError(
                "{}: the policy returns {} values, expected {} actions".format(path, out.size, self.num_actions)
            )
        self.base_velocity = None  # the check's estimate is no robot's

    def _load_torchscript(self, engine: str):
        import torch

        from deploy_real.runtime import CpuFunction

        torch.set_num_threads(1)  # one observation per call: threads only add latency
        extra = {EXPORT_METADATA_FILE: ""}
        try:
            module = torch.jit.load(str(self.path), map_location="cpu", _extra_files=extra).eval()
        except RuntimeError as e:
            from rsl_rl.utils.checkpoint import model_file_kind

            if model_file_kind(self.path) == "checkpoint":
                raise ValueError(
                    "{}: a training checkpoint (torch.save), not an exported model: export it with "
                    "`bash to_jit.sh <exptid>` (legged_gym/logs/<proj>/<exptid>/traced/<exptid>-<iteration>-jit.pt)".format(
                        self.path
                    )
                )
            raise ValueError("{}: not a TorchScript model ({})".format(self.path, _load_error(self.path, e)))
        width = getattr(module, "num_obs", None)  # this project's exports (CheckedPolicy) say it
        if isinstance(width, int) and width != self.num_obs:
            raise ValueError(self._width_error(width))
        try:
            with torch.inference_mode():
                module(torch.zeros(1, self.num_obs))
        except (RuntimeError, torch.jit.Error) as e:
            raise ValueError(self._width_error(self._teacher_width(lambda n: module(torch.zeros(1, n))), _last_line(e)))
        example = np.random.default_rng(0).normal(size=(1, self.num_obs)).astype(np.float32)
        self.has_base_velocity = hasattr(module, "base_velocity")
        try:
            function = CpuFunction(module, (example,), ["obs"], ["actions"], engine, name=str(self.path))
            functions = [function]
            if self.has_base_velocity:  # a student exported with its base-velocity estimate (save_jit_stu_rlbc.py):
                # base_velocity(obs) is the width check + the traced `estimator` submodule, compiled on its own
                name = "{} base_velocity".format(self.path)
                functions.append(
                    CpuFunction(module.estimator, (example,), ["obs"], ["base_lin_vel"], engine, name=name)
                )
        except (RuntimeError, torch.jit.Error) as e:  # a shape mismatch raised inside the model names the expected size
            raise ValueError("{}: {}".format(self.path, _last_line(e)))
        self.engine = function.engine
        if extra[EXPORT_METADATA_FILE]:
            try:
                self._embedded_metadata = dict(json.loads(extra[EXPORT_METADATA_FILE]))
            except (ValueError, TypeError):
                raise ValueError("{}: its {} is not a JSON object".format(self.path, EXPORT_METADATA_FILE))
        return lambda obs: tuple(f(obs.reshape(1, -1))[0][0] for f in functions)

    def _load_onnx(self):
        try:
            import onnxruntime as ort
        except ImportError:
            raise RuntimeError(
                "{}: running ONNX policies needs onnxruntime (pip install onnxruntime)".format(self.path)
            )
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        try:
            session = ort.InferenceSession(str(self.path), opts, providers=["CPUExecutionProvider"])
        except Exception as e:  # onnxruntime's own classes (InvalidProtobuf, Fail, ...), not RuntimeError
            raise ValueError("{}: ONNX Runtime cannot load it ({})".format(self.path, _last_line(e)))
        width = session.get_inputs()[0].shape[-1]  # (batch, width): an int, or a name when it is dynamic
        if isinstance(width, int) and width != self.num_obs:
            raise ValueError(self._width_error(width))
        props = session.get_modelmeta().custom_metadata_map  # every value JSON-encoded by the exporter
        if props:
            self._embedded_metadata = {k: _json_or_text(v) for k, v in props.items()}
        name = session.get_inputs()[0].name
        self.has_base_velocity = [o.name for o in session.get_outputs()][1:2] == ["base_lin_vel"]

        def run(obs: np.ndarray):
            return tuple(out[0] for out in session.run(None, {name: obs.reshape(1, -1)})[:2])

        return run

    @staticmethod
    def _teacher_width(run_zeros) -> Optional[int]:
        """The teacher's observation width when `run_zeros(width)` (the model on zeros of that width) runs on
        it, else None; for a model whose width cannot be read that failed on the student's observation."""
        import torch

        try:
            with torch.inference_mode():
                run_zeros(LAYOUT.n_teacher_obs)
        except Exception:  # any failure: not a teacher's width either
            return None
        return LAYOUT.n_teacher_obs

    def _width_error(self, width: Optional[int], error: str = "") -> str:
        """The model takes `width` inputs (None: unknown; `error` is what it raised on the server's)."""
        what = (
            "expects {} inputs".format(width)
            if width is not None
            else "fails on the {}-D observation ({})".format(self.num_obs, error)
        )
        return (
            "{}: the model {}, this server builds {} = {} reference + {} proprioception + {} x {} history (the "
            "student's observation){}".format(
                self.path,
                what,
                self.num_obs,
                LAYOUT.n_mimic_obs,
                LAYOUT.n_proprio,
                LAYOUT.history_len,
                LAYOUT.n_student_single,
                "; a teacher export?" if width == LAYOUT.n_teacher_obs else "",
            )
        )

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        obs = np.ascontiguousarray(obs, dtype=np.float32)
        if obs.shape != (self.num_obs,):
            raise ValueError("policy input must have {} entries, got shape {}".format(self.num_obs, obs.shape))
        outputs = self._run(obs)
        if self.has_base_velocity:
            self.base_velocity = np.asarray(outputs[1], dtype=np.float32)
        return np.asarray(outputs[0], dtype=np.float32)

    def metadata(self) -> Optional[dict]:
        """The export metadata: `<name>.json` beside the model if present, else what the model file holds
        (a TorchScript file's `deploy_metadata.json` extra file, an ONNX file's metadata_props); None for
        files without (TWIST's exports)."""
        meta = read_export_sidecar(self.path)
        return meta if meta is not None else self._embedded_metadata

    def sidecar_overrides(self) -> List[str]:
        """The keys whose value in the JSON beside the model differs from the one inside the model file
        (the JSON wins, `metadata()`: an edited copy, or one left from another export under this name)."""
        side = read_export_sidecar(self.path)
        inside = self._embedded_metadata
        if side is None or inside is None:
            return []
        return sorted(k for k in set(side) | set(inside) if side.get(k) != inside.get(k))


def _last_line(e: BaseException) -> str:
    """The line of an error message that says what happened (TorchScript's end with it, after the traceback)."""
    lines = [line.strip() for line in str(e).splitlines() if line.strip()]
    return lines[-1] if lines else type(e).__name__


def _load_error(path: Path, e: BaseException) -> str:
    """What TorchScript said when it could not load `path`; for a zip archive it cannot read (TorchScript
    files are zip archives), that the file is truncated or damaged, in its first sentence only."""
    first = str(e).splitlines()[0] if str(e).strip() else type(e).__name__
    if "zip archive" not in first and "miniz" not in first:
        return first
    with open(path, "rb") as f:
        zipped = f.read(4) == b"PK\x03\x04"  # a zip archive's first local header
    return "the file is truncated or damaged{}: {}".format(
        "" if zipped else ", or no zip archive as TorchScript files are", first.split(". ")[0]
    )


def _json_or_text(value: str):
    """A metadata value as the exporter wrote it (JSON), or the text itself (other exporters' values)."""
    try:
        return json.loads(value)
    except ValueError:
        return value


def load_policy(path: Optional[str] = None, engine: str = "auto") -> Policy:
    return Policy(path or SHIPPED_POLICY, engine=engine)
