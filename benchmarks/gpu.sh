#!/usr/bin/env bash
# GPU check in one go (under 5 minutes on one GPU): the MNIST CNN benchmark (rustorch facade,
# plain and bf16 autocast, against PyTorch CUDA when torch has CUDA), train_resnet.py and
# train_lm.py when present, and the GPU parity tests, with JAX_PLATFORMS=cuda. Prints one
# summary table at the end; fails at once, clearly, on a machine without a GPU.
#
#   bash benchmarks/gpu.sh            # from the repository root
#   GPU_SH_SCALE=2 bash benchmarks/gpu.sh   # twice each section's time budget
# Budgets (seconds): cnn 110, resnet 50, lm 50, tests 80: 290 s at most, under 5 minutes.
set -uo pipefail
cd "$(dirname "$0")/.."
export JAX_PLATFORMS=cuda
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"  # this checkout's rustorch, not an installed one
SCALE=${GPU_SH_SCALE:-1}
export XLA_PYTHON_CLIENT_PREALLOCATE=false  # JAX and PyTorch share the GPU in one run
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

if ! python -c "import jax, sys; sys.exit(0 if jax.devices('gpu') else 1)" >"$OUT/probe" 2>&1; then
    echo "gpu.sh: no GPU visible to JAX (JAX_PLATFORMS=cuda failed); this script needs a CUDA jaxlib" >&2
    echo "        (pip install 'jax[cuda12]') and a GPU. JAX said:" >&2
    grep -E "Error|error" "$OUT/probe" | tail -2 >&2
    exit 2
fi
GPU_NAME=$(python -c "import jax; print(jax.devices('gpu')[0].device_kind)")
TORCH_CUDA=$(python -c "import torch; print(int(torch.cuda.is_available()))" 2>/dev/null || echo 0)
CONTENDERS=facade,facade_bf16
if [ "$TORCH_CUDA" = 1 ]; then
    CONTENDERS=$CONTENDERS,torch,torch_bf16
    export BENCH_TORCH_DEVICE=cuda
fi

declare -a ROWS
run_section() {  # name, budget (s), command...: runs under the budget, keeps the figures it prints
    local name=$1; local BUDGET=$(($2 * SCALE)); shift 2
    local started=$SECONDS
    timeout "$BUDGET" "$@" >"$OUT/$name.log" 2>&1
    local rc=$?
    local status=ok
    [ $rc -eq 124 ] && status="timeout ${BUDGET}s"
    [ $rc -ne 0 ] && [ $rc -ne 124 ] && status="FAILED rc=$rc"
    ROWS+=("$(printf '%-14s %-16s %5ss  load %s' "$name" "$status" $((SECONDS - started)) "$(cut -d' ' -f1 /proc/loadavg)")")
    # The figures: the benchmark tables' contender lines, pytest's summary line.
    grep -E '^\s+(facade|functional|torch)|^== .*(median|first step)|passed|failed|error' "$OUT/$name.log" | tail -8 | sed 's/^/                 /' >"$OUT/$name.figures"
    while IFS= read -r line; do ROWS+=("$line"); done <"$OUT/$name.figures"
    if [ "$status" != ok ]; then
        echo "--- $name: last lines of its log" >&2
        tail -15 "$OUT/$name.log" >&2
    fi
}

run_section cnn 110 python benchmarks/train_cnn.py --batch-sizes 256 --rounds 1 --steps 20 --contenders "$CONTENDERS"
if [ -f benchmarks/train_resnet.py ]; then
    run_section resnet 50 python benchmarks/train_resnet.py
fi
if [ -f benchmarks/train_lm.py ]; then
    # train_lm.py's torch contender runs on the CPU: only rustorch's contenders here.
    run_section lm 50 python benchmarks/train_lm.py --models lstm,transformer --steps 5 --rounds 1 \
        --compile-lengths 35 --contenders facade,functional
fi
# GPU parity: tests marked `gpu` when the suite has the marker, else the device, precision and
# training parity files (the CPU-policy autocast tests skip themselves on a GPU backend).
if grep -q '"gpu' pyproject.toml; then
    run_section tests 80 python -m pytest -q -x -p no:cacheprovider -m gpu
else
    run_section tests 80 python -m pytest -q -x -p no:cacheprovider tests/facade/test_devices.py \
        tests/test_precision.py tests/test_amp.py tests/facade/test_training.py
fi

echo
echo "gpu.sh on $GPU_NAME (torch CUDA: $([ "$TORCH_CUDA" = 1 ] && echo yes || echo no)), samples/s or tokens/s"
printf '%-14s %-16s %6s\n' section status time
for row in "${ROWS[@]}"; do echo "$row"; done
grep -q 'FAILED\|timeout' <(printf '%s\n' "${ROWS[@]}") && exit 1
exit 0
