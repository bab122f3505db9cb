// Package nn is vqgen's numeric core: float32 tensors, layers with forward and
// backward passes side by side, optimizers, and safetensors checkpoints.
//
// # Conventions
//
// Tensors are dense row-major float32 arrays; images are NCHW. Layers are
// plain structs in the style of llm.c: Forward(x) computes the output and
// caches what Backward needs; Backward(dy) adds the parameter gradients into
// each Param's Grad (so several passes can accumulate; call ZeroGrad before a
// step) and returns dL/dx. The tensors a layer returns are owned by the layer
// and reused by its next call, which is what keeps a training step free of
// garbage after the first one; copy them if they must outlive that call.
//
// Matrix products go through gonum's blas.Float32 interface (Sgemm, SetBLAS
// in gemm.go); package kernels provides the default cache-blocked
// implementation with assembly micro-kernels, and the vectorised
// activations (exp, erf, tanh, sigmoid) that GELU and the gates use.
//
// # Determinism
//
// Work is spread over the batch with goroutines (see ParallelFor). Every
// reduction across the batch is split into chunks whose boundaries do not
// depend on GOMAXPROCS and summed in a fixed order, so a seeded run gives the
// same bits whatever GOMAXPROCS is. Kernel paths (AVX-512, AVX2, portable)
// differ only by float32 rounding: relative error below 1e-5 on a GEMM with
// K = 1024 (see kernels' tests).
package nn
