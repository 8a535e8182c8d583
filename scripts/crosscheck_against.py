"""Checks `scan ORIGINAL --against QUANTIZED` against numpy and gguf-py.

A tiny llama-style checkpoint (config.json with model_type llama, 2 layers,
hidden 64, 4 heads, 2 kv heads, Hugging Face names) is made with numpy, and
its GGUF with gguf-py's GGUFWriter as llama.cpp's converter would write it:
names through gguf.TensorNameMap, q_proj/k_proj rows permuted exactly as
`LlamaModel.permute`, norms F32, the embedding F16, the other matrices
Q8_0 or Q4_0 (gguf.quants.quantize). The expected figures are computed in
numpy (float64) between the original and gguf.quants.dequantize of each
tensor with the permutation undone, and must equal ours to 1e-9 relative
(max|e| exactly). The same values written as a safetensors of dequantized
values under the Hugging Face names must give the same figures.
Run from the repository root after `cargo build --release`:
    python3 scripts/crosscheck_against.py [seed]
"""
import json, os, subprocess, sys, tempfile

import numpy as np
import gguf
from gguf import GGMLQuantizationType as T
from gguf.quants import dequantize, quantize
from safetensors.numpy import save_file

BIN = os.environ.get("QMC_TUI", "target/release/qmc-tui")
LAYERS, HIDDEN, HEADS, KV_HEADS, FFN, VOCAB = 2, 64, 4, 2, 128, 96
HEAD_DIM = HIDDEN // HEADS


def original(seed):
    rng = np.random.default_rng(seed)
    m = lambda rows, cols: (rng.standard_normal((rows, cols)) * 0.05).astype(np.float32)
    t = {"model.embed_tokens.weight": m(VOCAB, HIDDEN), "model.norm.weight": rng.uniform(0.5, 1.5, HIDDEN).astype(np.float32),
         "lm_head.weight": m(VOCAB, HIDDEN)}
    for i in range(LAYERS):
        p = f"model.layers.{i}."
        t[p + "input_layernorm.weight"] = rng.uniform(0.5, 1.5, HIDDEN).astype(np.float32)
        t[p + "post_attention_layernorm.weight"] = rng.uniform(0.5, 1.5, HIDDEN).astype(np.float32)
        t[p + "self_attn.q_proj.weight"] = m(HEADS * HEAD_DIM, HIDDEN)
        t[p + "self_attn.k_proj.weight"] = m(KV_HEADS * HEAD_DIM, HIDDEN)
        t[p + "self_attn.v_proj.weight"] = m(KV_HEADS * HEAD_DIM, HIDDEN)
        t[p + "self_attn.o_proj.weight"] = m(HIDDEN, HEADS * HEAD_DIM)
        t[p + "mlp.gate_proj.weight"] = m(FFN, HIDDEN)
        t[p + "mlp.up_proj.weight"] = m(FFN, HIDDEN)
        t[p + "mlp.down_proj.weight"] = m(HIDDEN, FFN)
    t["model.layers.0.mlp.up_proj.weight"][3, 5] = 0.9  # an outlier for q4_0 to lose
    return t


def permute(w, n_head, n_head_kv):
    """convert_hf_to_gguf.py's LlamaModel.permute, in numpy."""
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def unpermute(w, n_head):
    return w.reshape(n_head, w.shape[0] // n_head // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def ggml_type(name, i):
    if name.endswith("norm.weight"):
        return T.F32
    if name == "model.embed_tokens.weight":
        return T.F16
    return (T.Q8_0, T.Q4_0)[i % 2]


def write_gguf(tensors, path):
    names = gguf.TensorNameMap(gguf.MODEL_ARCH.LLAMA, LAYERS)
    w = gguf.GGUFWriter(path, "llama")
    w.add_block_count(LAYERS)
    w.add_head_count(HEADS)
    w.add_head_count_kv(KV_HEADS)
    w.add_embedding_length(HIDDEN)
    decoded, gguf_names = {}, {}
    for i, (name, x) in enumerate(tensors.items()):
        target = names.get_name(name, try_suffixes=(".weight", ".bias"))
        assert target is not None, name
        gguf_names[name] = target
        data = x
        if name.endswith("q_proj.weight"):
            data = permute(x, HEADS, HEADS)
        elif name.endswith("k_proj.weight"):
            data = permute(x, HEADS, KV_HEADS)
        qtype = ggml_type(name, i)
        if qtype == T.F32:
            raw = data.astype(np.float32)
            w.add_tensor(target, raw)
        elif qtype == T.F16:
            raw = data.astype(np.float16)
            w.add_tensor(target, raw)
        else:
            raw = quantize(data, qtype)
            w.add_tensor(target, raw, raw_shape=raw.shape, raw_dtype=qtype)
        back = dequantize(raw, qtype).reshape(x.shape).astype(np.float32)
        if name.endswith("q_proj.weight"):
            back = unpermute(back, HEADS)
        elif name.endswith("k_proj.weight"):
            back = unpermute(back, KV_HEADS)
        decoded[name] = (back, qtype.name.lower(), raw.nbytes)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return decoded, gguf_names


def expected(x, xh):
    x, xh = x.astype(np.float64).ravel(), xh.astype(np.float64).ravel()
    e = x - xh
    sx, se = (x * x).sum(), (e * e).sum()
    return {"sqnr_db": None if se == 0 else 10 * np.log10(sx / se), "rel_rmse": np.sqrt(se / sx),
            "max_abs_error": np.abs(e).max(), "cosine": (x * xh).sum() / np.sqrt(sx * (xh * xh).sum()),
            "signal": sx, "noise": se}


def close(a, b, what):
    if a is None or b is None:
        assert a is None and b is None, f"{what}: {a} vs {b}"
        return
    assert abs(a - b) <= 1e-9 * max(abs(b), 1e-300), f"{what}: ours {a!r}, numpy {b!r}"


def check(report, tensors, decoded, gguf_names, path, is_gguf):
    a = report["against"]
    assert a["path"] == path
    ours = {t["name"]: t for t in a["tensors"]}
    assert set(ours) == set(tensors), sorted(set(tensors) ^ set(ours))
    assert a["unmatched"] == [], a["unmatched"]
    signal = noise = 0.0
    nbytes = count = 0
    for name, x in tensors.items():
        xh, type_name, raw_bytes = decoded[name]
        t, want = ours[name], expected(x, xh)
        assert t["quantized_name"] == (gguf_names[name] if is_gguf else name), t
        assert t["type"] == (type_name if is_gguf else "f32"), t
        for key in ("sqnr_db", "rel_rmse", "cosine"):
            close(t[key], want[key], f"{name} {key}")
        assert t["max_abs_error"] == want["max_abs_error"], (name, t["max_abs_error"], want["max_abs_error"])
        if x.ndim >= 2:
            signal, noise = signal + want["signal"], noise + want["noise"]
            nbytes += raw_bytes if is_gguf else x.size * 4
            count += x.size
    totals = a["totals"]
    assert totals["bytes"] == nbytes, (totals, nbytes)
    close(totals["bpw"], nbytes * 8 / count, "totals bpw")
    close(totals["sqnr_db"], 10 * np.log10(signal / noise), "totals sqnr_db")
    plan = a["plan_at_same_size"]
    assert plan is not None and plan["bpw"] <= totals["bpw"] + 1e-12, (plan, totals)
    assert set(plan["assignments"]) == {n for n, x in tensors.items() if x.ndim >= 2}
    return totals, plan


def run(*args):
    return json.loads(subprocess.check_output([BIN, *args], stderr=subprocess.PIPE))


def main():
    seed = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    tensors = original(seed)
    with tempfile.TemporaryDirectory() as tmp:
        with open(f"{tmp}/config.json", "w") as f:
            json.dump({"model_type": "llama", "num_hidden_layers": LAYERS, "hidden_size": HIDDEN,
                       "num_attention_heads": HEADS, "num_key_value_heads": KV_HEADS}, f)
        model = f"{tmp}/model.safetensors"
        save_file(tensors, model)
        gguf_path = f"{tmp}/model.gguf"
        decoded, gguf_names = write_gguf(tensors, gguf_path)
        # The same decoded values, as `scan --dequantized` would write them.
        deq = f"{tmp}/dequantized.safetensors"
        save_file({n: d[0] for n, d in decoded.items()}, deq)
        st_totals, _ = check(run("scan", model, "--against", deq, "--format", "json"), tensors, decoded, gguf_names, deq, False)
        g_totals, plan = check(run("scan", model, "--against", gguf_path, "--format", "json"), tensors, decoded, gguf_names,
                               gguf_path, True)
        close(st_totals["sqnr_db"], g_totals["sqnr_db"], "the same values from either file")
        # Exact: an all-F32 GGUF of the model, q/k permuted as the converter does.
        f32 = f"{tmp}/f32.gguf"
        w = gguf.GGUFWriter(f32, "llama")
        w.add_head_count(HEADS)
        w.add_head_count_kv(KV_HEADS)
        for name, x in tensors.items():
            data = permute(x, HEADS, HEADS) if "q_proj" in name else permute(x, HEADS, KV_HEADS) if "k_proj" in name else x
            w.add_tensor(gguf_names[name], data)
        w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()
        exact = run("scan", model, "--against", f32, "--format", "json")["against"]
        bad = [t["name"] for t in exact["tensors"] if t["sqnr_db"] is not None or t["max_abs_error"] != 0]
        assert not bad and len(exact["tensors"]) == len(tensors), bad
    print(f"crosscheck_against seed {seed}: {len(tensors)} tensors match numpy/gguf-py (GGUF and dequantized safetensors); "
          f"totals {g_totals['bpw']:.4f} bpw {g_totals['sqnr_db']:.4f} dB, plan at the same size {plan['bpw']:.4f} bpw "
          f"{plan['sqnr_db']:.4f} dB; the F32 GGUF is exact")


if __name__ == "__main__":
    main()
