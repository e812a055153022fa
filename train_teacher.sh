#!/usr/bin/env bash
# Train the privileged teacher (task g1_priv_mimic), TWIST's train_teacher.sh.
# Usage: bash train_teacher.sh <exptid> <device> [extra train.py args...]
#   e.g. bash train_teacher.sh 0927_twist_teacher cuda:0
#        bash train_teacher.sh T1 cpu --num_envs 4 --max_iterations 2 --sim mjwarp
#        NPROC=2 bash train_teacher.sh T1 cuda --multi_gpu     (2 GPUs, data-parallel through torchrun)
# Logs: legged_gym/logs/g1_priv_mimic/<exptid>/ (or $LEGGED_GYM_LOG_DIR/g1_priv_mimic/<exptid>/).
# Python: $PYTHON if set, else python.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/legged_gym/scripts/train_launcher.sh"
need_args 2 "<exptid> <device> [extra train.py args...]" "$@"
exptid=$1 device=$2
shift 2
run_train g1_priv_mimic "$device" --exptid "$exptid" "$@"
