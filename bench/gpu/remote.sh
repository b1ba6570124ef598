#!/usr/bin/env bash
# Runs on the GPU machine, from the repository root, with .gpu/ carried (see docs/GPU.md):
#   bash bench/gpu/remote.sh             start (or keep waiting for) the pipeline; copy results to $OUT
#   bash bench/gpu/remote.sh bench NAME… re-run named benches once the pipeline is done (fresh bundles)
# Nothing survives between machines, and a warm machine keeps /tmp for ~30 s after each call, so the
# pipeline runs in its own session (setsid) under /tmp/ss and every call waits for it up to WAIT_S
# seconds (default 540), then copies what exists into $OUT (results.json, summary.txt, logs.tar.xz).
# A call on a fresh machine starts again from scratch.
#
# Timing (H100, 2026-11-23): unpack + build ≈ 3.5 min, the benches before `endless` ≈ 1.5 min, endless
# ≈ 10 min for 4.98M tokens (the 2 × 100K scored ones take ≈ 1.1 ms/token, the rest ≈ 0.08); now
# sized to just over 4M (≈ 8.5 min): plan two back-to-back calls (WAIT_S=570), or BENCHES="…"
# without endless for one call.
# Pipeline: unpack node, node_modules, llama.cpp sources, model and corpus; build ggml-cuda for
# sm_90 (CUDA graphs ON, as llama.cpp's own build) in the background while the bandwidth probe and
# the random-weight Qwen2.5-Coder-1.5B-shaped model are made; then the benches, one at a time.
set -uo pipefail
W=/tmp/ss
C="$W/carry"
OUT="${OUT:-$W/out}"
WAIT_S="${WAIT_S:-540}"
self="$(readlink -f "${BASH_SOURCE[0]}")"
repo="$(cd "$(dirname "$self")/../.." && pwd)"
export PATH="$W/bin:/usr/local/cuda-13.0/bin:$PATH"
[ -x /usr/local/cuda-13.0/bin/nvcc ] && export CUDACXX=/usr/local/cuda-13.0/bin/nvcc
export LD_LIBRARY_PATH="/usr/local/cuda-13.0/targets/x86_64-linux/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
cudaBins="$W/node_modules/@node-llama-cpp/linux-x64-cuda/bins/linux-x64-cuda"
tiny="$W/tinycoder-16m-f16.gguf"
qwen="$W/qwen-shape.gguf"
corpus="$W/corpus.py"

log() { echo "[$(date -u +%T)] $*"; }
jget() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(eval('d'+sys.argv[2]))" "$@" 2>/dev/null; }

# One bench: stdout → logs/NAME.out, stderr → logs/NAME.err, last stdout line (JSON) → res/NAME.json.
bench_run() {
  local name="$1" limit="$2"
  shift 2
  log "bench $name: node $*"
  local t0=$(date +%s)
  local interpreter=node
  [[ "$1" == *.py ]] && interpreter=python3
  (cd "$W" && timeout "$limit" "$interpreter" "$@" --json > "$W/logs/$name.out" 2> "$W/logs/$name.err")
  local rc=$?
  if tail -n1 "$W/logs/$name.out" | python3 -c 'import json,sys; json.loads(sys.stdin.read())' 2>/dev/null; then
    tail -n1 "$W/logs/$name.out" > "$W/res/$name.json"
  fi
  log "bench $name: rc $rc, $(( $(date +%s) - t0 )) s"
  sed '$d' "$W/logs/$name.out" >> "$W/summary.txt"
  [ $rc -eq 0 ] || tail -n 5 "$W/logs/$name.err" | sed "s/^/  $name stderr: /" | tee -a "$W/summary.txt"
  echo >> "$W/summary.txt"
}

bench() {
  local bw rbw tf n L
  bw="$(jget "$W/res/bandwidth.json" "['memcpyD2D_GBs']")"
  rbw="$(jget "$W/res/bandwidth.json" "['readKernel_GBs']")"
  tf="$(jget "$W/res/make-model.json" "['torchMatmulF16Tflops']")"
  case "$1" in
    detect-auto-qwen) bench_run "$1" 120 bench/gpu/detect.mjs --model "$qwen" --backend auto ;;
    detect-auto-tinycoder) bench_run "$1" 120 bench/gpu/detect.mjs --model "$tiny" --backend auto ;;
    detect-vulkan) bench_run "$1" 120 bench/gpu/detect.mjs --model "$tiny" --backend vulkan ;;
    detect-metal) bench_run "$1" 120 bench/gpu/detect.mjs --model "$tiny" --backend metal ;;
    speed-tinycoder) bench_run "$1" 180 bench/gpu/speed.mjs --model "$tiny" --text "$corpus" --context 4096 --prompt 2048 --decode 256 --reps 3 \
        --bandwidth-gbs "${bw:-0}" --read-bandwidth-gbs "${rbw:-0}" --tflops "${tf:-0}" --label "tinycoder-16m f16" ;;
    speed-qwen) bench_run "$1" 240 bench/gpu/speed.mjs --model "$qwen" --text "$corpus" --context 4096 --prompt 2048 --decode 256 --reps 3 \
        --bandwidth-gbs "${bw:-0}" --read-bandwidth-gbs "${rbw:-0}" --tflops "${tf:-0}" --label "Qwen2.5-Coder-1.5B shape, RANDOM weights, f16" ;;
    shift-tinycoder) bench_run "$1" 180 bench/gpu/shift.mjs --model "$tiny" --text "$corpus" --context 4096 --sinks 4 --shift 256 --generate 2048 --recompute 16 --label "tinycoder-16m f16" ;;
    shift-qwen) bench_run "$1" 240 bench/gpu/shift.mjs --model "$qwen" --text "$corpus" --context 4096 --sinks 4 --shift 256 --generate 2048 --recompute 16 --label "Qwen2.5-Coder-1.5B shape, RANDOM weights, f16" ;;
    shift-qwen-512) bench_run "$1" 240 bench/gpu/shift.mjs --model "$qwen" --text "$corpus" --context 4096 --sinks 4 --shift 512 --generate 2048 --recompute 4 --label "Qwen2.5-Coder-1.5B shape, RANDOM weights, f16, 512 evicted per shift" ;;
    fim-qwen) bench_run "$1" 240 bench/gpu/fim.mjs --model "$qwen" --text "$corpus" --context 4096 --max-tokens 16 --requests 80 --label "Qwen2.5-Coder-1.5B shape, RANDOM weights, f16" ;;
    speed-qwen-greedy) bench_run "$1" 240 bench/gpu/speed.mjs --model "$qwen" --text "$corpus" --context 4096 --prompt 2048 --decode 256 --reps 3 \
        --bandwidth-gbs "${bw:-0}" --read-bandwidth-gbs "${rbw:-0}" --tflops "${tf:-0}" --temperature 0 --label "Qwen2.5-Coder-1.5B shape, RANDOM weights, f16, greedy" ;;
    speed-qwen-nographs) GGML_CUDA_DISABLE_GRAPHS=1 bench_run "$1" 240 bench/gpu/speed.mjs --model "$qwen" --text "$corpus" --context 4096 --prompt 2048 --decode 256 --reps 3 \
        --bandwidth-gbs "${bw:-0}" --read-bandwidth-gbs "${rbw:-0}" --tflops "${tf:-0}" --label "Qwen2.5-Coder-1.5B shape, RANDOM weights, f16, CUDA graphs off" ;;
    speed-qwen-nofa) bench_run "$1" 240 bench/gpu/speed.mjs --model "$qwen" --text "$corpus" --context 4096 --prompt 2048 --decode 256 --reps 3 \
        --bandwidth-gbs "${bw:-0}" --read-bandwidth-gbs "${rbw:-0}" --tflops "${tf:-0}" --flash false --label "Qwen2.5-Coder-1.5B shape, RANDOM weights, f16, flash attention off" ;;
    speed-qwen-prof) mkdir -p "$W/logs/prof" && bench_run "$1" 240 --cpu-prof --cpu-prof-dir "$W/logs/prof" --cpu-prof-interval 100 bench/gpu/speed.mjs --model "$qwen" --text "$corpus" \
        --context 4096 --prompt 2048 --decode 256 --reps 1 --bandwidth-gbs "${bw:-0}" --read-bandwidth-gbs "${rbw:-0}" --tflops "${tf:-0}" \
        --label "Qwen2.5-Coder-1.5B shape, RANDOM weights, f16, under node --cpu-prof (logs/prof)" ;;
    speed-qwen-spin) bench_run "$1" 240 bench/gpu/speed.mjs --model "$qwen" --text "$corpus" --context 4096 --prompt 2048 --decode 256 --reps 3 \
        --bandwidth-gbs "${bw:-0}" --read-bandwidth-gbs "${rbw:-0}" --tflops "${tf:-0}" --spin --label "Qwen2.5-Coder-1.5B shape, RANDOM weights, f16, event loop kept spinning" ;;
    speed-tinycoder-spin) bench_run "$1" 180 bench/gpu/speed.mjs --model "$tiny" --text "$corpus" --context 4096 --prompt 2048 --decode 256 --reps 3 \
        --bandwidth-gbs "${bw:-0}" --read-bandwidth-gbs "${rbw:-0}" --tflops "${tf:-0}" --spin --label "tinycoder-16m f16, event loop kept spinning" ;;
    anchor-tinycoder) [ -f "$W/tools.ok" ] && bench_run "$1" 240 scripts/anchor.py --bin "$W/tbuild/bin" --model "$tiny" --text "$corpus" --label "tinycoder-16m f16" \
        --server-override-kv llama.context_length=int:4096 ;;
    anchor-qwen) [ -f "$W/tools.ok" ] && bench_run "$1" 300 scripts/anchor.py --bin "$W/tbuild/bin" --model "$qwen" --text "$corpus" --label "Qwen2.5-Coder-1.5B shape, RANDOM weights, f16" ;;
    fim-tinycoder) bench_run "$1" 180 bench/gpu/fim.mjs --model "$tiny" --text "$corpus" --context 4096 --max-tokens 16 --requests 80 --label "tinycoder-16m f16" ;;
    endless)
      # N = 1 + m·L + W: the last W tokens are the same text as the first W (the corpus of L tokens
      # repeats after BOS), so their perplexities compare like with like.
      # (a file, not node -e: node-llama-cpp's binary test re-runs node with the same arguments)
      cat > "$W/count.mjs" <<'JS'
import { getLlama } from "node-llama-cpp";
import { readFileSync } from "node:fs";
const llama = await getLlama({ gpu: false, build: "never" });
const model = await llama.loadModel({ modelPath: process.argv[2] });
console.log(model.tokenize(readFileSync(process.argv[3], "utf8")).length);
JS
      L="$(cd "$W" && node count.mjs "$tiny" "$corpus" 2> "$W/logs/count.err" | tail -n1)"
      [[ "$L" =~ ^[0-9]+$ ]] || { log "endless: could not count the corpus tokens"; return; }
      # m repeats of the corpus's first Lu ≤ L tokens, Lu chosen so N lands just above the target
      # (with the whole corpus, m·L overshot 4M by ~1M tokens, ~75 s of device time).
      read -r n Lu < <(python3 -c "import math; L=$L; W=100000; T=${ENDLESS_TOKENS:-4000000}; m=math.ceil((T-1-W)/L); Lu=math.ceil((T-1-W)/m); print(1 + m*Lu + W, Lu)")
      log "endless: corpus $L tokens, repeating its first $Lu, streaming $n"
      bench_run endless "${ENDLESS_LIMIT:-1500}" bench/memory.mjs --model "$tiny" --text "$corpus" --text-tokens "$Lu" --tokens "$n" --context 512 --sinks 4 \
        --threads 4 --block 1000 --gpu --ppl-window 100000 ;;
    *) log "unknown bench $1" ;;
  esac
}

pipeline() {
  mkdir -p "$W/bin" "$W/res" "$W/logs" "$W/llama"
  log "unpack"
  xz -dc "$C/node.xz" > "$W/bin/node" && chmod +x "$W/bin/node"
  tar -xJf "$C/nm.tar.xz" -C "$W"
  tar -xJf "$C/llama-src.tar.xz" -C "$W/llama"
  mkdir -p "$W/tsrc" && tar -xJf "$C/llama-tools.tar.xz" -C "$W/tsrc" && ln -s "$W/llama/ggml" "$W/tsrc/ggml"
  xz -dc "$C/corpus.py.xz" > "$corpus"
  xz -dc "$C/tinycoder-16m-f16.gguf.xz" > "$tiny"
  cp -r "$C/bench" "$W/bench"
  log "node $(node --version), llama.cpp $(cat "$W/llama/COMMIT")"
  nvidia-smi --query-gpu=name,driver_version,memory.total,memory.used,clocks.max.sm,clocks.max.mem --format=csv > "$W/res/nvidia-smi.csv" 2>&1
  ( set -e
    touch "$W/llama/ggml/ggml.pc.in"
    cmake -S "$W/llama/ggml" -B "$W/gbuild" -DGGML_CUDA=ON -DGGML_BACKEND_DL=ON -DGGML_NATIVE=OFF -DGGML_BUILD_TESTS=OFF \
      -DGGML_BUILD_EXAMPLES=OFF -DCMAKE_CUDA_ARCHITECTURES=90 -DGGML_CUDA_GRAPHS=ON -DCMAKE_BUILD_TYPE=Release
    cmake --build "$W/gbuild" --target ggml-cuda -j16
    cp "$W/gbuild/bin/libggml-cuda.so" "$cudaBins/libggml-cuda.so"
    touch "$W/build.ok" ) > "$W/logs/build.log" 2>&1 &
  local bpid=$!
  log "build started (pid $bpid)"
  # llama.cpp's own llama-bench / llama-completion / llama-server, same commit, loading the same
  # libggml-cuda.so (GGML_BACKEND_DL): the anchors (bench/gpu/anchor.py). Built beside the ggml-cuda build
  # (not while the node benches run: a busy CPU would bend their per-token figures).
  ( set -e
    cmake -S "$W/tsrc" -B "$W/tbuild" -DCMAKE_BUILD_TYPE=Release -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF \
      -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=ON -DLLAMA_BUILD_APP=OFF -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_UI=OFF \
      -DLLAMA_USE_PREBUILT_UI=OFF -DGGML_NATIVE=OFF -DGGML_BACKEND_DL=ON -DGGML_CPU_ALL_VARIANTS=OFF
    cmake --build "$W/tbuild" --target llama-bench llama-completion llama-server ggml-cpu -j8
    while [ ! -f "$W/build.ok" ] && kill -0 "$bpid" 2>/dev/null; do sleep 2; done
    cp "$W/gbuild/bin/libggml-cuda.so" "$W/tbuild/bin/"
    touch "$W/tools.ok" ) > "$W/logs/tools-build.log" 2>&1 &
  local tpid=$!
  nvcc -O3 -arch=sm_90 -o "$W/bandwidth" "$W/scripts/bandwidth.cu" > "$W/logs/bandwidth.err" 2>&1 \
    && "$W/bandwidth" > "$W/res/bandwidth.json" 2>> "$W/logs/bandwidth.err"
  log "bandwidth: $(cat "$W/res/bandwidth.json" 2>/dev/null)"
  PYTHONPATH="$W/llama/gguf-py" python3 "$W/scripts/make_model.py" --tokenizer "$tiny" --out "$qwen" \
    > "$W/res/make-model.json" 2> "$W/logs/make-model.err"
  log "model: $(cat "$W/res/make-model.json" 2>/dev/null) $(tail -n 2 "$W/logs/make-model.err")"
  wait $bpid
  if [ ! -f "$W/build.ok" ]; then
    log "ggml-cuda build FAILED:"; tail -n 30 "$W/logs/build.log"; return 1
  fi
  log "ggml-cuda built: $(stat -c %s "$cudaBins/libggml-cuda.so") bytes"
  wait $tpid
  if [ -f "$W/tools.ok" ]; then log "llama.cpp tools built"; else log "llama.cpp tools build FAILED:"; tail -n 20 "$W/logs/tools-build.log"; fi
  for b in ${BENCHES:-detect-auto-qwen detect-auto-tinycoder detect-vulkan detect-metal speed-tinycoder speed-qwen shift-tinycoder shift-qwen fim-qwen fim-tinycoder speed-qwen-greedy speed-qwen-nographs speed-qwen-nofa speed-qwen-prof anchors endless}; do
    if [ "$b" = anchors ]; then
      bench anchor-tinycoder; bench anchor-qwen
      continue
    fi
    bench "$b"
  done
  log "pipeline done"
}

collect() {
  mkdir -p "$OUT"
  python3 - "$W" "$OUT/results.json" <<'PY'
import json, os, sys, glob
w, out = sys.argv[1], sys.argv[2]
r = {}
for f in sorted(glob.glob(os.path.join(w, "res", "*.json"))):
    try: r[os.path.basename(f)[:-5]] = json.load(open(f))
    except Exception as e: r[os.path.basename(f)[:-5]] = {"unreadable": str(e)}
try: r["nvidia-smi"] = open(os.path.join(w, "res", "nvidia-smi.csv")).read().strip()
except OSError: pass
r["uname"] = os.uname().release
try: r["llamaCppCommit"] = open(os.path.join(w, "llama", "COMMIT")).read().strip()
except OSError: pass
json.dump(r, open(out, "w"), indent=1)
PY
  { cat "$W/pipeline.log" 2>/dev/null; echo; cat "$W/summary.txt" 2>/dev/null; } > "$OUT/summary.txt"
  tar -C "$W" -cJf "$OUT/logs.tar.xz" logs pipeline.log 2>/dev/null
  if [ "${KEEP_LIB:-0}" = 1 ] && [ -f "$W/build.ok" ]; then
    xz -6 -T16 -c "$cudaBins/libggml-cuda.so" | split -b 15M - "$OUT/libggml-cuda.so.xz.part-"
  fi
}

case "${1:-run}" in
  pipeline) pipeline ;;
  bench)
    shift
    [ -f "$W/pipeline.done" ] || { echo "pipeline not done yet"; exit 1; }
    rm -rf "$W/bench" && cp -r "$repo/.gpu/bench" "$W/bench"
    cp "$repo"/bench/gpu/*.cu "$repo"/bench/gpu/*.py "$W/scripts/" 2>/dev/null
    for b in "$@"; do bench "$b" >> "$W/pipeline.log" 2>&1; done
    collect
    tail -n 60 "$OUT/summary.txt"
    ;;
  run)
    start=$(date +%s)
    if [ ! -f "$W/pipeline.started" ]; then
      rm -rf "$W" && mkdir -p "$W/scripts"
      cp -r "$repo/.gpu" "$C" && cp "$repo"/bench/gpu/remote.sh "$repo"/bench/gpu/*.cu "$repo"/bench/gpu/*.py "$W/scripts/"
      touch "$W/pipeline.started"
      setsid bash -c "bash '$W/scripts/remote.sh' pipeline; touch '$W/pipeline.done'" > "$W/pipeline.log" 2>&1 < /dev/null &
      echo "pipeline started in /tmp/ss"
    else
      echo "pipeline already running or done: waiting / collecting"
    fi
    while [ ! -f "$W/pipeline.done" ] && [ $(( $(date +%s) - start )) -lt "$WAIT_S" ]; do sleep 5; done
    collect
    [ -f "$W/pipeline.done" ] && echo "PIPELINE DONE" || echo "PIPELINE STILL RUNNING (call again within 30 s to keep the machine)"
    tail -n 80 "$OUT/summary.txt"
    ;;
esac
