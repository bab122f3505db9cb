// Package kernels holds vqgen's hot loops: a cache-blocked single-precision
// GEMM with assembly micro-kernels (AVX-512, AVX2+FMA) chosen at run time,
// each with a portable Go twin that the noasm build tag selects.
package kernels
