// Command gen writes kernels/sgemm_amd64.s: the SGEMM micro-kernels and the
// FMA-peak probe. It lives in its own module so that avo is not a dependency
// of vqgen itself. Run it through `go generate` in kernels/.
package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

func main() {
	ConstraintExpr("!noasm")
	genAVX512(14, 2, 4)
	genAVX512(8, 2, 4)
	genAVX2(6, 2, 4)
	genPeakAVX512()
	genPackCopy32()
	genPackGather()
	genPanelGather()
	genPanelLoad()
	genPanelGrid()
	genRowsGather()
	genRowsScatterAdd()
	genBiasRows()
	genArgminCols()
	genRelu(false)
	genRelu(true)
	genVecMat()
	genPackRows()
	genPackTrans(14)
	genPackTrans(8)
	genRowSums16()
	genTranspose16()
	genPeakAVX2()
	Generate()
}

// zmm returns the physical register Zi; the kernels pin registers by hand
// because the 14x32 tile needs all 32 of them.
func zmm(i int) VecPhysical {
	return []VecPhysical{Z0, Z1, Z2, Z3, Z4, Z5, Z6, Z7, Z8, Z9, Z10, Z11, Z12, Z13, Z14, Z15,
		Z16, Z17, Z18, Z19, Z20, Z21, Z22, Z23, Z24, Z25, Z26, Z27, Z28, Z29, Z30, Z31}[i]
}

func ymm(i int) VecPhysical {
	return []VecPhysical{Y0, Y1, Y2, Y3, Y4, Y5, Y6, Y7, Y8, Y9, Y10, Y11, Y12, Y13, Y14, Y15}[i]
}

const kernelSig = "func(k int, a, b, c *float32, ldc int, alpha, beta float32, bias *float32)"

// kernelSigRaw is the signature of the kernels that read A in place: rows
// of a row-major matrix lda floats apart, instead of a packed panel.
const kernelSigRaw = "func(k int, a *float32, lda int, b, c *float32, ldc int, alpha, beta float32, bias *float32)"

// genAVX512 emits an mr x (16*nv) micro-kernel: C = alpha*A*B + beta*C for
// one tile, where a holds k groups of mr floats (packed A) and b holds k
// groups of 16*nv floats (packed B). Each k step loads nv vectors of B and
// FMAs them with mr broadcasts of A taken straight from memory, so the
// accumulators are the whole register file minus the B vectors. unroll is
// how many k steps one loop trip does.
func genAVX512(mr, nv, unroll int) {
	genAVX512Kernel(mr, nv, unroll, false)
	genAVX512Kernel(mr, nv, unroll, true)
}

// genAVX512Kernel emits the kernel, reading A from a packed panel or, when
// raw, straight from mr rows of a row-major matrix (lda floats apart): the
// same broadcasts and FMAs in the same order, so the same bits, without the
// pass that packs A, for products that read each panel of A once (a single
// panel of B).
func genAVX512Kernel(mr, nv, unroll int, raw bool) {
	nr := 16 * nv
	name, sig, params := fmt.Sprintf("sgemmKernelAVX512_%dx%d", mr, nr), kernelSig, 40
	if raw {
		name, sig, params = name+"_rawA", kernelSigRaw, 48
	}
	TEXT(name, NOSPLIT, sig)
	Doc(fmt.Sprintf("%s computes one %dx%d tile of C (row stride ldc floats).", name, mr, nr))
	acc := func(r, j int) VecPhysical { return zmm(r*nv + j) }
	bv := func(j int) VecPhysical { return zmm(mr*nv + j) }
	if mr*nv+nv > 32 {
		panic("too many registers")
	}
	k, a, b, c, ldc := RCX, RSI, RDI, RDX, R8
	Load(Param("k"), k)
	Load(Param("a"), a)
	Load(Param("b"), b)
	Load(Param("c"), c)
	Load(Param("ldc"), ldc)
	SHLQ(U8(2), ldc)
	// raw: row r of A is at bases[r/3] + (r%3)*lda.
	lda := RAX
	bases := []GPPhysical{RSI, R9, R10, R11, R12, R13}[:(mr+2)/3]
	if raw {
		Load(Param("lda"), lda)
		SHLQ(U8(2), lda)
		for i := 1; i < len(bases); i++ {
			LEAQ(Mem{Base: bases[i-1], Index: lda, Scale: 2}, bases[i])
			ADDQ(lda, bases[i])
		}
	}
	aOp := func(s, r int) Mem {
		if !raw {
			return Mem{Base: a, Disp: 4 * (s*mr + r)}
		}
		m := Mem{Base: bases[r/3], Disp: 4 * s}
		if r%3 > 0 {
			m.Index, m.Scale = lda, uint8(r%3)
		}
		return m
	}
	advance := func(steps int) {
		if !raw {
			ADDQ(U32(4*mr*steps), a)
			return
		}
		for _, p := range bases {
			ADDQ(U32(4*steps), p)
		}
	}
	for r := 0; r < mr; r++ {
		for j := 0; j < nv; j++ {
			VPXORD(acc(r, j), acc(r, j), acc(r, j))
		}
	}
	step := func(s int) {
		for j := 0; j < nv; j++ {
			VMOVUPS(Mem{Base: b, Disp: 4 * (s*nr + 16*j)}, bv(j))
		}
		for r := 0; r < mr; r++ {
			for j := 0; j < nv; j++ {
				VFMADD231PS_BCST(aOp(s, r), bv(j), acc(r, j))
			}
		}
	}
	// Unrolled main loop, then single steps for the rest of k.
	CMPQ(k, U8(unroll))
	JL(LabelRef("tail"))
	Label("loop")
	if !raw {
		PREFETCHT0(Mem{Base: a, Disp: 4 * mr * unroll * 4})
	}
	PREFETCHT0(Mem{Base: b, Disp: 4 * nr * unroll * 2})
	for s := 0; s < unroll; s++ {
		step(s)
	}
	advance(unroll)
	ADDQ(U32(4*nr*unroll), b)
	SUBQ(U8(unroll), k)
	CMPQ(k, U8(unroll))
	JGE(LabelRef("loop"))
	Label("tail")
	TESTQ(k, k)
	JZ(LabelRef("store"))
	step(0)
	advance(1)
	ADDQ(U32(4*nr), b)
	DECQ(k)
	JMP(LabelRef("tail"))

	Label("store")
	alpha, beta := bv(0), bv(1)
	VBROADCASTSS(NewParamAddr("alpha", params), alpha)
	// beta == 0 (either sign) must not read C, so NaNs there are overwritten.
	MOVL(NewParamAddr("beta", params+4), EAX)
	ANDL(U32(0x7fffffff), EAX)
	JZ(LabelRef("storenobeta"))
	VBROADCASTSS(NewParamAddr("beta", params+4), beta)
	for r := 0; r < mr; r++ {
		for j := 0; j < nv; j++ {
			VMULPS(alpha, acc(r, j), acc(r, j))
			VFMADD231PS(Mem{Base: c, Disp: 64 * j}, beta, acc(r, j))
			VMOVUPS(acc(r, j), Mem{Base: c, Disp: 64 * j})
		}
		if r < mr-1 {
			ADDQ(ldc, c)
		}
	}
	VZEROUPPER()
	RET()
	Label("storenobeta")
	storeBias(mr, nv, 64, c, ldc, alpha, acc)
}

// storeBias emits the store of a tile with beta == 0: C = alpha*acc, plus
// the row vector bias[0:nr] when the bias pointer is not nil (the bias of a
// Linear layer, added by the first k block).
func storeBias(mr, nv, width int, c, ldc Register, alpha VecPhysical, acc func(r, j int) VecPhysical) {
	bias := R9
	Load(Param("bias"), bias)
	TESTQ(bias, bias)
	JZ(LabelRef("storenobias"))
	for r := 0; r < mr; r++ {
		for j := 0; j < nv; j++ {
			VMULPS(alpha, acc(r, j), acc(r, j))
			VADDPS(Mem{Base: bias, Disp: width * j}, acc(r, j), acc(r, j))
			VMOVUPS(acc(r, j), Mem{Base: c, Disp: width * j})
		}
		if r < mr-1 {
			ADDQ(ldc, c)
		}
	}
	VZEROUPPER()
	RET()
	Label("storenobias")
	for r := 0; r < mr; r++ {
		for j := 0; j < nv; j++ {
			VMULPS(alpha, acc(r, j), acc(r, j))
			VMOVUPS(acc(r, j), Mem{Base: c, Disp: width * j})
		}
		if r < mr-1 {
			ADDQ(ldc, c)
		}
	}
	VZEROUPPER()
	RET()
}

// genAVX2 is genAVX512 for 16 ymm registers: mr*nv accumulators, nv B
// vectors and one register for the broadcast of A (AVX2 FMAs cannot
// broadcast from memory).
func genAVX2(mr, nv, unroll int) {
	nr := 8 * nv
	TEXT(fmt.Sprintf("sgemmKernelAVX2_%dx%d", mr, nr), NOSPLIT, kernelSig)
	Doc(fmt.Sprintf("sgemmKernelAVX2_%dx%d computes one %dx%d tile of C (row stride ldc floats).", mr, nr, mr, nr))
	acc := func(r, j int) VecPhysical { return ymm(r*nv + j) }
	bv := func(j int) VecPhysical { return ymm(mr*nv + j) }
	av := ymm(mr*nv + nv)
	if mr*nv+nv+1 > 16 {
		panic("too many registers")
	}
	k, a, b, c, ldc := RCX, RSI, RDI, RDX, R8
	Load(Param("k"), k)
	Load(Param("a"), a)
	Load(Param("b"), b)
	Load(Param("c"), c)
	Load(Param("ldc"), ldc)
	SHLQ(U8(2), ldc)
	for r := 0; r < mr; r++ {
		for j := 0; j < nv; j++ {
			VXORPS(acc(r, j), acc(r, j), acc(r, j))
		}
	}
	step := func(s int) {
		for j := 0; j < nv; j++ {
			VMOVUPS(Mem{Base: b, Disp: 4 * (s*nr + 8*j)}, bv(j))
		}
		for r := 0; r < mr; r++ {
			VBROADCASTSS(Mem{Base: a, Disp: 4 * (s*mr + r)}, av)
			for j := 0; j < nv; j++ {
				VFMADD231PS(bv(j), av, acc(r, j))
			}
		}
	}
	CMPQ(k, U8(unroll))
	JL(LabelRef("tail"))
	Label("loop")
	PREFETCHT0(Mem{Base: a, Disp: 4 * mr * unroll * 4})
	PREFETCHT0(Mem{Base: b, Disp: 4 * nr * unroll * 2})
	for s := 0; s < unroll; s++ {
		step(s)
	}
	ADDQ(U32(4*mr*unroll), a)
	ADDQ(U32(4*nr*unroll), b)
	SUBQ(U8(unroll), k)
	CMPQ(k, U8(unroll))
	JGE(LabelRef("loop"))
	Label("tail")
	TESTQ(k, k)
	JZ(LabelRef("store"))
	step(0)
	ADDQ(U32(4*mr), a)
	ADDQ(U32(4*nr), b)
	DECQ(k)
	JMP(LabelRef("tail"))

	Label("store")
	alpha, beta := bv(0), bv(1)
	VBROADCASTSS(NewParamAddr("alpha", 40), alpha)
	MOVL(NewParamAddr("beta", 44), EAX)
	ANDL(U32(0x7fffffff), EAX)
	JZ(LabelRef("storenobeta"))
	VBROADCASTSS(NewParamAddr("beta", 44), beta)
	for r := 0; r < mr; r++ {
		for j := 0; j < nv; j++ {
			VMULPS(alpha, acc(r, j), acc(r, j))
			VFMADD231PS(Mem{Base: c, Disp: 32 * j}, beta, acc(r, j))
			VMOVUPS(acc(r, j), Mem{Base: c, Disp: 32 * j})
		}
		if r < mr-1 {
			ADDQ(ldc, c)
		}
	}
	VZEROUPPER()
	RET()
	Label("storenobeta")
	storeBias(mr, nv, 32, c, ldc, alpha, acc)
}

// peakChains independent FMA chains hide the 4-cycle FMA latency on two
// FMA ports with room to spare.
const peakChains = 16

func genPeakAVX512() {
	TEXT("fmaPeakAVX512", NOSPLIT, "func(n int)")
	Doc(fmt.Sprintf("fmaPeakAVX512 runs n trips of %d independent zmm FMAs (%d flops each).", peakChains, 32))
	n := RCX
	Load(Param("n"), n)
	for i := 0; i < peakChains+2; i++ {
		VPXORD(zmm(i), zmm(i), zmm(i))
	}
	TESTQ(n, n)
	JZ(LabelRef("done"))
	Label("loop")
	for i := 0; i < peakChains; i++ {
		VFMADD231PS(zmm(peakChains), zmm(peakChains+1), zmm(i))
	}
	DECQ(n)
	JNZ(LabelRef("loop"))
	Label("done")
	VZEROUPPER()
	RET()
}

func genPeakAVX2() {
	const chains = 12
	TEXT("fmaPeakAVX2", NOSPLIT, "func(n int)")
	Doc(fmt.Sprintf("fmaPeakAVX2 runs n trips of %d independent ymm FMAs (16 flops each).", chains))
	n := RCX
	Load(Param("n"), n)
	for i := 0; i < chains+2; i++ {
		VXORPS(ymm(i), ymm(i), ymm(i))
	}
	TESTQ(n, n)
	JZ(LabelRef("done"))
	Label("loop")
	for i := 0; i < chains; i++ {
		VFMADD231PS(ymm(chains), ymm(chains+1), ymm(i))
	}
	DECQ(n)
	JNZ(LabelRef("loop"))
	Label("done")
	VZEROUPPER()
	RET()
}

// genPackCopy32 emits the B packing for AVX-512 when op(B) is not
// transposed: 32 contiguous floats of each of k rows (row stride ld floats)
// to dst, 32 per k. The software prefetch a few rows ahead matters because
// each row is usually on another 4 KiB page, where the hardware prefetcher
// does not follow.
func genPackCopy32() {
	TEXT("packCopy32AVX512", NOSPLIT, "func(k int, src *float32, ld int, dst *float32)")
	Doc("packCopy32AVX512 copies src[q*ld : q*ld+32] to dst[q*32 : q*32+32] for q < k.")
	k, src, ld, dst := RCX, RSI, R8, RDI
	Load(Param("k"), k)
	Load(Param("src"), src)
	Load(Param("ld"), ld)
	Load(Param("dst"), dst)
	SHLQ(U8(2), ld)
	ahead := R9
	TESTQ(k, k)
	JZ(LabelRef("done"))
	Label("loop")
	LEAQ(Mem{Base: src, Index: ld, Scale: 8}, ahead)
	PREFETCHT0(Mem{Base: ahead})
	PREFETCHT0(Mem{Base: ahead, Disp: 64})
	VMOVUPS(Mem{Base: src}, Z0)
	VMOVUPS(Mem{Base: src, Disp: 64}, Z1)
	VMOVUPS(Z0, Mem{Base: dst})
	VMOVUPS(Z1, Mem{Base: dst, Disp: 64})
	ADDQ(ld, src)
	ADDQ(U8(128), dst)
	DECQ(k)
	JNZ(LabelRef("loop"))
	Label("done")
	VZEROUPPER()
	RET()
}

// genPackGather emits the transposing pack: for each q < k it gathers
// src[q + idx[l]] for the lanes l set in mask and stores them (masked) at
// dst[q*step : q*step+16]. With idx[l] = l*ld this turns up to 16 rows of a
// row-major matrix into k-major groups, the layout the micro-kernels read,
// at a gather per 16 floats instead of 16 scalar moves.
func genPackGather() {
	TEXT("packGatherAVX512", NOSPLIT, "func(k int, src *float32, idx *[16]int32, mask int, dst *float32, step int)")
	Doc("packGatherAVX512 stores src[q+idx[l]] at dst[q*step+l] for q < k and the lanes l in mask.")
	k, src, dst, step, tmp := RCX, RSI, RDI, R8, RAX
	Load(Param("k"), k)
	Load(Param("src"), src)
	Load(Param("idx"), tmp)
	VMOVDQU32(Mem{Base: tmp}, Z31)
	Load(Param("mask"), tmp)
	KMOVW(EAX, K1)
	Load(Param("dst"), dst)
	Load(Param("step"), step)
	SHLQ(U8(2), step)
	const u = 4
	ks := []Register{K2, K3, K4, K5}
	CMPQ(k, U8(u))
	JL(LabelRef("tail"))
	Label("loop")
	for s := 0; s < u; s++ {
		KMOVW(K1, ks[s])
		VGATHERDPS(Mem{Base: src, Index: Z31, Scale: 4, Disp: 4 * s}, ks[s], zmm(s))
	}
	for s := 0; s < u; s++ {
		VMOVUPS(zmm(s), K1, Mem{Base: dst})
		ADDQ(step, dst)
	}
	ADDQ(U8(4*u), src)
	SUBQ(U8(u), k)
	CMPQ(k, U8(u))
	JGE(LabelRef("loop"))
	Label("tail")
	TESTQ(k, k)
	JZ(LabelRef("done"))
	KMOVW(K1, K2)
	VGATHERDPS(Mem{Base: src, Index: Z31, Scale: 4}, K2, Z0)
	VMOVUPS(Z0, K1, Mem{Base: dst})
	ADDQ(step, dst)
	ADDQ(U8(4), src)
	DECQ(k)
	JMP(LabelRef("tail"))
	Label("done")
	VZEROUPPER()
	RET()
}

// Registers of tapRows, the loop shared by the implicit-B packers.
var (
	tapN, tapSrc, tapChStride, tapTaps, tapT, tapDst, tapAt = RCX, RSI, R8, R11, R12, RDI, RAX
)

// tapRows emits the loop shared by the packers of an implicit B read tap
// by tap: n rows of 32 floats at dst, the tap t advancing with each row
// and wrapping into the next channel (src += chStride) every taps rows.
// The function's parameters n, src, chStride, taps, t and dst are loaded
// into the tap registers; row emits one row's loads and stores (R9, R10,
// RDX and the vector registers are free), with tapAt = t << shift.
func tapRows(shift uint8, row func()) {
	Load(Param("n"), tapN)
	Load(Param("src"), tapSrc)
	Load(Param("chStride"), tapChStride)
	Load(Param("taps"), tapTaps)
	Load(Param("t"), tapT)
	Load(Param("dst"), tapDst)
	SHLQ(U8(2), tapChStride)
	TESTQ(tapN, tapN)
	JZ(LabelRef("done"))
	Label("loop")
	MOVQ(tapT, tapAt)
	SHLQ(U8(shift), tapAt)
	row()
	ADDQ(U8(128), tapDst)
	INCQ(tapT)
	CMPQ(tapT, tapTaps)
	JL(LabelRef("next"))
	XORQ(tapT, tapT)
	ADDQ(tapChStride, tapSrc)
	Label("next")
	DECQ(tapN)
	JNZ(LabelRef("loop"))
	Label("done")
	VZEROUPPER()
	RET()
}

// genPanelGather emits the packer of an implicit B (a convolution's patch
// matrix read straight from the image): each row of a 32-wide packed panel
// is two masked gathers through one tap's offsets, from the current
// channel, and the tap index wraps into the next channel every taps rows.
// Lanes outside the image (padding) or past the matrix stay zero.
func genPanelGather() {
	TEXT("panelGatherAVX512", NOSPLIT, "func(n int, src *float32, chStride int, offs *int32, masks *uint32, taps int, t int, dst *float32)")
	Doc("panelGatherAVX512 fills n rows of 32 floats at dst: row r reads tap t' = (t+r) mod taps of channel",
		"(t+r)/taps, lane l = src[ch*chStride + offs[t'*32+l]] where bit l of masks[t'] is set, else 0.")
	offs, masks, m := R9, R10, RDX
	Load(Param("offs"), offs)
	Load(Param("masks"), masks)
	tapRows(7, func() {
		VMOVDQU32(Mem{Base: offs, Index: tapAt, Scale: 1}, Z0)
		VMOVDQU32(Mem{Base: offs, Index: tapAt, Scale: 1, Disp: 64}, Z1)
		gatherRow32(Mem{Base: masks, Index: tapT, Scale: 4}, m, tapSrc, tapDst)
	})
}

// gatherRow32 emits one packed row of 32 lanes: lane l = base[Z0/Z1 lane
// l] (the indices of lanes 0-15 in Z0, 16-31 in Z1) where bit l of the
// 32-bit mask at mask is set, else 0, stored at dst. m is clobbered.
func gatherRow32(mask Mem, m GPPhysical, base, dst Register) {
	MOVL(mask, m.As32())
	KMOVW(m.As32(), K1)
	SHRL(U8(16), m.As32())
	KMOVW(m.As32(), K2)
	VPXORD(Z2, Z2, Z2)
	VPXORD(Z3, Z3, Z3)
	VGATHERDPS(Mem{Base: base, Index: Z0, Scale: 4}, K1, Z2)
	VGATHERDPS(Mem{Base: base, Index: Z1, Scale: 4}, K2, Z3)
	VMOVUPS(Z2, Mem{Base: dst})
	VMOVUPS(Z3, Mem{Base: dst, Disp: 64})
}

// genPanelLoad is genPanelGather for patterns whose lanes, per tap and
// 16-lane half, read at most two runs of consecutive floats (a stride-1
// convolution: one run per image in the half). Each half is then a
// zeroing masked load and a merging one, which cost a fraction of a
// gather. The table holds per tap and half {d1, d2, m1, m2} (int32
// each): lane l of half h reads src[d+16h+l] under mask m.
func genPanelLoad() {
	TEXT("panelLoadAVX512", NOSPLIT, "func(n int, src *float32, chStride int, tbl *int32, taps int, t int, dst *float32)")
	Doc("panelLoadAVX512 is panelGatherAVX512 from a table of two masked runs per tap and half; see genPanelLoad.")
	tbl, d1, d2 := R9, RDX, R10
	Load(Param("tbl"), tbl)
	tapRows(5, func() {
		for h := 0; h < 2; h++ {
			e := func(i int) Mem { return Mem{Base: tbl, Index: tapAt, Scale: 1, Disp: 16*h + 4*i} }
			MOVLQSX(e(0), d1)
			MOVLQSX(e(1), d2)
			KMOVW(e(2), K1)
			KMOVW(e(3), K2)
			VMOVUPS_Z(Mem{Base: tapSrc, Index: d1, Scale: 4, Disp: 64 * h}, K1, zmm(h))
			VMOVUPS(Mem{Base: tapSrc, Index: d2, Scale: 4, Disp: 64 * h}, K2, zmm(h))
			VMOVUPS(zmm(h), Mem{Base: tapDst, Disp: 64 * h})
		}
	})
}

// genPanelGrid emits the packer of a transposed implicit B (a patch
// matrix read along its windows, as a weight gradient's GEMM reads it):
// row p of the 32-wide panel gathers src[rows[p] + lanes[l]] for the
// lanes l of masks[p], zero elsewhere; the lane offsets stay in two
// registers and only the row's base and mask change.
func genPanelGrid() {
	TEXT("panelGridAVX512", NOSPLIT, "func(n int, src *float32, rows *int32, masks *uint32, lanes *int32, dst *float32)")
	Doc("panelGridAVX512 fills n rows of 32 floats at dst: lane l of row p = src[rows[p]+lanes[l]] where bit l of masks[p] is set, else 0.")
	n, src, rows, masks, lanes, dst, b, m := RCX, RSI, R8, R9, R10, RDI, RAX, RDX
	Load(Param("n"), n)
	Load(Param("src"), src)
	Load(Param("rows"), rows)
	Load(Param("masks"), masks)
	Load(Param("lanes"), lanes)
	Load(Param("dst"), dst)
	VMOVDQU32(Mem{Base: lanes}, Z0)
	VMOVDQU32(Mem{Base: lanes, Disp: 64}, Z1)
	TESTQ(n, n)
	JZ(LabelRef("done"))
	Label("loop")
	MOVLQSX(Mem{Base: rows}, b)
	LEAQ(Mem{Base: src, Index: b, Scale: 4}, b)
	gatherRow32(Mem{Base: masks}, m, b, dst)
	ADDQ(U8(128), dst)
	ADDQ(U8(4), rows)
	ADDQ(U8(4), masks)
	DECQ(n)
	JNZ(LabelRef("loop"))
	Label("done")
	VZEROUPPER()
	RET()
}

// genRowsGather emits the row mover behind im2col on AVX-512. For each of
// planes planes (channels) it writes before+rows+after rows of dst (row
// stride dstStride, plane stride dstPlane floats), storing the lanes of
// storeMask: the first before and the last after rows are zero (windows
// above or below the image); row r of the middle loads the 16 floats at
// src+off+p*srcPlane+r*srcStride (off, in floats, may be negative: only
// the lanes in loadMask are read, so a window that hangs over the image
// edge reads nothing there and gets zeros) and, when compressMask is not
// 0, packs the lanes of compressMask to the bottom (a stride-2 window
// keeps every other lane).
func genRowsGather() {
	TEXT("rowsGatherAVX512", NOSPLIT, "func(dst *float32, dstStride, dstPlane int, src *float32, off, srcStride, srcPlane, planes, before, rows, after, loadMask, compressMask, storeMask int)")
	Doc("rowsGatherAVX512 fills before+rows+after rows of each of planes planes of dst from src; see genRowsGather.")
	dst, dstStride, src, srcStride, tmp := RDI, R8, RSI, R9, RAX
	planes, n, d, sp := RCX, RDX, R10, R11
	Load(Param("dst"), dst)
	Load(Param("dstStride"), dstStride)
	SHLQ(U8(2), dstStride)
	Load(Param("src"), src)
	Load(Param("off"), tmp)
	LEAQ(Mem{Base: src, Index: tmp, Scale: 4}, src)
	Load(Param("srcStride"), srcStride)
	SHLQ(U8(2), srcStride)
	Load(Param("loadMask"), tmp)
	KMOVW(EAX, K1)
	Load(Param("compressMask"), tmp)
	KMOVW(EAX, K2)
	Load(Param("storeMask"), tmp)
	KMOVW(EAX, K3)
	VXORPS(Z2, Z2, Z2)
	Load(Param("planes"), planes)
	TESTQ(planes, planes)
	JLE(LabelRef("done"))
	Label("plane")
	MOVQ(dst, d)
	MOVQ(src, sp)
	Load(Param("before"), n)
	TESTQ(n, n)
	JLE(LabelRef("mid"))
	Label("zero1")
	VMOVUPS(Z2, K3, Mem{Base: d})
	ADDQ(dstStride, d)
	DECQ(n)
	JNZ(LabelRef("zero1"))
	Label("mid")
	Load(Param("rows"), n)
	TESTQ(n, n)
	JLE(LabelRef("tail"))
	Load(Param("compressMask"), tmp)
	TESTQ(tmp, tmp)
	JNZ(LabelRef("compress"))
	Label("copy")
	VMOVUPS_Z(Mem{Base: sp}, K1, Z0)
	VMOVUPS(Z0, K3, Mem{Base: d})
	ADDQ(srcStride, sp)
	ADDQ(dstStride, d)
	DECQ(n)
	JNZ(LabelRef("copy"))
	JMP(LabelRef("tail"))
	Label("compress")
	VMOVUPS_Z(Mem{Base: sp}, K1, Z0)
	VCOMPRESSPS_Z(Z0, K2, Z1)
	VMOVUPS(Z1, K3, Mem{Base: d})
	ADDQ(srcStride, sp)
	ADDQ(dstStride, d)
	DECQ(n)
	JNZ(LabelRef("compress"))
	Label("tail")
	Load(Param("after"), n)
	TESTQ(n, n)
	JLE(LabelRef("nextplane"))
	Label("zero2")
	VMOVUPS(Z2, K3, Mem{Base: d})
	ADDQ(dstStride, d)
	DECQ(n)
	JNZ(LabelRef("zero2"))
	Label("nextplane")
	Load(Param("dstPlane"), tmp)
	LEAQ(Mem{Base: dst, Index: tmp, Scale: 4}, dst)
	Load(Param("srcPlane"), tmp)
	LEAQ(Mem{Base: src, Index: tmp, Scale: 4}, src)
	DECQ(planes)
	JNZ(LabelRef("plane"))
	Label("done")
	VZEROUPPER()
	RET()
}

// genRowsScatterAdd emits col2im's row mover, the adjoint of
// rowsGatherAVX512: for each row it loads the lanes of loadMask of src (row
// stride srcStride floats), optionally spreads them over the lanes of
// expandMask (stride 2), and adds the lanes of addMask into the 16 floats
// at dst+off (row stride dstStride floats); other lanes of dst are not
// touched; all that for each of planes planes (plane strides srcPlane and
// dstPlane floats). Rows go in blocks of 8, all loads before all stores: image rows
// of a small image are closer than a vector, and a load that overlaps a
// just-issued masked store cannot be forwarded and stalls until the store
// retires.
func genRowsScatterAdd() {
	TEXT("rowsScatterAddAVX512", NOSPLIT, "func(dst *float32, off, dstStride, dstPlane int, src *float32, srcStride, srcPlane, planes, rows, loadMask, expandMask, addMask int)")
	Doc("rowsScatterAddAVX512 adds the loadMask lanes of src[p*srcPlane+r*srcStride:][:16], expanded by expandMask",
		"when it is not 0, into the addMask lanes of dst[off+p*dstPlane+r*dstStride:][:16], for r < rows, p < planes.")
	dst, dstStride, src, srcStride, rows, tmp := RDI, R8, RSI, R9, RCX, RAX
	m, p, q := RBX, R10, R11
	Load(Param("dst"), dst)
	Load(Param("off"), tmp)
	LEAQ(Mem{Base: dst, Index: tmp, Scale: 4}, dst)
	Load(Param("dstStride"), dstStride)
	SHLQ(U8(2), dstStride)
	Load(Param("src"), src)
	Load(Param("srcStride"), srcStride)
	SHLQ(U8(2), srcStride)
	Load(Param("loadMask"), tmp)
	KMOVW(EAX, K1)
	Load(Param("expandMask"), tmp)
	KMOVW(EAX, K2)
	Load(Param("addMask"), tmp)
	KMOVW(EAX, K3)
	planes, d0, s0 := R12, R13, RDX
	Load(Param("planes"), planes)
	TESTQ(planes, planes)
	JLE(LabelRef("done"))
	MOVQ(dst, d0)
	MOVQ(src, s0)
	Label("plane")
	MOVQ(d0, dst)
	MOVQ(s0, src)
	Load(Param("rows"), rows)
	Load(Param("expandMask"), tmp)
	for _, expand := range []bool{false, true} {
		name := "plain"
		if expand {
			name = "expand"
		}
		if !expand {
			TESTQ(tmp, tmp)
			JNZ(LabelRef("expand"))
		}
		Label(name)
		TESTQ(rows, rows)
		JLE(LabelRef("nextplane"))
		MOVQ(rows, m)
		CMPQ(m, U8(8))
		JLE(LabelRef(name + "_m"))
		MOVQ(U32(8), m)
		Label(name + "_m")
		MOVQ(src, p)
		MOVQ(dst, q)
		for i := 0; i < 8; i++ {
			if i > 0 {
				CMPQ(m, U8(i))
				JLE(LabelRef(name + "_store"))
			}
			VMOVUPS_Z(Mem{Base: p}, K1, zmm(i))
			if expand {
				VEXPANDPS_Z(zmm(i), K2, zmm(i))
			}
			VMOVUPS_Z(Mem{Base: q}, K3, zmm(8+i))
			VADDPS(zmm(i), zmm(8+i), zmm(8+i))
			ADDQ(srcStride, p)
			ADDQ(dstStride, q)
		}
		Label(name + "_store")
		MOVQ(dst, q)
		for i := 0; i < 8; i++ {
			if i > 0 {
				CMPQ(m, U8(i))
				JLE(LabelRef(name + "_next"))
			}
			VMOVUPS(zmm(8+i), K3, Mem{Base: q})
			ADDQ(dstStride, q)
		}
		Label(name + "_next")
		MOVQ(p, src)
		MOVQ(q, dst)
		SUBQ(m, rows)
		JMP(LabelRef(name))
	}
	Label("nextplane")
	Load(Param("dstPlane"), tmp)
	LEAQ(Mem{Base: d0, Index: tmp, Scale: 4}, d0)
	Load(Param("srcPlane"), tmp)
	LEAQ(Mem{Base: s0, Index: tmp, Scale: 4}, s0)
	DECQ(planes)
	JNZ(LabelRef("plane"))
	Label("done")
	VZEROUPPER()
	RET()
}

// genArgminCols emits the quantizer's nearest-code search over a tile of
// distances: for up to 64 columns at once (four vectors of bests and
// their indices in registers) it walks the k rows in order, adding each
// row's norm and keeping a column's value only when strictly smaller, so
// the first minimum wins, as in the scalar loop.
func genArgminCols() {
	TEXT("argminColsAVX512", NOSPLIT, "func(k int, dist *float32, ld int, norms *float32, mask int, best *float32, bestK *int32)")
	Doc("argminColsAVX512 sets best[r] = min over q < k of dist[q*ld+r]+norms[q] and bestK[r] = the first such q,",
		"for the columns r < 64 whose bit is set in mask (the rest are neither read nor written).")
	k, dist, ld, norms, m, out := RCX, RSI, R8, R9, RAX, RDI
	Load(Param("k"), k)
	Load(Param("dist"), dist)
	Load(Param("ld"), ld)
	Load(Param("norms"), norms)
	SHLQ(U8(2), ld)
	lanes := []Op{K4, K5, K6, K7}
	Load(Param("mask"), m)
	for v := 0; v < 4; v++ {
		KMOVW(m.As32(), lanes[v].(Register))
		SHRQ(U8(16), m)
	}
	best := func(v int) VecPhysical { return zmm(v) }
	bestK := func(v int) VecPhysical { return zmm(4 + v) }
	t := func(v int) VecPhysical { return zmm(8 + v) }
	norm, q, one := Z12, Z13, Z14
	MOVL(U32(0x7f800000), EAX) // +Inf
	VPBROADCASTD(EAX, best(0))
	MOVL(U32(1), EAX)
	VPBROADCASTD(EAX, one)
	VPXORD(q, q, q)
	for v := 0; v < 4; v++ {
		if v > 0 {
			VMOVAPS(best(0), best(v))
		}
		VPXORD(bestK(v), bestK(v), bestK(v))
	}
	TESTQ(k, k)
	JZ(LabelRef("store"))
	Label("loop")
	VBROADCASTSS(Mem{Base: norms}, norm)
	for v := 0; v < 4; v++ {
		VMOVUPS_Z(Mem{Base: dist, Disp: 64 * v}, lanes[v], t(v))
		VADDPS(norm, t(v), t(v))
		VCMPPS(U8(0x11), best(v), t(v), K1) // LT_OQ: t < best (NaN never wins)
		VMOVAPS(t(v), K1, best(v))
		VMOVDQA32(q, K1, bestK(v))
	}
	ADDQ(ld, dist)
	ADDQ(U8(4), norms)
	VPADDD(one, q, q)
	DECQ(k)
	JNZ(LabelRef("loop"))
	Label("store")
	Load(Param("best"), out)
	for v := 0; v < 4; v++ {
		VMOVUPS(best(v), lanes[v], Mem{Base: out, Disp: 64 * v})
	}
	Load(Param("bestK"), out)
	for v := 0; v < 4; v++ {
		VMOVDQU32(bestK(v), lanes[v], Mem{Base: out, Disp: 64 * v})
	}
	VZEROUPPER()
	RET()
}

// genBiasRows emits the epilogue that moves a convolution's GEMM output
// into its NCHW tensor: rows of n floats, strided on both sides, with the
// bias added (flags bit 0) and the ReLU applied (bit 1) on the way, so a
// 7x7 channel of a batch is one call rather than a Go loop per 49 floats.
func genBiasRows() {
	TEXT("biasRowsAVX512", NOSPLIT, "func(rows, n int, src *float32, srcStride int, dst *float32, dstStride int, res *float32, bias float32, flags int)")
	Doc("biasRowsAVX512 sets dst[r*dstStride+j] = f(src[r*srcStride+j]) for r < rows, j < n, where f adds bias",
		"when flags&1, then rectifies like reluAVX512 when flags&2, then adds res[r*dstStride+j] when flags&4.")
	rows, n, src, ss, dst, ds, flags, j, s, d, res, rr := RBX, RCX, RSI, R8, RDI, R9, R10, R11, R12, R13, RDX, RAX
	Load(Param("rows"), rows)
	Load(Param("n"), n)
	Load(Param("src"), src)
	Load(Param("srcStride"), ss)
	Load(Param("dst"), dst)
	Load(Param("dstStride"), ds)
	Load(Param("flags"), flags)
	Load(Param("res"), res)
	VBROADCASTSS(NewParamAddr("bias", 56), Z31)
	VXORPS(Z30, Z30, Z30)
	SHLQ(U8(2), ss)
	SHLQ(U8(2), ds)
	// K2: the lanes of the last, partial vector of a row.
	MOVQ(n, RAX)
	ANDL(U8(15), EAX)
	MOVL(EAX, ECX)
	MOVL(U32(1), EAX)
	SHLL(CL, EAX)
	DECL(EAX)
	KMOVW(EAX, K2)
	Load(Param("n"), n)
	vec := func(mask bool) {
		if mask {
			VMOVUPS_Z(Mem{Base: s}, K2, Z0)
		} else {
			VMOVUPS(Mem{Base: s}, Z0)
		}
		TESTQ(U32(1), flags)
		JZ(LabelRef(fmt.Sprintf("nobias%v", mask)))
		VADDPS(Z31, Z0, Z0)
		Label(fmt.Sprintf("nobias%v", mask))
		TESTQ(U32(2), flags)
		JZ(LabelRef(fmt.Sprintf("norelu%v", mask)))
		VCMPPS(U8(6), Z30, Z0, K1) // NLE_UQ: !(x <= 0), so NaN stays and -0 goes
		VMOVUPS_Z(Z0, K1, Z0)
		Label(fmt.Sprintf("norelu%v", mask))
		TESTQ(U32(4), flags)
		JZ(LabelRef(fmt.Sprintf("nores%v", mask)))
		if mask {
			VMOVUPS_Z(Mem{Base: rr}, K2, Z1)
		} else {
			VMOVUPS(Mem{Base: rr}, Z1)
		}
		VADDPS(Z1, Z0, Z0)
		Label(fmt.Sprintf("nores%v", mask))
		if mask {
			VMOVUPS(Z0, K2, Mem{Base: d})
		} else {
			VMOVUPS(Z0, Mem{Base: d})
		}
	}
	TESTQ(rows, rows)
	JZ(LabelRef("done"))
	Label("row")
	MOVQ(src, s)
	MOVQ(dst, d)
	MOVQ(res, rr)
	MOVQ(n, j)
	CMPQ(j, U8(16))
	JL(LabelRef("tail"))
	Label("loop")
	vec(false)
	ADDQ(U8(64), s)
	ADDQ(U8(64), d)
	ADDQ(U8(64), rr)
	SUBQ(U8(16), j)
	CMPQ(j, U8(16))
	JGE(LabelRef("loop"))
	Label("tail")
	TESTQ(j, j)
	JZ(LabelRef("next"))
	vec(true)
	Label("next")
	ADDQ(ss, src)
	ADDQ(ds, dst)
	ADDQ(ds, res)
	DECQ(rows)
	JNZ(LabelRef("row"))
	Label("done")
	VZEROUPPER()
	RET()
}

// genRelu emits ReLU over n floats, 16 per step and a masked tail. Forward
// is y = x where !(x <= 0) (so NaN passes and -0 becomes +0, exactly Go's
// max(x, 0)), else 0; backward is dx = dy where x > 0 (ordered: NaN gives
// 0), else 0, both as zero-masked moves.
func genRelu(backward bool) {
	if backward {
		TEXT("reluBackwardAVX512", NOSPLIT, "func(n int, x, dy, dx *float32)")
		Doc("reluBackwardAVX512 sets dx[i] = dy[i] where x[i] > 0, else 0, for i < n.")
	} else {
		TEXT("reluAVX512", NOSPLIT, "func(n int, x, y *float32)")
		Doc("reluAVX512 sets y[i] = max(x[i], 0) (Go's max: NaN kept, -0 to +0) for i < n.")
	}
	n, x, dy, out, tmp := RCX, RSI, RDX, RDI, RAX
	Load(Param("n"), n)
	Load(Param("x"), x)
	if backward {
		Load(Param("dy"), dy)
		Load(Param("dx"), out)
	} else {
		Load(Param("y"), out)
	}
	VXORPS(Z31, Z31, Z31)
	pred := U8(6) // NLE_UQ: !(x <= 0)
	if backward {
		pred = U8(0x1e) // GT_OQ: x > 0
	}
	src := func() Op {
		if backward {
			return Mem{Base: dy}
		}
		return Mem{Base: x}
	}
	CMPQ(n, U8(16))
	JL(LabelRef("tail"))
	Label("loop")
	VMOVUPS(Mem{Base: x}, Z0)
	VCMPPS(pred, Z31, Z0, K1)
	VMOVUPS_Z(src(), K1, Z1)
	VMOVUPS(Z1, Mem{Base: out})
	ADDQ(U8(64), x)
	ADDQ(U8(64), out)
	if backward {
		ADDQ(U8(64), dy)
	}
	SUBQ(U8(16), n)
	CMPQ(n, U8(16))
	JGE(LabelRef("loop"))
	Label("tail")
	TESTQ(n, n)
	JZ(LabelRef("done"))
	MOVL(U32(1), EAX)
	SHLL(CL, EAX)
	DECL(EAX)
	KMOVW(EAX, K2)
	VMOVUPS_Z(Mem{Base: x}, K2, Z0)
	VCMPPS(pred, Z31, Z0, K2, K1)
	VMOVUPS_Z(src(), K1, Z1)
	VMOVUPS(Z1, K2, Mem{Base: out})
	_ = tmp
	Label("done")
	VZEROUPPER()
	RET()
}
