#!/usr/bin/env bash
# Export a trained student to TorchScript (+ ONNX and a metadata JSON), TWIST's to_jit.sh.
# Usage: bash to_jit.sh <student_exptid> [proj_name (default g1_stu_rl)] [extra args, e.g. --checkpoint N]
# Writes legged_gym/logs/<proj_name>/<exptid>/traced/<exptid>-<iteration>-jit.pt (and .onnx, .json)
# from the latest checkpoint (or under $LEGGED_GYM_LOG_DIR). Python: $PYTHON if set, else python.
set -euo pipefail
if [ $# -lt 1 ]; then
    echo "usage: bash to_jit.sh <student_exptid> [proj_name] [extra args...]" >&2
    exit 2
fi
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
exptid=$1
shift
proj=g1_stu_rl
if [ $# -ge 1 ] && [ "${1#--}" = "$1" ]; then  # a second positional argument (not a flag): the project
    proj=$1
    shift
fi
exec "${PYTHON:-python}" "$ROOT/legged_gym/scripts/save_jit_stu_rlbc.py" --robot g1 --proj_name "$proj" \
    --exptid "$exptid" --checkpoint -1 "$@"
