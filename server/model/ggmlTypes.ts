// Elements per block and bytes per block of the GGML tensor types a GGUF file may use (ggml.c
// type_traits; ids from ggml.h). Ids that ggml removed (4, 5, 31-33, 36-38) are absent: such a
// tensor is refused as an unknown type, as llama.cpp refuses it.
export interface GgmlTypeTraits {
  name: string;
  blockElements: number;
  blockBytes: number;
}

const k = 256; // QK_K

function traits(name: string, blockElements: number, blockBytes: number): GgmlTypeTraits {
  return { name, blockElements, blockBytes };
}

export const ggmlTypeTraits: Readonly<Record<number, GgmlTypeTraits>> = {
  0: traits("F32", 1, 4),
  1: traits("F16", 1, 2),
  2: traits("Q4_0", 32, 18),
  3: traits("Q4_1", 32, 20),
  6: traits("Q5_0", 32, 22),
  7: traits("Q5_1", 32, 24),
  8: traits("Q8_0", 32, 34),
  9: traits("Q8_1", 32, 36),
  10: traits("Q2_K", k, 84),
  11: traits("Q3_K", k, 110),
  12: traits("Q4_K", k, 144),
  13: traits("Q5_K", k, 176),
  14: traits("Q6_K", k, 210),
  15: traits("Q8_K", k, 292),
  16: traits("IQ2_XXS", k, 66),
  17: traits("IQ2_XS", k, 74),
  18: traits("IQ3_XXS", k, 98),
  19: traits("IQ1_S", k, 50),
  20: traits("IQ4_NL", 32, 18),
  21: traits("IQ3_S", k, 110),
  22: traits("IQ2_S", k, 82),
  23: traits("IQ4_XS", k, 136),
  24: traits("I8", 1, 1),
  25: traits("I16", 1, 2),
  26: traits("I32", 1, 4),
  27: traits("I64", 1, 8),
  28: traits("F64", 1, 8),
  29: traits("IQ1_M", k, 56),
  30: traits("BF16", 1, 2),
  34: traits("TQ1_0", k, 54),
  35: traits("TQ2_0", k, 66),
  39: traits("MXFP4", 32, 17),
};
