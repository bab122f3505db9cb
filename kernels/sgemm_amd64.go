//go:build !noasm

package kernels

import "golang.org/x/sys/cpu"

//go:generate sh -c "cd _gen && go run . -out ../sgemm_amd64.s -stubs ../sgemm_stubs_amd64.go -pkg kernels"

// hasRows reports whether the AVX-512 row movers can run.
var hasRows bool

func init() {
	// AVX-512 kernels use EVEX broadcasts and 32 registers (F), and the
	// OS must save zmm state (checked by x/sys/cpu).
	if cpu.X86.HasAVX512F {
		kernelsAvail = append(kernelsAvail, &microKernel{name: "avx512", mr: 14, nr: 32, fn: sgemmKernelAVX512_14x32,
			fnRaw: sgemmKernelAVX512_14x32_rawA,
			copyB: packCopy32AVX512, gather: packGatherAVX512, packRows: packRowsAVX512, packTrans: packTrans14AVX512,
			narrow: &microKernel{name: "avx512", mr: 8, nr: 32, fn: sgemmKernelAVX512_8x32, fnRaw: sgemmKernelAVX512_8x32_rawA,
				copyB: packCopy32AVX512, gather: packGatherAVX512, packRows: packRowsAVX512, packTrans: packTrans8AVX512}})
	}
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		kernelsAvail = append(kernelsAvail, &microKernel{name: "avx2", mr: 6, nr: 16, fn: sgemmKernelAVX2_6x16})
	}
	// VCOMPRESSPS, VEXPANDPS and masked moves are all AVX-512F.
	hasRows = cpu.X86.HasAVX512F
	if len(kernelsAvail) > 0 {
		active = kernelsAvail[0]
	}
}

// fmaPeak runs the FMA-throughput probe of the active path: n trips of
// independent FMAs, returning the flops done (0 if there is no asm path).
func fmaPeak(n int) float64 {
	switch Path() {
	case "avx512":
		fmaPeakAVX512(n)
		return float64(n) * 16 * 32
	case "avx2":
		fmaPeakAVX2(n)
		return float64(n) * 12 * 16
	}
	return 0
}
