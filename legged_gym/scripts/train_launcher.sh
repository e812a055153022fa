# Sourced by train_teacher.sh, train_student.sh, train_teacher_cmg.sh and train_student_cmg.sh: their
# argument checks and the command that runs legged_gym/scripts/train.py. Errors in the arguments print
# the usage on stderr and exit with status 2.
TRAIN_PY="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/train.py"
script=$(basename "$0")

# Usage: need_args <count> <usage of the arguments> "$@": at least <count> arguments, the first <count> of
# them no flags (a left-out positional argument, e.g. the device), else the usage.
need_args() {
    local count=$1 i
    usage="usage: bash $script $2"
    shift 2
    if [ $# -lt "$count" ]; then
        echo "$usage" >&2
        exit 2
    fi
    for ((i = 1; i <= count; i++)); do
        if [ "${!i#-}" != "${!i}" ]; then
            echo "$script: argument $i is the flag '${!i}': the positional arguments come first" >&2
            echo "$usage" >&2
            exit 2
        fi
    done
}

# Usage: check_speed_mode <mode>: a CMG speed mode (slow, medium or fast), else the usage.
check_speed_mode() {
    case "$1" in
        slow|medium|fast) ;;
        *) echo "$script: speed mode '$1': expected slow, medium or fast" >&2; echo "$usage" >&2; exit 2 ;;
    esac
}

# Usage: run_train <task> <device> [train.py args...]: train task <task> (logs under proj_name <task>) on
# <device>, replacing this shell. Plain: $PYTHON (default python). With --multi_gpu among the arguments:
# data-parallel, one process per GPU started by torchrun (python -m torch.distributed.run), NPROC processes
# (default: every GPU torch sees, 2 with a cpu device), --num_envs envs each.
run_train() {
    local task=$1 device=$2 arg
    shift 2
    local launch=("${PYTHON:-python}")
    for arg in "$@"; do
        if [ "$arg" = "--multi_gpu" ]; then
            if [ -z "${NPROC:-}" ]; then
                case "$device" in
                    cuda*) NPROC=$("${PYTHON:-python}" -c "import torch; print(max(torch.cuda.device_count(), 1))") ;;
                    *) NPROC=2 ;;
                esac
            fi
            launch+=(-m torch.distributed.run --standalone --nproc_per_node "$NPROC")
            break
        fi
    done
    exec "${launch[@]}" "$TRAIN_PY" --task "$task" --proj_name "$task" --device "$device" "$@"
}
