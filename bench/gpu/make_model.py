"""Writes a GGUF with RANDOM weights in Qwen2.5-Coder-1.5B's shape, for speed figures only.

    python3 bench/gpu/make_model.py --tokenizer tinycoder-16m-f16.gguf --out qwen-shape.gguf

Shape: qwen2 architecture, d 1536, 28 layers, 12 heads / 2 KV heads (head dim 128), ffn 8960,
vocab 151936, rope theta 1e6, tied embeddings (as Qwen2.5-Coder-1.5B), f16 matrices, f32 norms and
q/k/v biases. The tokenizer is tinycoder's (SentencePiece, 8192 pieces, FIM tokens) padded to
151936 with NORMAL placeholder pieces "<|pad_N|>" that no text produces, so that prompts tokenize
like tinycoder's and every generated id decodes to text. Speed does not depend on weight values;
never use this file for quality figures. Also prints one JSON line with a torch f16 matmul rate
(the compute ceiling for prompt processing). Needs gguf-py (llama.cpp's, on PYTHONPATH), torch.
"""
import argparse
import json
import time

import numpy as np
from gguf import GGUFReader, GGUFWriter, GGMLQuantizationType  # noqa: F401

p = argparse.ArgumentParser()
p.add_argument("--tokenizer", required=True)
p.add_argument("--out", required=True)
p.add_argument("--vocab", type=int, default=151936)
p.add_argument("--d", type=int, default=1536)
p.add_argument("--layers", type=int, default=28)
p.add_argument("--heads", type=int, default=12)
p.add_argument("--kv-heads", type=int, default=2)
p.add_argument("--ffn", type=int, default=8960)
a = p.parse_args()

try:
    import torch
except ImportError:  # a small local check of the file format without torch
    torch = None
dev = "cuda" if torch is not None and torch.cuda.is_available() else "cpu"
t0 = time.time()

# matmul ceiling (f16, random data, median of 10 after 3 warm-ups)
tflops = None
if dev == "cuda":
    n = 8192
    x = torch.randn(n, n, device=dev, dtype=torch.float16)
    y = torch.randn(n, n, device=dev, dtype=torch.float16)
    for _ in range(3):
        x @ y
    torch.cuda.synchronize()
    times = []
    for _ in range(10):
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        s.record()
        x @ y
        e.record()
        e.synchronize()
        times.append(s.elapsed_time(e))
    times.sort()
    tflops = 2 * n**3 / ((times[4] + times[5]) / 2 / 1e3) / 1e12
    del x, y

r = GGUFReader(a.tokenizer)


def field(name):
    f = r.fields[name]
    return f.contents()


tokens = list(field("tokenizer.ggml.tokens"))
scores = list(field("tokenizer.ggml.scores"))
types = list(field("tokenizer.ggml.token_type"))
base = len(tokens)
for i in range(base, a.vocab):
    tokens.append(f"<|pad_{i}|>")
    scores.append(-1e9)
    types.append(1)  # NORMAL

w = GGUFWriter(a.out, "qwen2")
w.add_name("random-weights qwen2.5-coder-1.5b shape")
w.add_context_length(32768)
w.add_embedding_length(a.d)
w.add_block_count(a.layers)
w.add_feed_forward_length(a.ffn)
w.add_head_count(a.heads)
w.add_head_count_kv(a.kv_heads)
w.add_rope_freq_base(1e6)
w.add_layer_norm_rms_eps(1e-6)
w.add_file_type(1)  # MOSTLY_F16
w.add_tokenizer_model("llama")
w.add_token_list(tokens)
w.add_token_scores(scores)
w.add_token_types(types)
for key, adder in [
    ("tokenizer.ggml.bos_token_id", w.add_bos_token_id),
    ("tokenizer.ggml.eos_token_id", w.add_eos_token_id),
    ("tokenizer.ggml.unknown_token_id", w.add_unk_token_id),
    ("tokenizer.ggml.add_bos_token", w.add_add_bos_token),
    ("tokenizer.ggml.add_eos_token", w.add_add_eos_token),
    ("tokenizer.ggml.add_space_prefix", w.add_add_space_prefix),
]:
    if key in r.fields:
        adder(field(key))
for key in ["tokenizer.ggml.fim_pre_token_id", "tokenizer.ggml.fim_suf_token_id", "tokenizer.ggml.fim_mid_token_id"]:
    if key in r.fields:
        w.add_uint32(key, int(field(key)))

if torch is not None:
    gen = torch.Generator(device=dev).manual_seed(1234)

    def rand(*shape):
        return (torch.randn(*shape, generator=gen, device=dev, dtype=torch.float16) * 0.02).cpu().numpy()
else:
    rng = np.random.default_rng(1234)

    def rand(*shape):
        return (rng.standard_normal(shape, dtype=np.float32) * 0.02).astype(np.float16)


def ones(n):
    return np.ones(n, dtype=np.float32)


kv = a.d // a.heads * a.kv_heads
params = 0


def add(name, arr):
    global params
    params += arr.size
    w.add_tensor(name, arr)


add("token_embd.weight", rand(a.vocab, a.d))
for i in range(a.layers):
    b = f"blk.{i}."
    add(b + "attn_norm.weight", ones(a.d))
    add(b + "attn_q.weight", rand(a.d, a.d))
    add(b + "attn_q.bias", np.zeros(a.d, dtype=np.float32))
    add(b + "attn_k.weight", rand(kv, a.d))
    add(b + "attn_k.bias", np.zeros(kv, dtype=np.float32))
    add(b + "attn_v.weight", rand(kv, a.d))
    add(b + "attn_v.bias", np.zeros(kv, dtype=np.float32))
    add(b + "attn_output.weight", rand(a.d, a.d))
    add(b + "ffn_norm.weight", ones(a.d))
    add(b + "ffn_gate.weight", rand(a.ffn, a.d))
    add(b + "ffn_up.weight", rand(a.ffn, a.d))
    add(b + "ffn_down.weight", rand(a.d, a.ffn))
add("output_norm.weight", ones(a.d))

w.write_header_to_file()
w.write_kv_data_to_file()
w.write_tensors_to_file()
w.close()
print(json.dumps({
    "bench": "gpu-make-model",
    "out": a.out,
    "weights": "random (normal, std 0.02), seed 1234",
    "shape": {"arch": "qwen2", "d": a.d, "layers": a.layers, "heads": a.heads, "kvHeads": a.kv_heads,
              "ffn": a.ffn, "vocab": a.vocab, "ropeTheta": 1e6, "tiedEmbeddings": True},
    "params": params,
    "tokenizer": f"tinycoder's {base} pieces + {a.vocab - base} placeholders",
    "seconds": round(time.time() - t0, 1),
    "torchMatmulF16Tflops": round(tflops, 1) if tflops else None,
}))
