"""llama.cpp's block formats: gguf-py (llama.cpp's own numpy port of
ggml-quants.c) quantizes and dequantizes; its x_hat is the reference."""
import numpy as np
from gguf import GGMLQuantizationType as T
from gguf.quants import dequantize, quantize


def through(qtype):
    return lambda x: dequantize(quantize(x, qtype), qtype)


REFERENCES = {
    "q8_0": ("", through(T.Q8_0)),
    "q4_0": ("", through(T.Q4_0)),
    "q4_1": ("", through(T.Q4_1)),
    "q5_0": ("", through(T.Q5_0)),
    "q5_1": ("", through(T.Q5_1)),
}
