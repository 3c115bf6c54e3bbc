#pragma once
// export_decoder: a causal LM's prefill and decode-step graphs in one model file, for greedy
// generation by the standalone runtime (doppel::runtime::Generator, doppel-run --generate,
// doppel-serve's generate endpoint) without the eager layer. Layout: graph/FORMAT.md, "Decoder
// files".
#include <string>

#include "doppel/graph/export.h"
#include "doppel/models/causal_lm.h"

namespace doppel::models {

// Writes the prefill graph as "inference" (the graph doppel-run and doppel-serve's :predict run
// by default; input_ids, attention_mask, position_ids [batch, seq] int64 →
// logits [batch, seq, vocab], key.i / value.i [batch, kv_heads, seq, head_dim]) and "decode"
// (input_ids, position_ids [batch, 1], past_mask [batch, past], the cache's key.i / value.i
// [batch, kv_heads, past, head_dim] → logits [batch, 1, vocab] and the cache grown by the new
// token), with symbolic batch, seq and past, over the model's weights stored once. The
// metadata records the decoder (doppel.decoder = layer count) and the model's eos/pad token
// ids. `options` gives the file's metadata, producer and call sites.
void export_decoder(CausalLM& model, const std::string& path, const ExportOptions& options = {});

}  // namespace doppel::models
