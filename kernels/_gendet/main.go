// Command gendet writes kernels/det_amd64.s: the deterministic kernels of
// kernels/det.go (DetLinear's GEMM tile, DetLayerNorm, DetGELU,
// DetAttention) for AVX-512 (16 lanes) and AVX2+FMA (8 lanes). Each one
// executes, per output element, exactly the IEEE operations that the Go
// twin in det.go executes, in the same order; where the Go twin sums in 16
// lanes, the AVX2 kernels keep two ymm halves. The x86 MINPS/MAXPS operand
// order matters (NaN returns the second source), and so does the order of
// every non-commutative step, so comments give each instruction's Intel
// meaning. It is its own module so that avo is not a dependency of vqgen.
// Run it through `go generate` in kernels/.
package main

import (
	"fmt"
	"math"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// Constants live in one table, each replicated 8 times (32 bytes) so that
// AVX2 can use them as full ymm operands and AVX-512 as embedded
// broadcasts.
var (
	consts     Mem
	constIndex = map[string]int{}
	tailMask   Mem
	detPermIdx Mem
)

func defConst(name string, bits uint32) {
	off := 32 * len(constIndex)
	constIndex[name] = off
	for i := 0; i < 8; i++ {
		DATA(off+4*i, U32(bits))
	}
}

func c(name string) Mem {
	off, ok := constIndex[name]
	if !ok {
		panic("no constant " + name)
	}
	return consts.Offset(off)
}

func f32(v float64) uint32 { return math.Float32bits(float32(v)) }

// These must equal the constants of kernels/det.go bit for bit.
var (
	expC = []float64{1.0 / 720, 1.0 / 120, 1.0 / 24, 1.0 / 6, 0.5, 1, 1}
	erfP = []float64{-2.72614225801306e-10, 2.77068142495902e-08, -2.10102402082508e-06,
		-5.69250639462346e-05, -7.34990630326855e-04, -2.95459980854025e-03, -1.60960333262415e-02}
	erfQ = []float64{-1.45660718464996e-05, -2.13374055278905e-04, -1.68282697438203e-03,
		-7.37332916720468e-03, -1.42647390514189e-02}
)

func main() {
	ConstraintExpr("!noasm")
	consts = GLOBL("detconsts", RODATA|NOPTR)
	defConst("one", f32(1))
	defConst("half", f32(0.5))
	defConst("four", f32(4))
	defConst("mfour", f32(-4))
	defConst("invsqrt2", f32(1/math.Sqrt2))
	defConst("log2e", f32(1.4426950408889634))
	defConst("ln2hi", f32(0.693359375))
	defConst("ln2lo", f32(-2.12194440e-4))
	defConst("expmax", f32(88.8))
	defConst("expmin", f32(-87.3))
	defConst("ninf", 0xff800000)
	defConst("bias", 127)
	for i, v := range expC {
		defConst(fmt.Sprint("exp", i), f32(v))
	}
	for i, v := range erfP {
		defConst(fmt.Sprint("erfp", i), f32(v))
	}
	for i, v := range erfQ {
		defConst(fmt.Sprint("erfq", i), f32(v))
	}
	// detPermIdx puts the score network's output (element 4t+u holds key
	// t+4u) in key order.
	detPermIdx = GLOBL("detpermidx", RODATA|NOPTR)
	for j := 0; j < 16; j++ {
		DATA(4*j, U32(4*(j%4)+j/4))
	}
	// AVX2 masks: loading 8 lanes at byte offset 4*(8-n) gives n ones.
	tailMask = GLOBL("dettailmask", RODATA|NOPTR)
	for i := 0; i < 16; i++ {
		v := uint32(0)
		if i < 8 {
			v = 0xffffffff
		}
		DATA(4*i, U32(v))
	}

	genGemmAVX512()
	genGemmAVX2()
	for _, v := range []*isa{{name: "AVX512", w: 16, z: true}, {name: "AVX2", w: 8}} {
		genNorm(v)
		genGELU(v)
	}
	genScoresAVX512()
	genScoresAVX2()
	for _, v := range []*isa{{name: "AVX512", w: 16, z: true}, {name: "AVX2", w: 8}} {
		genSoftmax(v)
		genAttnOut(v)
	}
	genHalf()
	genQuantMax()
	genQuantWeights()
	genQuantScale()
	Generate()
}

func zmm(i int) VecPhysical {
	return []VecPhysical{Z0, Z1, Z2, Z3, Z4, Z5, Z6, Z7, Z8, Z9, Z10, Z11, Z12, Z13, Z14, Z15,
		Z16, Z17, Z18, Z19, Z20, Z21, Z22, Z23, Z24, Z25, Z26, Z27, Z28, Z29, Z30, Z31}[i]
}

func ymm(i int) VecPhysical {
	return []VecPhysical{Y0, Y1, Y2, Y3, Y4, Y5, Y6, Y7, Y8, Y9, Y10, Y11, Y12, Y13, Y14, Y15}[i]
}

// ---------------------------------------------------------------- GEMM

const gemmSig = "func(k int, a *float32, lda int, b, c *float32, ldc int, bias, res *float32, ldr int, rows, cols int)"

// rowAddr addresses row r (< 14) of A at byte offset disp along k, from
// three row pointers b0 (row 0), b1 (row 5) and b2 (row 10) and the row
// stride l and 3*l in bytes: A is read in place, row-major, with no packing.
// Row r is base + index*scale for the first form in rowForms that gives r.
func rowAddr(r, disp int, b0, b1, b2, l, l3 Register) Mem {
	bases := []Register{b0, b1, b2}
	for base, row0 := range []int{0, 5, 10} {
		if r == row0 {
			return Mem{Base: bases[base], Disp: disp}
		}
		for _, ix := range []struct {
			reg  Register
			mult int
		}{{l, 1}, {l3, 3}} {
			for _, scale := range []int{1, 2, 4, 8} {
				if row0+ix.mult*scale == r {
					return Mem{Base: bases[base], Index: ix.reg, Scale: uint8(scale), Disp: disp}
				}
			}
		}
	}
	panic(fmt.Sprintf("row %d has no address form", r))
}

// genGemmAVX512 emits the 14x32 tile: acc[r][:] = fma chain over p of
// A[r][p] * Bpanel[p][:] from zero (A row-major with row stride lda, B a
// packed panel of 32 columns per k), then C[r][:] = acc + bias (+ res[r]
// when res != nil) for r < rows and the first cols columns.
func genGemmAVX512() {
	const mr, nv, nr, unroll = 14, 2, 32, 4
	TEXT("detGemmAVX512", NOSPLIT, gemmSig)
	Doc("detGemmAVX512 computes one 14x32 tile of DetLinear (see det.go).")
	acc := func(r, j int) VecPhysical { return zmm(r*nv + j) }
	bv := func(j int) VecPhysical { return zmm(mr*nv + j) }
	k, b0, b1, b2, l, l3, b := RCX, RSI, R9, R10, R11, R12, RDI
	Load(Param("k"), k)
	Load(Param("a"), b0)
	Load(Param("lda"), l)
	Load(Param("b"), b)
	SHLQ(U8(2), l)
	LEAQ(Mem{Base: l, Index: l, Scale: 2}, l3)
	LEAQ(Mem{Base: b0, Index: l, Scale: 4}, b1)
	ADDQ(l, b1)
	LEAQ(Mem{Base: b1, Index: l, Scale: 4}, b2)
	ADDQ(l, b2)
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
				// acc = bv * A[r][p] + acc
				VFMADD231PS_BCST(rowAddr(r, 4*s, b0, b1, b2, l, l3), bv(j), acc(r, j))
			}
		}
	}
	CMPQ(k, U8(unroll))
	JL(LabelRef("gz_tail"))
	Label("gz_loop")
	for s := 0; s < unroll; s++ {
		step(s)
	}
	for _, p := range []Register{b0, b1, b2} {
		ADDQ(U8(4*unroll), p)
	}
	ADDQ(U32(4*nr*unroll), b)
	SUBQ(U8(unroll), k)
	CMPQ(k, U8(unroll))
	JGE(LabelRef("gz_loop"))
	Label("gz_tail")
	TESTQ(k, k)
	JZ(LabelRef("gz_store"))
	step(0)
	for _, p := range []Register{b0, b1, b2} {
		ADDQ(U8(4), p)
	}
	ADDQ(U32(4*nr), b)
	DECQ(k)
	JMP(LabelRef("gz_tail"))

	Label("gz_store")
	cp, ldc, res, ldr, rows := RDX, R8, R13, R14, RBX
	Load(Param("c"), cp)
	Load(Param("ldc"), ldc)
	SHLQ(U8(2), ldc)
	Load(Param("res"), res)
	Load(Param("ldr"), ldr)
	SHLQ(U8(2), ldr)
	Load(Param("rows"), rows)
	Load(Param("cols"), RCX)
	MOVQ(U32(1), RAX)
	SHLQ(CL, RAX)
	DECQ(RAX)
	KMOVW(EAX, K1)
	SHRQ(U8(16), RAX)
	KMOVW(EAX, K2)
	mask := []Op{K1, K2}
	Load(Param("bias"), RAX)
	VMOVUPS(Mem{Base: RAX}, bv(0))
	VMOVUPS(Mem{Base: RAX, Disp: 64}, bv(1))
	tmp := zmm(30)
	epilogue := func(withRes bool, done string) {
		for r := 0; r < mr; r++ {
			for j := 0; j < nv; j++ {
				VADDPS(bv(j), acc(r, j), acc(r, j)) // acc + bias
				if withRes {
					VMOVUPS_Z(Mem{Base: res, Disp: 64 * j}, mask[j], tmp)
					VADDPS(tmp, acc(r, j), acc(r, j)) // res + (acc + bias)
				}
				VMOVUPS(acc(r, j), mask[j], Mem{Base: cp, Disp: 64 * j})
			}
			if r < mr-1 {
				DECQ(rows)
				JZ(LabelRef(done))
				ADDQ(ldc, cp)
				if withRes {
					ADDQ(ldr, res)
				}
			}
		}
		JMP(LabelRef(done))
	}
	TESTQ(res, res)
	JZ(LabelRef("gz_nores"))
	epilogue(true, "gz_done")
	Label("gz_nores")
	epilogue(false, "gz_done")
	Label("gz_done")
	VZEROUPPER()
	RET()
}

// genGemmAVX2 emits the 6x16 tile with the same per-element operations.
func genGemmAVX2() {
	const mr, nv, nr, unroll = 6, 2, 16, 4
	TEXT("detGemmAVX2", NOSPLIT, gemmSig)
	Doc("detGemmAVX2 computes one 6x16 tile of DetLinear (see det.go).")
	acc := func(r, j int) VecPhysical { return ymm(r*nv + j) }
	bv := func(j int) VecPhysical { return ymm(mr*nv + j) }
	av := ymm(14)
	k, b0, b1, l, l3, b := RCX, RSI, R9, R11, R12, RDI
	Load(Param("k"), k)
	Load(Param("a"), b0)
	Load(Param("lda"), l)
	Load(Param("b"), b)
	SHLQ(U8(2), l)
	LEAQ(Mem{Base: l, Index: l, Scale: 2}, l3)
	LEAQ(Mem{Base: b0, Index: l, Scale: 4}, b1)
	ADDQ(l, b1)
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
			VBROADCASTSS(rowAddr(r, 4*s, b0, b1, b1, l, l3), av)
			for j := 0; j < nv; j++ {
				VFMADD231PS(bv(j), av, acc(r, j)) // acc = av*bv + acc
			}
		}
	}
	CMPQ(k, U8(unroll))
	JL(LabelRef("gy_tail"))
	Label("gy_loop")
	for s := 0; s < unroll; s++ {
		step(s)
	}
	ADDQ(U8(4*unroll), b0)
	ADDQ(U8(4*unroll), b1)
	ADDQ(U32(4*nr*unroll), b)
	SUBQ(U8(unroll), k)
	CMPQ(k, U8(unroll))
	JGE(LabelRef("gy_loop"))
	Label("gy_tail")
	TESTQ(k, k)
	JZ(LabelRef("gy_store"))
	step(0)
	ADDQ(U8(4), b0)
	ADDQ(U8(4), b1)
	ADDQ(U32(4*nr), b)
	DECQ(k)
	JMP(LabelRef("gy_tail"))

	Label("gy_store")
	cp, ldc, res, ldr, rows, bias := RDX, R8, R13, R14, RBX, RDI
	Load(Param("c"), cp)
	Load(Param("ldc"), ldc)
	SHLQ(U8(2), ldc)
	Load(Param("res"), res)
	Load(Param("ldr"), ldr)
	SHLQ(U8(2), ldr)
	Load(Param("rows"), rows)
	Load(Param("bias"), bias)
	// Column masks: lo = min(cols, 8) ones, hi = max(cols-8, 0) ones.
	m0, m1, tmp := bv(0), bv(1), av
	Load(Param("cols"), RCX)
	LEAQ(tailMask, RAX)
	MOVQ(U32(8), R10)
	CMPQ(RCX, U8(8))
	JGE(LabelRef("gy_lofull"))
	SUBQ(RCX, R10)
	VMOVDQU(Mem{Base: RAX, Index: R10, Scale: 4}, m0)
	VXORPS(m1, m1, m1)
	JMP(LabelRef("gy_masks"))
	Label("gy_lofull")
	VMOVDQU(Mem{Base: RAX}, m0)
	SUBQ(U8(8), RCX)
	SUBQ(RCX, R10)
	VMOVDQU(Mem{Base: RAX, Index: R10, Scale: 4}, m1)
	Label("gy_masks")
	mask := []VecPhysical{m0, m1}
	epilogue := func(withRes bool, done string) {
		for r := 0; r < mr; r++ {
			for j := 0; j < nv; j++ {
				VADDPS(Mem{Base: bias, Disp: 32 * j}, acc(r, j), acc(r, j)) // acc + bias
				if withRes {
					VMASKMOVPS(Mem{Base: res, Disp: 32 * j}, mask[j], tmp)
					VADDPS(tmp, acc(r, j), acc(r, j)) // res + (acc + bias)
				}
				VMASKMOVPS(acc(r, j), mask[j], Mem{Base: cp, Disp: 32 * j})
			}
			if r < mr-1 {
				DECQ(rows)
				JZ(LabelRef(done))
				ADDQ(ldc, cp)
				if withRes {
					ADDQ(ldr, res)
				}
			}
		}
		JMP(LabelRef(done))
	}
	TESTQ(res, res)
	JZ(LabelRef("gy_nores"))
	epilogue(true, "gy_done")
	Label("gy_nores")
	epilogue(false, "gy_done")
	Label("gy_done")
	VZEROUPPER()
	RET()
}

// ---------------------------------------------------------------- vectors

// isa emits one vector width: AVX-512 (z) uses zmm registers, embedded
// broadcasts and opmasks; AVX2 uses ymm registers, 32-byte constants and
// blend masks.
type isa struct {
	name string
	w    int
	z    bool
}

func (v *isa) reg() VecVirtual {
	if v.z {
		return ZMM()
	}
	return YMM()
}

func (v *isa) bc(name string) VecVirtual {
	r := v.reg()
	VBROADCASTSS(c(name), r)
	return r
}

// fmaC sets p = p*r + const.
func (v *isa) fmaC(name string, r, p Register) {
	if v.z {
		VFMADD213PS_BCST(c(name), r, p)
	} else {
		VFMADD213PS(c(name), r, p)
	}
}

// fnmaC sets p = p - r*const, rounded once.
func (v *isa) fnmaC(name string, r, p Register) {
	if v.z {
		VFNMADD231PS_BCST(c(name), r, p)
	} else {
		VFNMADD231PS(c(name), r, p)
	}
}

func (v *isa) mulC(name string, x Register) VecVirtual {
	d := v.reg()
	if v.z {
		VMULPS_BCST(c(name), x, d)
	} else {
		VMULPS(c(name), x, d)
	}
	return d
}

// clamp returns maxps(lo, minps(hi, x)) with the Go twin's minps(a, b) =
// a < b ? a : b: Intel VMINPS dst, src1, src2 is src1 < src2 ? src1 : src2,
// so src1 is the constant and a NaN x passes through.
func (v *isa) clamp(x Register, lo, hi string) VecVirtual {
	d := v.reg()
	VMINPS(x, v.bc(hi), d) // d = hi < x ? hi : x
	VMAXPS(d, v.bc(lo), d) // d = lo > d ? lo : d
	return d
}

// exp is DetExp.
func (v *isa) exp(x Register) VecVirtual {
	xc := v.clamp(x, "expmin", "expmax")
	t := v.mulC("log2e", xc)
	n := v.reg()
	if v.z {
		VRNDSCALEPS(U8(0), t, n)
	} else {
		VROUNDPS(U8(0), t, n)
	}
	r := xc
	v.fnmaC("ln2hi", n, r)
	v.fnmaC("ln2lo", n, r)
	p := v.bc("exp0")
	for i := 1; i < len(expC); i++ {
		v.fmaC(fmt.Sprint("exp", i), r, p)
	}
	ni, n1, n2 := v.reg(), v.reg(), v.reg()
	VCVTPS2DQ(n, ni)
	VPSRAD(U8(1), ni, n1)
	VPSUBD(n1, ni, n2) // n2 = ni - n1
	if v.z {
		VPADDD_BCST(c("bias"), n1, n1)
		VPADDD_BCST(c("bias"), n2, n2)
	} else {
		VPADDD(c("bias"), n1, n1)
		VPADDD(c("bias"), n2, n2)
	}
	VPSLLD(U8(23), n1, n1)
	VPSLLD(U8(23), n2, n2)
	VMULPS(n1, p, p)
	out := v.reg()
	if v.z {
		const nltUQ = 0x15 // !(x < min), true for NaN
		VCMPPS_BCST(U8(nltUQ), c("expmin"), x, K3)
		VMULPS_Z(n2, p, K3, out)
		return out
	}
	VMULPS(n2, p, p)
	m := v.reg()
	VCMPPS(U8(5), c("expmin"), x, m) // NLT_US
	VANDPS(m, p, out)
	return out
}

func (v *isa) gelu(x Register) VecVirtual {
	u := v.clamp(v.mulC("invsqrt2", x), "mfour", "four")
	u2 := v.reg()
	VMULPS(u, u, u2)
	p := v.bc("erfp0")
	for i := 1; i < len(erfP); i++ {
		v.fmaC(fmt.Sprint("erfp", i), u2, p)
	}
	VMULPS(u, p, p)
	q := v.bc("erfq0")
	for i := 1; i < len(erfQ); i++ {
		v.fmaC(fmt.Sprint("erfq", i), u2, q)
	}
	VDIVPS(q, p, p) // p = p / q
	h := v.mulC("half", x)
	VFMADD213PS(h, h, p) // p = p*h + h
	return p
}

// genGELU emits detGelu<ISA>(y, x *float32, n int): full vectors, then one
// masked vector for the rest, so every element takes the same path.
func genGELU(v *isa) {
	fn := "detGelu" + v.name
	TEXT(fn, NOSPLIT, "func(y, x *float32, n int)")
	Doc(fn + " sets y[i] = detGELU(x[i]) for i < n.")
	y, x, n := RDI, RSI, RCX
	Load(Param("y"), y)
	Load(Param("x"), x)
	Load(Param("n"), n)
	Label(fn + "_loop")
	CMPQ(n, U8(v.w))
	JL(LabelRef(fn + "_tail"))
	in := v.reg()
	VMOVUPS(Mem{Base: x}, in)
	VMOVUPS(v.gelu(in), Mem{Base: y})
	ADDQ(U8(4*v.w), x)
	ADDQ(U8(4*v.w), y)
	SUBQ(U8(v.w), n)
	JMP(LabelRef(fn + "_loop"))
	Label(fn + "_tail")
	TESTQ(n, n)
	JZ(LabelRef(fn + "_done"))
	if v.z {
		MOVL(U32(1), EAX)
		SHLL(CL, EAX)
		DECL(EAX)
		KMOVW(EAX, K1)
		t := v.reg()
		VMOVUPS_Z(Mem{Base: x}, K1, t)
		VMOVUPS(v.gelu(t), K1, Mem{Base: y})
	} else {
		m := v.reg()
		MOVQ(U32(8), RAX)
		SUBQ(n, RAX)
		LEAQ(tailMask, R11)
		VMOVDQU(Mem{Base: R11, Index: RAX, Scale: 4}, m)
		t := v.reg()
		VMASKMOVPS(Mem{Base: x}, m, t)
		VMASKMOVPS(v.gelu(t), m, Mem{Base: y})
	}
	Label(fn + "_done")
	VZEROUPPER()
	RET()
}

// lanes16 abstracts a 16-lane float vector: one zmm, or two ymm halves
// (lanes 0-7, 8-15).
type lanes16 struct {
	v    *isa
	h    []VecVirtual
	mask []VecVirtual // AVX2 tail masks per half
}

// tree16 reduces 16 lanes in s (destroyed) to lane 0 of an xmm register by
// lane l op= lane l+8, then +4, +2, +1, with the lower lanes as the first
// source (op is VADDPS/VADDSS or VMAXPS/VMAXSS).
func tree16(v *isa, s []VecVirtual, op func(a, b, d Op), opss func(a, b, d Op)) VecVirtual {
	var y VecVirtual
	if v.z {
		y = YMM()
		hi := YMM()
		VEXTRACTF64X4(U8(1), s[0], hi)
		op(hi, s[0].AsY(), y) // y = lo op hi
	} else {
		y = YMM()
		op(s[1], s[0], y) // y = lo op hi
	}
	x := XMM()
	hi4 := XMM()
	VEXTRACTF128(U8(1), y, hi4)
	op(hi4, y.AsX(), x) // lanes 0-3 op 4-7
	hi2 := XMM()
	VMOVHLPS(x, x, hi2)
	op(hi2, x, x) // lanes 0-1 op 2-3
	hi1 := XMM()
	VMOVSHDUP(x, hi1)
	opss(hi1, x, x) // lane 0 op 1
	return x
}

func vaddps(a, b, d Op) { VADDPS(a, b, d) }
func vaddss(a, b, d Op) { VADDSS(a, b, d) }
func vmaxps(a, b, d Op) { VMAXPS(a, b, d) } // d = b > a ? b : a (b is Intel's src1)
func vmaxss(a, b, d Op) { VMAXSS(a, b, d) }

// genNorm emits detNorm<ISA>(y, x *float32, rows, d int, g, b *float32,
// eps, fd float32): DetLayerNorm, fd = float32(d).
func genNorm(v *isa) {
	fn := "detNorm" + v.name
	TEXT(fn, NOSPLIT, "func(y, x *float32, rows, d int, gain, bias *float32, eps, fd float32)")
	Doc(fn + " is DetLayerNorm over rows rows of d floats (see det.go).")
	y, x, rows, d := RDI, RSI, RBX, RDX
	gp, bp, i, tail := R8, R9, R10, R11
	Load(Param("y"), y)
	Load(Param("x"), x)
	Load(Param("rows"), rows)
	Load(Param("d"), d)
	// tail = d mod 16; its masks.
	MOVQ(d, tail)
	ANDQ(U8(15), tail)
	halves := 1
	if !v.z {
		halves = 2
	}
	var zmask []VecVirtual
	if v.z {
		MOVQ(tail, RCX)
		MOVL(U32(1), EAX)
		SHLL(CL, EAX)
		DECL(EAX)
		KMOVW(EAX, K1)
	} else {
		// lo = min(tail, 8) ones, hi = max(tail-8, 0) ones.
		lo, hi := YMM(), YMM()
		LEAQ(tailMask, RAX)
		MOVQ(tail, RCX)
		MOVQ(U32(8), R12)
		CMPQ(RCX, U8(8))
		JGE(LabelRef(fn + "_lofull"))
		SUBQ(RCX, R12)
		VMOVDQU(Mem{Base: RAX, Index: R12, Scale: 4}, lo)
		VXORPS(hi, hi, hi)
		JMP(LabelRef(fn + "_masks"))
		Label(fn + "_lofull")
		VMOVDQU(Mem{Base: RAX}, lo)
		SUBQ(U8(8), RCX)
		SUBQ(RCX, R12)
		VMOVDQU(Mem{Base: RAX, Index: R12, Scale: 4}, hi)
		Label(fn + "_masks")
		zmask = []VecVirtual{lo, hi}
	}
	// VMOVSS, not Load's MOVSS: a legacy-SSE instruction among AVX-512
	// ones costs a state transition (measured ~170 ns a call).
	fd, eps := XMM(), XMM()
	VMOVSS(NewParamAddr("fd", 52), fd)
	VMOVSS(NewParamAddr("eps", 48), eps)
	// full = d - tail: bytes of whole 16-lane chunks.
	full := R13
	MOVQ(d, full)
	SUBQ(tail, full)
	SHLQ(U8(2), full)
	SHLQ(U8(2), d)

	Label(fn + "_row")
	TESTQ(rows, rows)
	JZ(LabelRef(fn + "_done"))
	// pass over x; body(off, masked, parts) handles 16 lanes at x+off.
	pass := func(tag string, body func(off Register, masked bool)) {
		XORQ(i, i)
		Label(fn + tag + "_loop")
		CMPQ(i, full)
		JGE(LabelRef(fn + tag + "_tail"))
		body(i, false)
		ADDQ(U8(64), i)
		JMP(LabelRef(fn + tag + "_loop"))
		Label(fn + tag + "_tail")
		TESTQ(tail, tail)
		JZ(LabelRef(fn + tag + "_end"))
		body(i, true)
		Label(fn + tag + "_end")
	}
	load := func(base Register, off Register, h int, masked bool) VecVirtual {
		r := v.reg()
		m := Mem{Base: base, Index: off, Scale: 1, Disp: 32 * h}
		switch {
		case !masked:
			VMOVUPS(m, r)
		case v.z:
			VMOVUPS_Z(m, K1, r)
		default:
			VMASKMOVPS(m, zmask[h], r)
		}
		return r
	}
	// Sum.
	s := make([]VecVirtual, halves)
	for h := range s {
		s[h] = v.reg()
		VXORPS(s[h], s[h], s[h])
	}
	pass("_sum", func(off Register, masked bool) {
		for h := range s {
			t := load(x, off, h, masked)
			VADDPS(t, s[h], s[h])
		}
	})
	mean := tree16(v, s, vaddps, vaddss)
	VDIVSS(fd, mean, mean) // mean = total / fd
	mb := v.reg()
	VBROADCASTSS(mean, mb)
	// Sum of squares of x - mean, the tail's padding lanes zeroed.
	s2 := make([]VecVirtual, halves)
	for h := range s2 {
		s2[h] = v.reg()
		VXORPS(s2[h], s2[h], s2[h])
	}
	pass("_var", func(off Register, masked bool) {
		for h := range s2 {
			t := load(x, off, h, masked)
			if masked && v.z {
				VSUBPS_Z(mb, t, K1, t) // t = x - mean, 0 past d
			} else {
				VSUBPS(mb, t, t) // t = x - mean
				if masked {
					VANDPS(zmask[h], t, t)
				}
			}
			VMULPS(t, t, t)
			VADDPS(t, s2[h], s2[h])
		}
	})
	vs := tree16(v, s2, vaddps, vaddss)
	VDIVSS(fd, vs, vs) // v / fd
	VADDSS(eps, vs, vs)
	VSQRTSS(vs, vs, vs)
	one := XMM()
	VMOVSS(c("one"), one)
	VDIVSS(vs, one, one) // rs = 1 / sqrt
	rs := v.reg()
	VBROADCASTSS(one, rs)
	Load(Param("gain"), gp)
	Load(Param("bias"), bp)
	pass("_out", func(off Register, masked bool) {
		for h := 0; h < halves; h++ {
			t := load(x, off, h, masked)
			VSUBPS(mb, t, t) // x - mean
			VMULPS(rs, t, t) // * rs
			VMULPS(load(gp, off, h, masked), t, t)
			VADDPS(load(bp, off, h, masked), t, t)
			m := Mem{Base: y, Index: off, Scale: 1, Disp: 32 * h}
			switch {
			case !masked:
				VMOVUPS(t, m)
			case v.z:
				VMOVUPS(t, K1, m)
			default:
				VMASKMOVPS(t, zmask[h], m)
			}
		}
	})
	ADDQ(d, x)
	ADDQ(d, y)
	DECQ(rows)
	JMP(LabelRef(fn + "_row"))
	Label(fn + "_done")
	VZEROUPPER()
	RET()
}

// ---------------------------------------------------------------- attention

// genScoresAVX512 emits detScoresAVX512(q *float32, k *uint16, s *float32,
// n, hs, ldk int, scale float32): the scores s[j] of n keys for one head,
// key j's hs half-precision values at k + j*ldk (hs a multiple of 16, at
// most 128), widened exactly to float32. Per key, 16 lanes
// hold FMA chains over the dims d = l mod 16, and the lane tree (l += l+8,
// +4, +2, +1) sums them; a whole block of 16 keys runs the 16 trees at once
// in a transpose-and-add network whose every add is one of those trees'
// adds, and the keys left over take the tree one at a time.
func genScoresAVX512() {
	TEXT("detScoresAVX512", NOSPLIT, "func(q *float32, k *uint16, s *float32, n, hs, ldk int, scale float32)")
	Doc("detScoresAVX512 computes n attention scores of one head (see DetAttention).")
	q, kp, sp, n, vq, ldk := RSI, RDI, R8, RCX, R9, R10
	Load(Param("q"), q)
	Load(Param("k"), kp)
	Load(Param("s"), sp)
	Load(Param("n"), n)
	Load(Param("hs"), vq)
	SHRQ(U8(4), vq) // q vectors, 1..8
	Load(Param("ldk"), ldk)
	SHLQ(U8(1), ldk) // halves
	VBROADCASTSS(NewParamAddr("scale", 48), Z31)
	LEAQ(detPermIdx, RAX)
	VMOVDQU32(Mem{Base: RAX}, Z30)
	// q in Z16..Z23 (only the first vq are used).
	for v := 0; v < 8; v++ {
		CMPQ(vq, U8(v))
		JLE(LabelRef(fmt.Sprintf("zs_qdone")))
		VMOVUPS(Mem{Base: q, Disp: 64 * v}, zmm(16+v))
	}
	Label("zs_qdone")
	// dot(j) accumulates key j's 16 lanes into zmm(j): FMA chain over the
	// q vectors, from zero. kr points at the key.
	dot := func(acc VecPhysical, kr Register, tag string) {
		VPXORD(acc, acc, acc)
		for v := 0; v < 8; v++ {
			CMPQ(vq, U8(v))
			JLE(LabelRef(tag))
			VCVTPH2PS(Mem{Base: kr, Disp: 32 * v}, Z26) // 16 half keys, exact
			VFMADD231PS(Z26, zmm(16+v), acc)            // acc = q*k + acc
		}
		Label(tag)
	}
	kr := R11
	blk := 0
	_ = blk
	Label("zs_block")
	CMPQ(n, U8(16))
	JL(LabelRef("zs_rest"))
	MOVQ(kp, kr)
	for j := 0; j < 16; j++ {
		dot(zmm(j), kr, fmt.Sprintf("zs_b%d", j))
		ADDQ(ldk, kr)
	}
	// +8: B_i = [A_2i lo, A_2i+1 lo] + [A_2i hi, A_2i+1 hi]
	t1, t2 := Z24, Z25
	for i := 0; i < 8; i++ {
		VSHUFF32X4(U8(0x44), zmm(2*i+1), zmm(2*i), t1)
		VSHUFF32X4(U8(0xEE), zmm(2*i+1), zmm(2*i), t2)
		VADDPS(t2, t1, zmm(i))
	}
	// +4: C_m = [B_2m q0, q2, B_2m+1 q0, q2] + [B_2m q1, q3, B_2m+1 q1, q3]
	for m := 0; m < 4; m++ {
		VSHUFF32X4(U8(0x88), zmm(2*m+1), zmm(2*m), t1)
		VSHUFF32X4(U8(0xDD), zmm(2*m+1), zmm(2*m), t2)
		VADDPS(t2, t1, zmm(m))
	}
	// +2 within 128-bit lanes, then +1.
	for m := 0; m < 2; m++ {
		VSHUFPS(U8(0x44), zmm(2*m+1), zmm(2*m), t1)
		VSHUFPS(U8(0xEE), zmm(2*m+1), zmm(2*m), t2)
		VADDPS(t2, t1, zmm(m))
	}
	VSHUFPS(U8(0x88), Z1, Z0, t1)
	VSHUFPS(U8(0xDD), Z1, Z0, t2)
	VADDPS(t2, t1, Z0)
	// Element 4t+u holds key t+4u: put keys in order, scale, store.
	VPERMPS(Z0, Z30, Z0)
	VMULPS(Z31, Z0, Z0)
	VMOVUPS(Z0, Mem{Base: sp})
	ADDQ(U8(64), sp)
	MOVQ(ldk, RAX)
	SHLQ(U8(4), RAX)
	ADDQ(RAX, kp)
	SUBQ(U8(16), n)
	JMP(LabelRef("zs_block"))

	Label("zs_rest")
	TESTQ(n, n)
	JZ(LabelRef("zs_done"))
	dot(Z0, kp, "zs_r")
	VEXTRACTF64X4(U8(1), Z0, Y1)
	VADDPS(Y1, Y0, Y0)
	VEXTRACTF128(U8(1), Y0, X1)
	VADDPS(X1, X0, X0)
	VMOVHLPS(X0, X0, X1)
	VADDPS(X1, X0, X0)
	VMOVSHDUP(X0, X1)
	VADDSS(X1, X0, X0)
	VMULSS(X31, X0, X0)
	VMOVSS(X0, Mem{Base: sp})
	ADDQ(U8(4), sp)
	ADDQ(ldk, kp)
	DECQ(n)
	JMP(LabelRef("zs_rest"))
	Label("zs_done")
	VZEROUPPER()
	RET()
}

// genScoresAVX2 emits detScoresAVX2: each key's 16 lanes in two ymm
// halves, then the lane tree.
func genScoresAVX2() {
	TEXT("detScoresAVX2", NOSPLIT, "func(q *float32, k *uint16, s *float32, n, hs, ldk int, scale float32)")
	Doc("detScoresAVX2 computes n attention scores of one head (see DetAttention).")
	q, kp, sp, n, hsb, ldk, d := RSI, RDI, R8, RCX, R9, R10, R11
	Load(Param("q"), q)
	Load(Param("k"), kp)
	Load(Param("s"), sp)
	Load(Param("n"), n)
	Load(Param("hs"), hsb) // elements
	Load(Param("ldk"), ldk)
	SHLQ(U8(1), ldk) // halves
	VBROADCASTSS(NewParamAddr("scale", 48), Y15)
	Label("ys_key")
	TESTQ(n, n)
	JZ(LabelRef("ys_done"))
	// Two keys' chains at a time would hide more latency; one keeps the
	// code short, and AVX2 is the fallback path.
	VXORPS(Y0, Y0, Y0)
	VXORPS(Y1, Y1, Y1)
	XORQ(d, d)
	Label("ys_d")
	VMOVUPS(Mem{Base: q, Index: d, Scale: 4}, Y2)
	VMOVUPS(Mem{Base: q, Index: d, Scale: 4, Disp: 32}, Y3)
	VCVTPH2PS(Mem{Base: kp, Index: d, Scale: 2}, Y4)
	VCVTPH2PS(Mem{Base: kp, Index: d, Scale: 2, Disp: 16}, Y5)
	VFMADD231PS(Y4, Y2, Y0) // lanes 0-7
	VFMADD231PS(Y5, Y3, Y1) // lanes 8-15
	ADDQ(U8(16), d)
	CMPQ(d, hsb)
	JL(LabelRef("ys_d"))
	VADDPS(Y1, Y0, Y0)
	VEXTRACTF128(U8(1), Y0, X1)
	VADDPS(X1, X0, X0)
	VMOVHLPS(X0, X0, X1)
	VADDPS(X1, X0, X0)
	VMOVSHDUP(X0, X1)
	VADDSS(X1, X0, X0)
	VMULSS(X15, X0, X0)
	VMOVSS(X0, Mem{Base: sp})
	ADDQ(U8(4), sp)
	ADDQ(ldk, kp)
	DECQ(n)
	JMP(LabelRef("ys_key"))
	Label("ys_done")
	VZEROUPPER()
	RET()
}

// genSoftmax emits detSoftmax<ISA>(p *float32, n int): p[0:n] from scores
// to probabilities in place (see DetAttention); p must have room for n
// rounded up to 16 floats.
func genSoftmax(v *isa) {
	fn := "detSoftmax" + v.name
	TEXT(fn, NOSPLIT, "func(p *float32, n, heads, ps int)")
	Doc(fn + " turns n attention scores of each of heads heads (rows ps floats apart) into probabilities (see DetAttention).")
	p, last, blk, heads, ps := RSI, RDX, RAX, RBX, R10
	Load(Param("p"), p)
	Load(Param("heads"), heads)
	Load(Param("ps"), ps)
	SHLQ(U8(2), ps)
	Load(Param("n"), RCX)
	// last = byte offset of the last block; its lanes < tail are valid.
	MOVQ(RCX, last)
	DECQ(last)
	ANDQ(I32(-16), last)
	SHLQ(U8(2), last)
	DECQ(RCX)
	ANDQ(U8(15), RCX)
	INCQ(RCX) // tail lanes, 1..16
	halves := 2
	var ym []VecVirtual
	if v.z {
		halves = 1
		MOVL(U32(1), EAX)
		SHLL(CL, EAX)
		DECL(EAX)
		KMOVW(EAX, K1)
		XORQ(blk, blk) // EAX was the mask source
	} else {
		lo, hi := YMM(), YMM()
		LEAQ(tailMask, R8)
		MOVQ(U32(8), R9)
		CMPQ(RCX, U8(8))
		JGE(LabelRef(fn + "_lofull"))
		SUBQ(RCX, R9)
		VMOVDQU(Mem{Base: R8, Index: R9, Scale: 4}, lo)
		VXORPS(hi, hi, hi)
		JMP(LabelRef(fn + "_masks"))
		Label(fn + "_lofull")
		VMOVDQU(Mem{Base: R8}, lo)
		SUBQ(U8(8), RCX)
		SUBQ(RCX, R9)
		VMOVDQU(Mem{Base: R8, Index: R9, Scale: 4}, hi)
		Label(fn + "_masks")
		ym = []VecVirtual{lo, hi}
	}
	mem := func(h int) Mem { return Mem{Base: p, Index: blk, Scale: 1, Disp: 32 * h} }
	Label(fn + "_head")
	// Maximum: m = maxps(m, s), the last block's padding lanes keeping m.
	m := make([]VecVirtual, halves)
	for h := range m {
		m[h] = v.bc("ninf")
	}
	XORQ(blk, blk)
	Label(fn + "_max")
	CMPQ(blk, last)
	JGE(LabelRef(fn + "_maxlast"))
	for h := range m {
		VMAXPS(mem(h), m[h], m[h]) // m = m > s ? m : s
	}
	ADDQ(U8(64), blk)
	JMP(LabelRef(fn + "_max"))
	Label(fn + "_maxlast")
	for h := range m {
		if v.z {
			VMAXPS(mem(h), m[h], K1, m[h])
		} else {
			t := YMM()
			VMAXPS(mem(h), m[h], t)
			VBLENDVPS(ym[h], t, m[h], m[h]) // m = mask ? t : m
		}
	}
	mx := tree16(v, m, vmaxps, vmaxss)
	mb := v.reg()
	VBROADCASTSS(mx, mb)
	// e = DetExp(s - max) summed in 16 lanes, padding lanes zeroed.
	z := make([]VecVirtual, halves)
	for h := range z {
		z[h] = v.reg()
		VXORPS(z[h], z[h], z[h])
	}
	XORQ(blk, blk)
	Label(fn + "_exp")
	es := make([]VecVirtual, halves)
	for h := range es {
		s := v.reg()
		VMOVUPS(mem(h), s)
		VSUBPS(mb, s, s) // s - max
		es[h] = v.exp(s)
	}
	CMPQ(blk, last)
	JL(LabelRef(fn + "_expstore"))
	for h := range es {
		if v.z {
			VMOVAPS_Z(es[h], K1, es[h])
		} else {
			VANDPS(ym[h], es[h], es[h])
		}
	}
	Label(fn + "_expstore")
	for h := range es {
		VADDPS(es[h], z[h], z[h])
		VMOVUPS(es[h], mem(h))
	}
	ADDQ(U8(64), blk)
	CMPQ(blk, last)
	JLE(LabelRef(fn + "_exp"))
	sum := tree16(v, z, vaddps, vaddss)
	one := XMM()
	VMOVSS(c("one"), one)
	VDIVSS(sum, one, one) // 1 / sum
	inv := v.reg()
	VBROADCASTSS(one, inv)
	XORQ(blk, blk)
	Label(fn + "_norm")
	for h := 0; h < halves; h++ {
		t := v.reg()
		VMULPS(mem(h), inv, t)
		VMOVUPS(t, mem(h))
	}
	ADDQ(U8(64), blk)
	CMPQ(blk, last)
	JLE(LabelRef(fn + "_norm"))
	ADDQ(ps, p)
	DECQ(heads)
	JNZ(LabelRef(fn + "_head"))
	VZEROUPPER()
	RET()
}

// genAttnOut emits detAttnOut<ISA>(out *float32, v *uint16, n, ldv int, p
// *float32, offs *int32, vecs int): for vecs (1..8) column vectors u of
// width w, out[u] = fma chain over j < n of p[offs[u]/4 + j] * v[j*ldv +
// u], the half-precision values widened exactly.
func genAttnOut(v *isa) {
	fn := "detAttnOut" + v.name
	TEXT(fn, NOSPLIT, "func(out *float32, v *uint16, n, ldv int, p *float32, offs *int32, vecs int)")
	Doc(fn + " accumulates attention outputs for up to 8 column vectors (see DetAttention).")
	pr := []Register{RAX, RBX, RDX, RSI, RDI, R8, R9, R12}
	vr, ldv, j, offs, pb := R11, R10, RCX, R13, R14
	Load(Param("v"), vr)
	Load(Param("ldv"), ldv)
	SHLQ(U8(1), ldv) // halves
	Load(Param("offs"), offs)
	Load(Param("p"), pb)
	Load(Param("vecs"), RCX)
	for G := 8; G >= 2; G-- {
		CMPQ(RCX, U8(G))
		JGE(LabelRef(fmt.Sprintf("%s_g%d", fn, G)))
	}
	JMP(LabelRef(fn + "_g1"))
	reg := func(i int) VecPhysical {
		if v.z {
			return zmm(i)
		}
		return ymm(i)
	}
	bw := 4 * v.w
	for G := 8; G >= 1; G-- {
		Label(fmt.Sprintf("%s_g%d", fn, G))
		for u := 0; u < G; u++ {
			MOVLQSX(Mem{Base: offs, Disp: 4 * u}, pr[u])
			ADDQ(pb, pr[u])
			VXORPS(reg(u), reg(u), reg(u))
		}
		Load(Param("n"), j)
		jl := fmt.Sprintf("%s_g%d_j", fn, G)
		Label(jl)
		for u := 0; u < G; u++ {
			if v.z {
				VCVTPH2PS(Mem{Base: vr, Disp: bw / 2 * u}, reg(8+u)) // exact
				VFMADD231PS_BCST(Mem{Base: pr[u]}, reg(8+u), reg(u)) // acc = v * p[j] + acc
			} else {
				VBROADCASTSS(Mem{Base: pr[u]}, reg(8))
				VCVTPH2PS(Mem{Base: vr, Disp: bw / 2 * u}, reg(9))
				VFMADD231PS(reg(9), reg(8), reg(u)) // acc = p[j] * v + acc
			}
			ADDQ(U8(4), pr[u])
		}
		ADDQ(ldv, vr)
		DECQ(j)
		JNZ(LabelRef(jl))
		Load(Param("out"), RAX)
		for u := 0; u < G; u++ {
			VMOVUPS(reg(u), Mem{Base: RAX, Disp: bw * u})
		}
		JMP(LabelRef(fn + "_done"))
	}
	Label(fn + "_done")
	VZEROUPPER()
	RET()
}

// ---------------------------------------------------------------- quantizer

// The quantizer kernels (entropy.Quantize's loops) are integer-exact after
// one float32 subtract and multiply per element, so any evaluation order
// gives the Go loops' results; AVX-512 only.

// tailMaskK1 sets K1 to the low n&15 lanes (all 16 when n&15 == 0 is not
// wanted: callers branch on a non-zero tail).
func tailMaskK1(n Register) {
	MOVQ(n, RCX)
	ANDQ(U8(15), RCX)
	MOVL(U32(1), EAX)
	SHLL(CL, EAX)
	DECL(EAX)
	KMOVW(EAX, K1)
}

// genQuantMax emits quantMaxAVX512(x *float32, n int) (m float32, top
// int): the largest x[i] that is not NaN (-Inf if none) and the first i
// where x[i] == m (-1 if none).
func genQuantMax() {
	TEXT("quantMaxAVX512", NOSPLIT, "func(x *float32, n int) (m float32, top int)")
	Doc("quantMaxAVX512 returns the largest non-NaN x[i] (-Inf if none) and the first index holding it (-1 if none).")
	x, n, i := RSI, RDX, RAX
	Load(Param("x"), x)
	Load(Param("n"), n)
	tailMaskK1(n)
	m := Z0
	VBROADCASTSS(c("ninf"), m)
	XORQ(i, i)
	MOVQ(n, R8)
	ANDQ(I32(-16), R8) // whole vectors
	SHLQ(U8(2), R8)
	Label("qm_loop")
	CMPQ(i, R8)
	JGE(LabelRef("qm_tail"))
	VMOVUPS(Mem{Base: x, Index: i, Scale: 1}, Z1)
	VMAXPS(m, Z1, m) // m = x > m ? x : m (a NaN x keeps m)
	ADDQ(U8(64), i)
	JMP(LabelRef("qm_loop"))
	Label("qm_tail")
	TESTQ(U32(15), n)
	JZ(LabelRef("qm_reduce"))
	VMOVUPS_Z(Mem{Base: x, Index: i, Scale: 1}, K1, Z1)
	VMAXPS(m, Z1, K1, m)
	Label("qm_reduce")
	VEXTRACTF64X4(U8(1), m, Y1)
	VMAXPS(Y1, Y0, Y0)
	VEXTRACTF128(U8(1), Y0, X1)
	VMAXPS(X1, X0, X0)
	VMOVHLPS(X0, X0, X1)
	VMAXPS(X1, X0, X0)
	VMOVSHDUP(X0, X1)
	VMAXSS(X1, X0, X0)
	Store(X0, ReturnIndex(0))
	// First index equal to m.
	VBROADCASTSS(X0, Z2)
	XORQ(i, i)
	Label("qt_loop")
	CMPQ(i, R8)
	JGE(LabelRef("qt_tail"))
	VCMPPS(U8(0), Mem{Base: x, Index: i, Scale: 1}, Z2, K2) // EQ_OQ
	KMOVW(K2, ECX)
	TESTL(ECX, ECX)
	JNZ(LabelRef("qt_found"))
	ADDQ(U8(64), i)
	JMP(LabelRef("qt_loop"))
	Label("qt_tail")
	TESTQ(U32(15), n)
	JZ(LabelRef("qt_none"))
	VMOVUPS_Z(Mem{Base: x, Index: i, Scale: 1}, K1, Z1)
	VCMPPS(U8(0), Z1, Z2, K1, K2)
	KMOVW(K2, ECX)
	TESTL(ECX, ECX)
	JNZ(LabelRef("qt_found"))
	Label("qt_none")
	MOVQ(I32(-1), RAX)
	Store(RAX, ReturnIndex(1))
	VZEROUPPER()
	RET()
	Label("qt_found")
	TZCNTL(ECX, ECX)
	SHRQ(U8(2), i)
	ADDQ(RCX, i)
	Store(i, ReturnIndex(1))
	VZEROUPPER()
	RET()
}

// genQuantWeights emits quantWeightsAVX512(w *uint32, x *float32, n int,
// m, scale float32, tab *uint32) uint64: u = trunc((m - x[i])*scale) where
// that is below 32767 (else, NaN included, 32767), w[i] = tab[u & 1023] >>
// (u >> 10), and the sum of the w[i].
func genQuantWeights() {
	TEXT("quantWeightsAVX512", NOSPLIT, "func(w *uint32, x *float32, n int, m, scale float32, tab *uint32) uint64")
	Doc("quantWeightsAVX512 computes entropy.Quantize's weights and their sum.")
	wp, x, n, tab, i := RDI, RSI, RDX, R9, RAX
	Load(Param("w"), wp)
	Load(Param("x"), x)
	Load(Param("n"), n)
	Load(Param("tab"), tab)
	tailMaskK1(n)
	mb, sb, umaxF, umaxI, low := Z16, Z17, Z18, Z19, Z20
	VBROADCASTSS(NewParamAddr("m", 24), mb)
	VBROADCASTSS(NewParamAddr("scale", 28), sb)
	MOVL(U32(math.Float32bits(32767)), ECX)
	VPBROADCASTD(ECX, umaxF)
	MOVL(U32(32767), ECX)
	VPBROADCASTD(ECX, umaxI)
	MOVL(U32(1023), ECX)
	VPBROADCASTD(ECX, low)
	acc0, acc1 := Z21, Z22
	VPXORQ(acc0, acc0, acc0)
	VPXORQ(acc1, acc1, acc1)
	MOVQ(n, R8)
	ANDQ(I32(-16), R8)
	SHLQ(U8(2), R8)
	XORQ(i, i)
	body := func(masked bool) {
		if masked {
			VMOVUPS_Z(Mem{Base: x, Index: i, Scale: 1}, K1, Z1)
		} else {
			VMOVUPS(Mem{Base: x, Index: i, Scale: 1}, Z1)
		}
		VSUBPS(Z1, mb, Z1)              // m - x
		VMULPS(sb, Z1, Z1)              // * scale
		VCMPPS(U8(0x11), umaxF, Z1, K2) // LT_OQ: t < 32767, false for NaN
		VCVTTPS2DQ(Z1, Z2)              // trunc
		VPBLENDMD(Z2, umaxI, K2, Z2)    // u = t < 32767 ? trunc(t) : 32767
		VPANDD(low, Z2, Z3)             // u & 1023
		VPSRLD(U8(10), Z2, Z2)          // u >> 10
		VPXORD(Z4, Z4, Z4)
		if masked {
			KMOVW(K1, K3)
		} else {
			KXNORW(K3, K3, K3)
		}
		VPGATHERDD(Mem{Base: tab, Index: Z3, Scale: 4}, K3, Z4)
		VPSRLVD(Z2, Z4, Z4) // w >> (u >> 10)
		if masked {
			VMOVDQU32(Z4, K1, Mem{Base: wp, Index: i, Scale: 1})
		} else {
			VMOVDQU32(Z4, Mem{Base: wp, Index: i, Scale: 1})
		}
		VPMOVZXDQ(Y4, Z5)
		VPADDQ(Z5, acc0, acc0)
		VEXTRACTI64X4(U8(1), Z4, Y4)
		VPMOVZXDQ(Y4, Z5)
		VPADDQ(Z5, acc1, acc1)
	}
	Label("qw_loop")
	CMPQ(i, R8)
	JGE(LabelRef("qw_tail"))
	body(false)
	ADDQ(U8(64), i)
	JMP(LabelRef("qw_loop"))
	Label("qw_tail")
	TESTQ(U32(15), n)
	JZ(LabelRef("qw_sum"))
	body(true)
	Label("qw_sum")
	VPADDQ(acc1, acc0, acc0)
	VEXTRACTI64X4(U8(1), acc0, Y1)
	VPADDQ(Y1, Y21, Y1)
	VEXTRACTI128(U8(1), Y1, X2)
	VPADDQ(X2, X1, X1)
	VPSHUFD(U8(0x4e), X1, X2)
	VPADDQ(X2, X1, X1)
	VMOVQ(X1, RAX)
	Store(RAX, ReturnIndex(0))
	VZEROUPPER()
	RET()
}

// genQuantScale emits quantScaleAVX512(f *uint32, n int, r uint32) uint64:
// f[i] = 1 + (f[i]*r >> 32) in place, and their sum.
func genQuantScale() {
	TEXT("quantScaleAVX512", NOSPLIT, "func(f *uint32, n int, r uint32) uint64")
	Doc("quantScaleAVX512 turns entropy.Quantize's weights into frequencies and returns their sum.")
	fp, n, i := RDI, RDX, RAX
	Load(Param("f"), fp)
	Load(Param("n"), n)
	tailMaskK1(n)
	rb, one, acc := Z16, Z17, Z18
	MOVL(NewParamAddr("r", 16), ECX)
	VPBROADCASTQ(RCX, rb)
	MOVL(U32(1), ECX)
	VPBROADCASTD(ECX, one)
	MOVL(U32(0xaaaa), ECX)
	KMOVW(ECX, K4) // odd dword lanes
	VPXORD(acc, acc, acc)
	MOVQ(n, R8)
	ANDQ(I32(-16), R8)
	SHLQ(U8(2), R8)
	XORQ(i, i)
	body := func(masked bool) {
		if masked {
			VMOVDQU32_Z(Mem{Base: fp, Index: i, Scale: 1}, K1, Z1)
		} else {
			VMOVDQU32(Mem{Base: fp, Index: i, Scale: 1}, Z1)
		}
		VPMULUDQ(rb, Z1, Z2)      // even lanes' 64-bit products
		VPSRLQ(U8(32), Z1, Z3)    // odd lanes moved down
		VPMULUDQ(rb, Z3, Z3)      // odd lanes' products
		VPSRLQ(U8(32), Z2, Z2)    // even products' high halves, in the even lanes
		VPBLENDMD(Z3, Z2, K4, Z2) // odd lanes: odd products' high halves
		VPADDD(one, Z2, Z2)
		if masked {
			VMOVDQU32(Z2, K1, Mem{Base: fp, Index: i, Scale: 1})
			VPADDD(Z2, acc, K1, acc)
		} else {
			VMOVDQU32(Z2, Mem{Base: fp, Index: i, Scale: 1})
			VPADDD(Z2, acc, acc)
		}
	}
	Label("qs_loop")
	CMPQ(i, R8)
	JGE(LabelRef("qs_tail"))
	body(false)
	ADDQ(U8(64), i)
	JMP(LabelRef("qs_loop"))
	Label("qs_tail")
	TESTQ(U32(15), n)
	JZ(LabelRef("qs_sum"))
	body(true)
	Label("qs_sum")
	VEXTRACTI64X4(U8(1), acc, Y1)
	VPADDD(Y1, Y18, Y1)
	VEXTRACTI128(U8(1), Y1, X2)
	VPADDD(X2, X1, X1)
	VPSHUFD(U8(0x4e), X1, X2)
	VPADDD(X2, X1, X1)
	VPSHUFD(U8(0xb1), X1, X2)
	VPADDD(X2, X1, X1)
	VMOVD(X1, EAX)
	Store(RAX, ReturnIndex(0))
	VZEROUPPER()
	RET()
}

// genHalf emits detHalf<ISA>(dst *uint16, src *float32, n int): dst[i] =
// src[i] rounded to half precision, to nearest even (VCVTPS2PH with
// imm8 = 0), for whole vectors only: n must be a multiple of 16 (AVX-512)
// or 8 (AVX2); the caller converts the rest.
func genHalf() {
	for _, v := range []*isa{{name: "AVX512", w: 16, z: true}, {name: "AVX2", w: 8}} {
		fn := "detHalf" + v.name
		TEXT(fn, NOSPLIT, "func(dst *uint16, src *float32, n int)")
		Doc(fn + " rounds n floats (a multiple of the vector width) to half precision.")
		Load(Param("dst"), RDI)
		Load(Param("src"), RSI)
		Load(Param("n"), RCX)
		Label(fn + "_loop")
		TESTQ(RCX, RCX)
		JZ(LabelRef(fn + "_done"))
		if v.z {
			VMOVUPS(Mem{Base: RSI}, Z0)
			VCVTPS2PH(U8(0), Z0, Mem{Base: RDI})
		} else {
			VMOVUPS(Mem{Base: RSI}, Y0)
			VCVTPS2PH(U8(0), Y0, Mem{Base: RDI})
		}
		ADDQ(U8(4*v.w), RSI)
		ADDQ(U8(2*v.w), RDI)
		SUBQ(U8(v.w), RCX)
		JMP(LabelRef(fn + "_loop"))
		Label(fn + "_done")
		VZEROUPPER()
		RET()
	}
}
