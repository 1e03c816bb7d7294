#!/usr/bin/env bash
# One short GPU check, two parts, about 5 minutes in all on an H100:
#   1. bench/gpu_throughput.py: samples/s and seconds per epoch for 5,000 SciFact-length pairs with all-MiniLM-L6-v2
#      and MNRL, fp32 against bf16 (fp16 where bf16 is missing), at batch 32 and 256 (timeout 200 s).
#   2. bench/gpu_train.py: the flow's own train_model on the 3-epoch mix_partial_match_bm25 SciFact recipe, fp32 and bf16, and
#      bf16 with MatryoshkaLoss (equal and 1-1-2-4 weights), each scored on SciFact test at 384/256/128/64 dims with
#      tasks/metrics.py, beside the same recipe's CPU run.
# The GPU machine has torch, transformers and sentence-transformers, but not polars, faiss, datasets, pydantic or
# Prefect; the trainer imports none of the first three or Prefect, and the rest travel as wheels. Prepare here:
#   .venv/bin/python bench/gpu_prepare.py .embedforge/gpu        # fp16 model copy + SciFact rows, about 51 MB
#   mkdir -p .whl && python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#     --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl sentence-transformers==6.2.0 \
#     datasets==5.2.0 dill==0.4.1 multiprocess==0.70.19 fsspec==2026.9.0 pydantic==2.14.4 pydantic_core==2.50.5 \
#     annotated-types==0.8.0 typing-inspection==0.4.5 typing_extensions==4.16.0    # about 4.5 MB
# then run this script there with both folders carried (.embedforge/gpu and .whl). Writes $OUT/gpu.json and
# $OUT/gpu_train.json when $OUT is set (else /tmp).
set -uo pipefail
cd "$(dirname "$0")/.."
DIR=${GPU_DIR:-.embedforge/gpu}
RESULTS=${OUT:-/tmp}
export PYTHONUNBUFFERED=1
if [ -d .whl ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site
fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
python3 -c "import torch, transformers, sentence_transformers, datasets, pyarrow; print('torch', torch.__version__, 'transformers', transformers.__version__, 'st', sentence_transformers.__version__, 'datasets', datasets.__version__, 'pyarrow', pyarrow.__version__)"
timeout 200 python3 bench/gpu_throughput.py --model "$DIR/model" --pairs 5000 --batch-size 32,256 --steps 40 --device cuda > "$RESULTS/gpu.json"
echo "throughput exit $?"; cat "$RESULTS/gpu.json"
timeout 300 python3 bench/gpu_train.py "$DIR" --runs fp32,bf16,bf16:matryoshka,bf16:matryoshka:1-1-2-4 --device cuda --json "$RESULTS/gpu_train.json" > "$RESULTS/gpu_train.log" 2>&1
echo "train exit $?"; grep '^{"run"' "$RESULTS/gpu_train.log"; cat "$RESULTS/gpu_train.json"
