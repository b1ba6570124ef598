#!/usr/bin/env python3
"""llama.cpp's own decode rates on one model: the anchor every StreamSink figure is a ratio to.

Runs the programs built from node-llama-cpp's bundled llama.cpp source (same commit, same
libggml-cuda.so as the node benches; see remote.sh) and prints one JSON line:
  llamaBench       llama-bench tg256 at depth 2048 (decode only, no sampling), prompt pp512
  completion       llama-completion generating 256 tokens after a ~2048-token prompt, with the
                   sampler settings of bench/gpu/speed.ts (temp 0.8, top-k 40, top-p 0.95, seed 42,
                   min-p 0), greedy (--temp 0), and with --backend-sampling (GPU sampling)
  server           llama-server over HTTP: the server's own timings and the rate a streaming
                   client sees (first token to last), same prompt and sampling
Usage: anchor.py --bin DIR --model M --text corpus.py --label L [--ngl 99]
"""
import argparse
import json
import os
import re
import socket
import statistics
import subprocess
import select
import sys
import tempfile
import time
import urllib.request

p = argparse.ArgumentParser()
p.add_argument("--bin", required=True)
p.add_argument("--model", required=True)
p.add_argument("--text", required=True)
p.add_argument("--label", required=True)
p.add_argument("--ngl", default="99")
p.add_argument("--prompt-tokens", type=int, default=2048)
p.add_argument("--decode", type=int, default=256)
p.add_argument("--reps", type=int, default=3)
p.add_argument("--server-override-kv", default=None,
               help="llama-server caps a slot at the model's training context: tinycoder (512) needs llama.context_length=int:4096")
p.add_argument("--json", action="store_true", help="accepted for remote.sh; the last line is always JSON")
a = p.parse_args()

SAMPLED = ["--temp", "0.8", "--top-k", "40", "--top-p", "0.95", "--min-p", "0", "--seed", "42"]
GREEDY = ["--temp", "0"]
result = {"label": a.label, "model": os.path.basename(a.model), "errors": []}


def run(args, timeout=300):
    t0 = time.time()
    r = subprocess.run([os.path.join(a.bin, args[0])] + args[1:], capture_output=True, text=True, timeout=timeout)
    return r, time.time() - t0


def bench():
    r, _ = run(["llama-bench", "-m", a.model, "-ngl", a.ngl, "-fa", "1", "-p", "512", "-n", str(a.decode),
                "-d", "0,2048", "-r", str(a.reps), "-o", "json"])
    if r.returncode != 0:
        raise RuntimeError(f"llama-bench exit {r.returncode}: {r.stderr[-400:]}")
    rows = json.loads(r.stdout)
    out = {}
    for row in rows:
        kind = "decode" if row.get("n_gen", 0) > 0 else "prompt"
        out[f"{kind}TokPerS_depth{row.get('n_depth', 0)}"] = round(row["avg_ts"], 1)
    out["build"] = rows[0].get("build_commit") if rows else None
    return out


EVAL = re.compile(r"\beval time =\s*([\d.]+) ms /\s*(\d+) runs.*?([\d.]+) tokens per second")
PROMPT = re.compile(r"prompt eval time =\s*([\d.]+) ms /\s*(\d+) tokens.*?([\d.]+) tokens per second")
SAMPLING = re.compile(r"sampling time =\s*([\d.]+) ms")


def completion(prompt_file, extra):
    """llama-completion generating; three rates per run:
    decodeTokPerS    its own "eval time" (llama_decode calls only: no sampling, no GPU sync wait)
    generateTokPerS  eval runs / (eval time + sampling time)
    streamTokPerS    wall clock as the text streams out: tokens after the first / (last output - first output),
                     i.e. decode + sampling + sync + detokenize, what a user of llama.cpp sees (the fair
                     comparison with the engine's per-token wall time)"""
    cmd = [os.path.join(a.bin, "llama-completion"), "-m", a.model, "-ngl", a.ngl, "-fa", "on", "-c", "4096", "-f", prompt_file,
           "-n", str(a.decode), "--ignore-eos", "-no-cnv", "--no-display-prompt", "-t", "4"] + extra
    with tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err)
        stamps = []  # (time, bytes so far)
        total = 0
        fd = proc.stdout.fileno()
        deadline = time.time() + 300
        while True:
            ready, _, _ = select.select([fd], [], [], 1.0)
            if ready:
                chunk = os.read(fd, 65536)
                if not chunk:
                    break
                total += len(chunk)
                stamps.append((time.perf_counter(), total))
            if time.time() > deadline:
                proc.kill()
                raise RuntimeError("llama-completion did not finish in 300 s")
        proc.wait(30)
        err.seek(0)
        text = err.read()
    e, pe, sm = EVAL.search(text), PROMPT.search(text), SAMPLING.search(text)
    if proc.returncode != 0 or not e:
        raise RuntimeError(f"llama-completion exit {proc.returncode}: {text[-600:]}")
    eval_ms, runs = float(e.group(1)), int(e.group(2))
    sampling_ms = float(sm.group(1)) if sm else None
    out = {"decodeTokPerS": float(e.group(3)), "decodeMsPerToken": eval_ms / runs,
           "promptTokens": int(pe.group(2)) if pe else None, "promptTokPerS": float(pe.group(3)) if pe else None}
    if sampling_ms is not None:
        out["samplingMsPerToken"] = sampling_ms / (runs + 1)
        out["generateTokPerS"] = runs / (eval_ms + sampling_ms) * 1000
    # Over the last 90 % of the text (robust to anything printed before the first token): tokens in
    # proportion to bytes.
    start = next((st for st in stamps if st[1] >= 0.1 * total), None)
    if start and stamps[-1][0] > start[0]:
        out["streamTokPerS"] = runs * (total - start[1]) / total / (stamps[-1][0] - start[0])
    return out


def median_of(fn, *args):
    runs = [fn(*args) for _ in range(a.reps)]
    keys = {k for r in runs for k, v in r.items() if isinstance(v, (int, float))}
    return {k: round(statistics.median(x[k] for x in runs if isinstance(x.get(k), (int, float))), 4) for k in sorted(keys)}


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def server(prompt):
    port = free_port()
    log = open(os.path.join(os.path.dirname(os.path.abspath(a.text)), f"logs/llama-server-{os.path.basename(a.model)}.log"), "w")
    proc = subprocess.Popen([os.path.join(a.bin, "llama-server"), "-m", a.model, "-ngl", a.ngl, "-fa", "on", "-c", "4096",
                             "--host", "127.0.0.1", "--port", str(port), "--parallel", "1", "-t", "4", "--no-webui"]
                            + (["--override-kv", a.server_override_kv] if a.server_override_kv else []),
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.time() + 120
        while True:
            try:
                with urllib.request.urlopen(base + "/health", timeout=2) as h:
                    if h.status == 200:
                        break
            except Exception:
                pass
            if time.time() > deadline or proc.poll() is not None:
                raise RuntimeError("llama-server did not become healthy")
            time.sleep(0.5)
        version = None
        try:
            with urllib.request.urlopen(base + "/props", timeout=5) as h:
                version = json.loads(h.read()).get("build_info")
        except Exception:
            pass
        reps = []
        for _ in range(a.reps):
            body = {"prompt": prompt, "n_predict": a.decode, "ignore_eos": True, "temperature": 0.8, "top_k": 40,
                    "top_p": 0.95, "min_p": 0, "seed": 42, "cache_prompt": False, "stream": True}
            req = urllib.request.Request(base + "/completion", data=json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json"})
            stamps, timings = [], None
            with urllib.request.urlopen(req, timeout=300) as resp:
                for raw in resp:
                    line = raw.decode().strip()
                    if not line.startswith("data: "):
                        continue
                    msg = json.loads(line[6:])
                    stamps.append(time.perf_counter())
                    if msg.get("stop"):
                        timings = msg.get("timings")
            client = (len(stamps) - 2) / (stamps[-2] - stamps[0]) if len(stamps) > 3 else None
            reps.append({"decodeTokPerS": timings["predicted_per_second"], "clientStreamTokPerS": client,
                         "promptTokens": timings["prompt_n"]})
        out = {k: round(statistics.median(r[k] for r in reps), 2) for k in reps[0]}
        out["buildInfo"] = version
        return out
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def prompt_text():
    text = open(a.text, encoding="utf8").read()
    # Calibrate the number of characters that makes ~prompt-tokens tokens with this model's tokenizer.
    chars = a.prompt_tokens * 3
    path = os.path.join(os.path.dirname(os.path.abspath(a.text)), "anchor-prompt.txt")
    for _ in range(3):
        with open(path, "w", encoding="utf8") as f:
            f.write(text[:chars])
        r, _ = run(["llama-completion", "-m", a.model, "-ngl", a.ngl, "-c", "4096", "-f", path, "-n", "1", "-no-cnv",
                    "--no-display-prompt", "-t", "4"])
        m = PROMPT.search(r.stderr + r.stdout)
        if not m:
            raise RuntimeError(f"llama-completion (calibration) exit {r.returncode}: {(r.stderr + r.stdout)[-600:]}")
        n = int(m.group(2))
        if abs(n - a.prompt_tokens) <= 16:
            break
        chars = int(chars * a.prompt_tokens / n)
    return path, text[:chars]


for name, fn in [("llamaBench", bench)]:
    try:
        result[name] = fn()
    except Exception as e:  # each part reports on its own; one failure does not hide the others
        result["errors"].append(f"{name}: {e}")
try:
    path, prompt = prompt_text()
    result["completion"] = {}
    for variant, flags in [("sampled", SAMPLED), ("greedy", GREEDY), ("gpuSampling", SAMPLED + ["--backend-sampling"])]:
        try:
            result["completion"][variant] = median_of(completion, path, flags)
        except Exception as e:
            result["errors"].append(f"completion {variant}: {e}")
    try:
        result["server"] = server(prompt)
    except Exception as e:
        result["errors"].append(f"server: {e}")
except Exception as e:
    result["errors"].append(f"prompt: {e}")

c = result.get("completion", {})
print(f"{a.label}: llama-bench {result.get('llamaBench')}; llama-completion {c}; llama-server {result.get('server')}; "
      f"errors {result['errors']}", file=sys.stdout)
print(json.dumps(result))
