#!/usr/bin/env bash
# One short GPU check (under 5 minutes): training throughput of all-MiniLM-L6-v2 with MNRL, fp32 vs bf16,
# for 5,000 SciFact-length pairs. Prepare on the development machine, then run on the device machine:
#   .venv/bin/python bench/export_model_fp16.py .embedforge/gpu-model      # ~45 MB fp16 safetensors copy
#   run(command="bash bench/gpu.sh", carry=[".embedforge/gpu-model"])      # the device tool
# The device machine has torch and sentence-transformers (no polars, datasets, faiss or Prefect), which is all
# bench/gpu_throughput.py imports. Writes $OUT/gpu.json when $OUT is set.
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=${MODEL:-.embedforge/gpu-model}
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
python -c "import torch, sentence_transformers; print('torch', torch.__version__, 'st', sentence_transformers.__version__)"
timeout 280 python bench/gpu_throughput.py --model "$MODEL" --pairs 5000 --batch-size 32 --steps 40 --device cuda | tee "${OUT:-/tmp}/gpu.json"
