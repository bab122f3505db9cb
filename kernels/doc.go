// Package kernels holds vqgen's hot loops: a cache-blocked single-precision
// GEMM with assembly micro-kernels (AVX-512, AVX2+FMA) chosen at run time,
// and gonum's pure-Go Sgemm as the portable fallback (selected on other
// CPUs and by the noasm build tag). PackedA and PackedB pack a GEMM's left
// or right operand once for many products (a layer's weights). Gemm cuts
// one product into parts of whole tiles for goroutines the caller runs
// (package nn's pool), bit-identical to Sgemm, and can add a bias row to
// each tile as it is stored (SetBias). VecMat is the one-row product
// (attention over a key/value cache). SgemmPackedASource and
// SgemmSource take op(B) from a PanelSource that writes the packed panels
// itself: a convolution's patch matrix gathered straight from the images
// (GatherPattern, GatherGrid) instead of written out by im2col and copied
// again. Besides the GEMM: masked-vector row movers for im2col/col2im on
// small images (RowsGather, RowsScatterAdd), the conv epilogue (BiasRows:
// bias, ReLU and a residual on the way to NCHW), the nearest-code argmin
// (ArgminColumns) and ReLU (Relu, ReluBackward), all exact, with portable
// loops as their twins. The element-wise activations (act.go) and the row
// kernels of attention and LayerNorm (SoftmaxRow, SoftmaxAgain,
// SoftmaxGrad, RowMax, ExpSum: softmax.go; LayerNormRow, LayerNormGradRow,
// LayerNormParamGrad: layernorm.go) follow one scalar reference formula
// each, vectorised by _genact; their paths differ by rounding where they
// sum.
//
// # The blocked product
//
// C = alpha*op(A)*op(B) + beta*C with op(A) m x k and op(B) k x n, all
// row-major, is split the GotoBLAS/BLIS way. The k dimension is cut into
// blocks of at most kcMax; for each block, a kc x nc slab of op(B) is copied
// ("packed") into nr-column micro-panels stored k-major, sized to stay in L2,
// and an mc x kc slab of op(A) into mr-row micro-panels, each small enough to
// stay in L1 while the micro-kernel sweeps it across every B micro-panel.
// The micro-kernel keeps an mr x nr tile of C in registers
// (14x32 = 28 zmm on AVX-512, or 8x32 for m <= 256 that 8 rows tile with
// less padding; 6x16 = 12 ymm on AVX2) and, for each k,
// loads one row of the B micro-panel and FMAs it with mr broadcasts of A:
//
//	acc[r][:] += A[i+r][p] * B[p][j:j+nr]   for p in the k block,
//
// then writes C[i+r][j:j+nr] = alpha*acc[r] + beta'*C[i+r][j:j+nr], where
// beta' is beta for the first k block and 1 after it. Tiles that stick out
// of C (edges) are computed into a scratch tile and copied.
//
// # Determinism
//
// Each element of C is the same sequence of float32 operations whatever the
// thread count: SgemmThreads splits C on tile boundaries, and the k blocks
// and tile grid depend only on m, n, k. Paths (AVX-512, AVX2, gonum) differ
// by rounding only: the sum over k is ordered differently and FMA rounds
// once, so results agree to a relative error that grows like sqrt(k) times
// float32's epsilon.
package kernels
