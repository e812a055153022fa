# Sourced by train_teacher.sh and train_student.sh: sets the array `launch`, the command that runs
# legged_gym/scripts/train.py. Plain: $PYTHON (default python). With --multi_gpu among the arguments:
# data-parallel, one process per GPU started by torchrun (python -m torch.distributed.run), NPROC
# processes (default: every GPU torch sees, 2 with a cpu device), --num_envs envs each.
# Usage: train_launcher "$device" "$@"
train_launcher() {
    local device=$1 arg multi_gpu=0
    shift
    launch=("${PYTHON:-python}")
    for arg in "$@"; do
        if [ "$arg" = "--multi_gpu" ]; then multi_gpu=1; fi
    done
    if [ "$multi_gpu" = 1 ]; then
        if [ -z "${NPROC:-}" ]; then
            case "$device" in
                cuda*) NPROC=$("${PYTHON:-python}" -c "import torch; print(max(torch.cuda.device_count(), 1))") ;;
                *) NPROC=2 ;;
            esac
        fi
        launch+=(-m torch.distributed.run --standalone --nproc_per_node "$NPROC")
    fi
}
