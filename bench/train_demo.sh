#!/usr/bin/env bash
# The GPU training demonstration behind bench/results/train_{teacher,student}_*: train the teacher on
# the embedded motion set, then distil a student from it, each through TWIST's shell scripts.
#
#   bash bench/train_demo.sh OUT_DIR TEACHER_ITERS STUDENT_ITERS [DEVICE] [NUM_ENVS]
#
# TEACHER_ITERS 0 skips the teacher and distils from the teacher already under
# $LEGGED_GYM_LOG_DIR/g1_priv_mimic/demo_teacher/; STUDENT_ITERS 0 skips the student.
# Writes OUT_DIR/{teacher,student}.log and copies each run's TensorBoard events to
# OUT_DIR/{teacher,student}/ when it ends, with each run's last checkpoint. Make the curves with
#   python bench/learning_curves.py OUT_DIR/teacher --out bench/results/NAME --device ... --command ...
# Optional environment:
#   TRAIN_ARGS="..."        extra arguments of both training runs (e.g. --motion_file M, --set KEY=VALUE)
#   TEACHER_ARGS="..."      extra arguments of the teacher run only, STUDENT_ARGS="..." of the student run
#                           only (after TRAIN_ARGS; e.g. the student's --set algorithm.dagger_coef=1.0)
#   EVAL_MOTION_FILE=M      after each stage, legged_gym/scripts/eval.py plays every clip of M from its
#                           start (--rand play) into OUT_DIR/eval_{teacher,student}/ (the student's
#                           compared with the teacher's); EVAL_ARGS="..." adds eval.py arguments
set -euo pipefail
if [ $# -lt 3 ]; then
    echo "usage: bash bench/train_demo.sh OUT_DIR TEACHER_ITERS STUDENT_ITERS [DEVICE] [NUM_ENVS]" >&2
    exit 2
fi
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out=$1
teacher_iters=$2
student_iters=$3
device=${4:-cuda:0}
num_envs=${5:-4096}
export LEGGED_GYM_LOG_DIR=${LEGGED_GYM_LOG_DIR:-/tmp/legged_gym_logs}
read -r -a train_args <<< "${TRAIN_ARGS:-}"
read -r -a eval_args <<< "${EVAL_ARGS:-}"
read -r -a teacher_args <<< "${TEACHER_ARGS:-}"
read -r -a student_args <<< "${STUDENT_ARGS:-}"
mkdir -p "$out"

last_model() {  # the run's last checkpoint (a --set runner.max_train_minutes=M run may stop early)
    ls "$1"/model_*.pt | sort -V | tail -n 1
}

evaluate() {  # evaluate TASK EXPTID OUT [extra eval.py args]
    [ -n "${EVAL_MOTION_FILE:-}" ] || return 0
    local task=$1 exptid=$2 dest=$3
    shift 3
    "${PYTHON:-python}" "$ROOT/legged_gym/scripts/eval.py" --task "$task" --exptid "$exptid" --device "$device" \
        --sim mjwarp --motion_file "$EVAL_MOTION_FILE" --rand play --out "$dest" "${eval_args[@]}" "$@" \
        > "$dest.log" 2>&1
}

if [ "$teacher_iters" -gt 0 ]; then
    bash "$ROOT/train_teacher.sh" demo_teacher "$device" --num_envs "$num_envs" \
        --max_iterations "$teacher_iters" --sim mjwarp "${train_args[@]}" "${teacher_args[@]}" > "$out/teacher.log" 2>&1
    mkdir -p "$out/teacher"
    run="$LEGGED_GYM_LOG_DIR/g1_priv_mimic/demo_teacher"
    cp "$run"/events.out.tfevents.* "$out/teacher/"
    cp "$(last_model "$run")" "$out/teacher/"
    evaluate g1_priv_mimic demo_teacher "$out/eval_teacher"
fi
if [ "$student_iters" -gt 0 ]; then
    bash "$ROOT/train_student.sh" demo_student demo_teacher "$device" --num_envs "$num_envs" \
        --max_iterations "$student_iters" --sim mjwarp "${train_args[@]}" "${student_args[@]}" > "$out/student.log" 2>&1
    mkdir -p "$out/student"
    run="$LEGGED_GYM_LOG_DIR/g1_stu_rl/demo_student"
    cp "$run"/events.out.tfevents.* "$out/student/"
    cp "$(last_model "$run")" "$out/student/"
    compare=()
    [ -f "$out/eval_teacher/eval.json" ] && compare=(--compare "$out/eval_teacher")
    evaluate g1_stu_rl demo_student "$out/eval_student" --teacher_exptid demo_teacher "${compare[@]}"
fi
