#!/usr/bin/env bash
# Packs everything the GPU machine needs into the git-ignored .gpu/ folder (carried by the device
# call as ONE path). Run here, from anywhere:  bash bench/gpu/prepare.sh
# Light on the shared CPU: one xz thread; outputs are reused when their inputs did not change.
#
# .gpu/node.xz            this machine's node 20 binary (the GPU machine has no node)
# .gpu/nm.tar.xz          node-llama-cpp + its runtime dependencies, only the linux-x64 (CPU) and
#                         linux-x64-cuda binaries, WITHOUT the 159 MB libggml-cuda.so (built there
#                         for sm_90) and without llama/gitRelease.bundle
# .gpu/llama-src.tar.xz   ggml/ (CPU + CUDA backends only) and gguf-py/ from the same llama.cpp commit
#                         node-llama-cpp's binaries were built from (llama/gitRelease.bundle)
# .gpu/llama-tools.tar.xz the rest of that commit's source that llama-bench, llama-completion and
#                         llama-server need (built there against the same ggml; the anchor figures)
# .gpu/bench/*.mjs        bench/gpu/*.ts bundled with esbuild (node-llama-cpp external; shared code in chunk-*.mjs)
# .gpu/tinycoder-16m-f16.gguf.xz, .gpu/corpus.py.xz   model (never committed) and held-out text
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
g=.gpu
mkdir -p "$g/bench"
models="$(cd "$root/.." && pwd)/shared/models"
corpusBytes="${CORPUS_BYTES:-4000000}"

# 1. node
if [ ! -s "$g/node.xz" ] || [ "$(command -v node)" -nt "$g/node.xz" ]; then
  echo "node.xz: compressing $(command -v node) ($(node --version))"
  xz -6 -T1 -c "$(readlink -f "$(command -v node)")" > "$g/node.xz.tmp" && mv "$g/node.xz.tmp" "$g/node.xz"
fi

# 2. slim node_modules: the runtime dependency closure of node-llama-cpp
if [ ! -s "$g/nm.tar.xz" ] || [ package-lock.json -nt "$g/nm.tar.xz" ]; then
  node -e '
    const fs = require("fs"), path = require("path");
    const keep = new Set(["@node-llama-cpp/linux-x64", "@node-llama-cpp/linux-x64-cuda"]);
    const seen = new Set();
    function resolve(name, from) {
      for (let dir = from; ; dir = path.dirname(dir)) {
        const p = path.join(dir, "node_modules", name);
        if (fs.existsSync(path.join(p, "package.json"))) return p;
        if (dir === path.dirname(dir) || dir === ".") return null;
      }
    }
    function walk(dir) {
      if (seen.has(dir)) return;
      seen.add(dir);
      const pkg = JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8"));
      const deps = Object.keys(pkg.dependencies || {});
      for (const d of Object.keys(pkg.optionalDependencies || {})) if (!d.startsWith("@node-llama-cpp/") || keep.has(d)) deps.push(d);
      for (const d of deps) { const p = resolve(d, dir); if (p) walk(p); }
    }
    walk(path.resolve("node_modules/node-llama-cpp"));
    fs.writeFileSync(".gpu/nm.list", [...seen].map((d) => path.relative(process.cwd(), d)).sort().join("\n") + "\n");
  '
  echo "nm.tar.xz: $(wc -l < "$g/nm.list") packages"
  tar -cf - --exclude='node-llama-cpp/llama/gitRelease.bundle' --exclude='*/libggml-cuda.so' \
      --exclude='*.map' --exclude='*.d.ts' --exclude='*.md' -T "$g/nm.list" \
    | xz -9 -T1 > "$g/nm.tar.xz.tmp" && mv "$g/nm.tar.xz.tmp" "$g/nm.tar.xz"  # -9: 64 MiB window dedupes the CPU libs both packages share
fi

# 3. llama.cpp sources of the same commit: ggml/ without unused backends, gguf-py/
bundle=node_modules/node-llama-cpp/llama/gitRelease.bundle
if [ ! -s "$g/llama-src.tar.xz" ] || [ "$bundle" -nt "$g/llama-src.tar.xz" ]; then
  tmp="$(mktemp -d)"
  git clone -q "$bundle" "$tmp/src" 2>/dev/null
  (cd "$tmp/src" && git log -1 --format='%H' > COMMIT)
  b=ggml/src
  tar -C "$tmp/src" -cf - --exclude="$b/ggml-vulkan" --exclude="$b/ggml-sycl" --exclude="$b/ggml-metal" \
      --exclude="$b/ggml-cann" --exclude="$b/ggml-opencl" --exclude="$b/ggml-webgpu" --exclude="$b/ggml-musa" \
      --exclude="$b/ggml-zdnn" --exclude="$b/ggml-hexagon" --exclude="$b/ggml-kompute" --exclude="$b/ggml-rpc" \
      --exclude="$b/ggml-zendnn" --exclude="$b/ggml-openvino" --exclude="$b/ggml-virtgpu" --exclude="$b/ggml-et" --exclude="$b/ggml-hip" \
      COMMIT ggml gguf-py \
    | xz -6 -T1 > "$g/llama-src.tar.xz"
  rm -rf "$tmp"
fi

# 3b. llama.cpp's own programs, same commit: everything but ggml/ (unpacked beside it there), with a
#     tools/CMakeLists.txt that adds only what the anchors need
if [ ! -s "$g/llama-tools.tar.xz" ] || [ "$bundle" -nt "$g/llama-tools.tar.xz" ] || [ bench/gpu/prepare.sh -nt "$g/llama-tools.tar.xz" ]; then
  tmp="$(mktemp -d)"
  git clone -q "$bundle" "$tmp/src" 2>/dev/null
  cat > "$tmp/src/tools/CMakeLists.txt" <<'CMAKE'
# StreamSink GPU pipeline: only the programs the anchor figures need (bench/gpu/prepare.sh)
find_package(Threads REQUIRED)
llama_add_compile_flags()
add_subdirectory(mtmd)
add_subdirectory(llama-bench)
add_subdirectory(completion)
if (LLAMA_BUILD_SERVER)
    add_subdirectory(ui)
    add_subdirectory(server)
endif()
CMAKE
  tar -C "$tmp/src" -cf - --exclude='tools/server/tests' --exclude='tools/server/bench' \
      CMakeLists.txt cmake src include common vendor licenses LICENSE scripts/ui-assets.cmake \
      tools/CMakeLists.txt tools/mtmd tools/llama-bench tools/completion tools/server \
      tools/ui/CMakeLists.txt tools/ui/ui.cpp.in tools/ui/ui.h.in \
    | xz -9 -T1 > "$g/llama-tools.tar.xz.tmp" && mv "$g/llama-tools.tar.xz.tmp" "$g/llama-tools.tar.xz"
  rm -rf "$tmp"
fi

# 4. model and held-out corpus (never committed: .gpu/ is git-ignored)
# (xz: 31.7 → 28.7 MB, what lets everything fit in the 64 MiB a call carries)
rm -f "$g/tinycoder-16m-f16.gguf"
if [ ! -s "$g/tinycoder-16m-f16.gguf.xz" ] || [ "$models/tinycoder-16m-f16.gguf" -nt "$g/tinycoder-16m-f16.gguf.xz" ]; then
  xz -3 -T1 -c "$models/tinycoder-16m-f16.gguf" > "$g/tinycoder-16m-f16.gguf.xz.tmp" && mv "$g/tinycoder-16m-f16.gguf.xz.tmp" "$g/tinycoder-16m-f16.gguf.xz"
fi
if [ ! -s "$g/corpus.py.xz" ]; then
  npx tsx bench/corpus.ts --out "$g/corpus.py" --max-bytes "$corpusBytes" | tee "$g/corpus.txt"
  xz -6 -T1 -f "$g/corpus.py"
fi

rm -rf "$g/smoke"  # local smoke bundles (GPU_BENCH_CPU=1) must not travel

# 5. bench entry points (bench/memory.ts is the engine owner's endless-stream bench, run there too)
rm -rf "$g/bench"
npx esbuild bench/gpu/detect.ts bench/gpu/speed.ts bench/gpu/shift.ts bench/gpu/fim.ts bench/memory.ts \
  --bundle --splitting --platform=node --format=esm --target=node20 --outbase=bench \
  --external:node-llama-cpp --outdir="$g/bench" --out-extension:.js=.mjs --log-level=warning \
  --banner:js="import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);"

find "$g" -type f ! -name '*.tmp' ! -name nm.list ! -name corpus.txt ! -path '*/out/*' -printf '%s %p\n' | sort -k2 \
  | awk '{t+=$1; printf "%10d  %s\n", $1, $2} END {printf "%10d  total (%.1f MiB; limit 64 MiB with the working tree)\n", t, t/1048576}'
