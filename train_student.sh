#!/usr/bin/env bash
# Train the deployable student (task g1_stu_rl) by DAgger-PPO from a trained teacher, TWIST's train_student.sh.
# Usage: bash train_student.sh <student_exptid> <teacher_exptid> <device> [extra train.py args...]
#   e.g. bash train_student.sh 0927_twist_rlbcstu 0927_twist_teacher cuda:0
#        NPROC=2 bash train_student.sh S1 T1 cuda --multi_gpu     (2 GPUs, data-parallel through torchrun)
# The teacher is read from legged_gym/logs/g1_priv_mimic/<teacher_exptid>/model_<latest>.pt
# (--teacher_checkpoint N, --teacher_proj_name P to change). Logs: legged_gym/logs/g1_stu_rl/<student_exptid>/
# (or under $LEGGED_GYM_LOG_DIR). Python: $PYTHON if set, else python.
set -euo pipefail
if [ $# -lt 3 ]; then
    echo "usage: bash train_student.sh <student_exptid> <teacher_exptid> <device> [extra train.py args...]" >&2
    exit 2
fi
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
exptid=$1
teacher=$2
device=$3
shift 3
# --multi_gpu: data-parallel through torchrun (legged_gym/scripts/train_launcher.sh).
source "$ROOT/legged_gym/scripts/train_launcher.sh"
train_launcher "$device" "$@"
exec "${launch[@]}" "$ROOT/legged_gym/scripts/train.py" --task g1_stu_rl --proj_name g1_stu_rl \
    --exptid "$exptid" --teacher_exptid "$teacher" --device "$device" "$@"
