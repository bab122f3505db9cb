// # Layers and losses
//
// Linear computes y = x W^T + b over the last axis with W [Out, In], as
// PyTorch stores it. Each of its products is one GEMM over every row of the
// batch, with the weights packed once per call and bands of rows shared by
// the worker pool; the bias, a GELU (ForwardGELU) or a residual join
// (ForwardAdd) finish each band while it is in cache. Its weight gradient
// dW = dy^T x is one GEMM over all rows, so the sum over the batch is the
// GEMM's fixed-order sum and not a goroutine split's. LayerNorm's
// parameter gradients likewise sum over rows in row order per feature.
//
// Causal self-attention (nanoGPT's CausalSelfAttention) projects x [B, T, C]
// to q, k, v with one Linear C -> 3C, splits C into H heads of hs = C/H and,
// per batch and head,
//
//	S = q k^T / sqrt(hs),  P_ij = exp(S_ij - m_i) / sum_{l<=i} exp(S_il - m_i)  for j <= i, else 0,
//	out = P v,
//
// with m_i = max_{l<=i} S_il; the heads are concatenated and projected by a
// Linear C -> C. The mask makes output t a function of inputs 0..t only;
// a model that must predict t from positions before t shifts its input by a
// start token. Rows are computed in blocks (flash attention's scheme): a
// block's scores are a tile of attnBlock rows, never a T x T matrix, and
// Backward recomputes P from the kept m_i and normalisers. Backward is the
// softmax Jacobian applied row-wise: dP = dout v^T, dS_ij = P_ij (dP_ij -
// sum_l P_il dP_il), dq = dS k / sqrt(hs), dk = dS^T q / sqrt(hs), dv = P^T
// dout. For generation, a KVCache keeps the keys and values of earlier
// positions so that each new position costs O(T C) instead of re-running
// the whole sequence.
//
// # Inference
//
// Linear.Infer, LayerNorm.Infer, GELUInfer and CausalSelfAttention.
// ForwardStep are the inference paths of the same layers: a model's
// sampling pass runs its training layers through them. Their arithmetic is
// the active Arithmetic (SetArithmetic), one switch for every inference pass;
// the default, FastArithmetic, gives the bits of the training forward pass
// wherever a sum is one GEMM k block (up to 512 terms) on the AVX-512 path.
//
// Softmax is always evaluated in log space: log softmax(x)_j =
// x_j - LSE(x) with LSE(x) = m + log sum_l exp(x_l - m), m = max_l x_l.
// Every exponent is <= 0 and one is exactly 0, so the sum lies in [1, K]:
// nothing overflows for logits of any size (1e4 and beyond) and the log
// never sees 0. Cross-entropy is then LSE(x) - x_target nats, averaged over
// positions, and its gradient is softmax(x) - onehot(target) divided by the
// number of positions. The log-probabilities stay available (LogProbs,
// LogSoftmaxRows) for scoring code sequences and for sampling.
package nn
