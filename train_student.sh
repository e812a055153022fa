#!/usr/bin/env bash
# Train the deployable student (task g1_stu_rl) by DAgger-PPO from a trained teacher, TWIST's train_student.sh.
# Usage: bash train_student.sh <student_exptid> <teacher_exptid> <device> [extra train.py args...]
#   e.g. bash train_student.sh 0927_twist_rlbcstu 0927_twist_teacher cuda:0
#        NPROC=2 bash train_student.sh S1 T1 cuda --multi_gpu     (2 GPUs, data-parallel through torchrun)
# The teacher is read from legged_gym/logs/g1_priv_mimic/<teacher_exptid>/model_<latest>.pt
# (--teacher_checkpoint N, --teacher_proj_name P to change). Logs: legged_gym/logs/g1_stu_rl/<student_exptid>/
# (or under $LEGGED_GYM_LOG_DIR). Python: $PYTHON if set, else python.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/legged_gym/scripts/train_launcher.sh"
need_args 3 "<student_exptid> <teacher_exptid> <device> [extra train.py args...]" "$@"
exptid=$1 teacher=$2 device=$3
shift 3
run_train g1_stu_rl "$device" --exptid "$exptid" --teacher_exptid "$teacher" "$@"
