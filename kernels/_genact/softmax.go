package main

import (
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// The softmax kernels work on one row of attention scores at a time: 16
// lanes per step and a zero-masked tail, so an element's arithmetic does
// not depend on where it sits in the row. Sums are per lane and then
// reduced in a fixed order, so a row's result depends only on its values
// and length.

// tailMask16 sets K1 to the lanes of n%16 (n in CX).
func tailMask16() {
	MOVL(U32(1), EAX)
	SHLL(CL, EAX)
	DECL(EAX)
	KMOVW(EAX, K1)
}

// genSoftmax emits softmaxAVX512(s, n) (m, inv): m = max s, s = e^(s-m)
// (the exp of package kernels), the sum of those in float64 (two
// accumulators of 8 lanes: the low and high halves of each vector), inv =
// float32(1/sum), and s *= inv.
func genSoftmax(v *isa) {
	TEXT("softmaxAVX512", NOSPLIT, "func(s *float32, n int) (m, inv float32)")
	Doc("softmaxAVX512 turns s[:n] (n >= 1) into softmax(s) in place and returns the maximum m and inv = 1/sum e^(s-m).")
	s, n, p, i := RSI, RCX, RDI, RDX
	Load(Param("s"), s)
	Load(Param("n"), n)
	ANDL(U8(15), ECX) // CX: the tail length; the full vectors are counted in i
	Load(Param("n"), i)
	SHRQ(U8(4), i)
	tailMask16()

	// Pass 1: the maximum. The tail's unused lanes read as -Inf.
	mx := ZMM()
	VBROADCASTSS(v.c("neginf"), mx)
	MOVQ(s, p)
	MOVQ(i, R8)
	Label("max_loop")
	TESTQ(R8, R8)
	JZ(LabelRef("max_tail"))
	VMAXPS(Mem{Base: p}, mx, mx)
	ADDQ(U8(64), p)
	DECQ(R8)
	JMP(LabelRef("max_loop"))
	Label("max_tail")
	t := ZMM()
	VMAXPS_Z(Mem{Base: p}, mx, K1, t) // lanes outside the tail: 0, and
	VMOVAPS(t, K1, mx)                // mx keeps its value there
	m := hmaxps(mx)
	VMOVSS(m, NewParamAddr("m", 16))
	mb := ZMM()
	VBROADCASTSS(m, mb)

	// Pass 2: e^(s-m), stored, summed in float64.
	lo, hi := ZMM(), ZMM()
	VXORPD(lo, lo, lo)
	VXORPD(hi, hi, hi)
	step := func(load func(Mem, VecVirtual), store func(VecVirtual, Mem)) {
		x := ZMM()
		load(Mem{Base: p}, x)
		VSUBPS(mb, x, x)
		e := v.exp(x)
		store(e, Mem{Base: p})
		a, b := ZMM(), ZMM()
		VCVTPS2PD(e.AsY(), a)
		VEXTRACTF32X8(U8(1), e, b.AsY())
		VCVTPS2PD(b.AsY(), b)
		VADDPD(a, lo, lo)
		VADDPD(b, hi, hi)
	}
	MOVQ(s, p)
	MOVQ(i, R8)
	Label("exp_loop")
	TESTQ(R8, R8)
	JZ(LabelRef("exp_tail"))
	step(func(m Mem, r VecVirtual) { VMOVUPS(m, r) }, func(r VecVirtual, m Mem) { VMOVUPS(r, m) })
	ADDQ(U8(64), p)
	DECQ(R8)
	JMP(LabelRef("exp_loop"))
	Label("exp_tail")
	TESTQ(RCX, RCX)
	JZ(LabelRef("exp_done"))
	step(func(m Mem, r VecVirtual) { VMOVUPS_Z(m, K1, r) }, func(r VecVirtual, m Mem) {
		VMOVUPS(r, K1, m)
		VMOVAPS_Z(r, K1, r) // unused lanes must not enter the sum
	})
	Label("exp_done")
	VADDPD(hi, lo, lo)
	sum := hsumpd(lo)
	one := XMM()
	MOVQ(U64(0x3ff0000000000000), RAX)
	VMOVQ(RAX, one)
	VDIVSD(sum, one, one)
	inv := XMM()
	VCVTSD2SS(one, inv, inv)
	VMOVSS(inv, NewParamAddr("inv", 20))
	ib := ZMM()
	VBROADCASTSS(inv, ib)

	// Pass 3: scale.
	MOVQ(s, p)
	MOVQ(i, R8)
	Label("scale_loop")
	TESTQ(R8, R8)
	JZ(LabelRef("scale_tail"))
	x := ZMM()
	VMULPS(Mem{Base: p}, ib, x)
	VMOVUPS(x, Mem{Base: p})
	ADDQ(U8(64), p)
	DECQ(R8)
	JMP(LabelRef("scale_loop"))
	Label("scale_tail")
	TESTQ(RCX, RCX)
	JZ(LabelRef("done"))
	y := ZMM()
	VMOVUPS_Z(Mem{Base: p}, K1, y)
	VMULPS(ib, y, y)
	VMOVUPS(y, K1, Mem{Base: p})
	Label("done")
	VZEROUPPER()
	RET()
}

// genSoftmaxGrad emits softmaxGradAVX512(p, dp, n): d = sum p*dp (16 float32
// lanes, reduced in a fixed order), then dp = p*(dp - d): the softmax's
// backward pass for one row.
func genSoftmaxGrad() {
	TEXT("softmaxGradAVX512", NOSPLIT, "func(p, dp *float32, n int)")
	Doc("softmaxGradAVX512 sets dp[j] = p[j]*(dp[j] - sum_l p[l]*dp[l]) for j < n.")
	pp, dp, n, a, b, i := RSI, RDI, RCX, R8, R9, RDX
	Load(Param("p"), pp)
	Load(Param("dp"), dp)
	Load(Param("n"), n)
	Load(Param("n"), i)
	ANDL(U8(15), ECX)
	SHRQ(U8(4), i)
	tailMask16()
	acc := ZMM()
	VXORPS(acc, acc, acc)
	MOVQ(pp, a)
	MOVQ(dp, b)
	MOVQ(i, R10)
	Label("dot_loop")
	TESTQ(R10, R10)
	JZ(LabelRef("dot_tail"))
	x := ZMM()
	VMOVUPS(Mem{Base: a}, x)
	VFMADD231PS(Mem{Base: b}, x, acc)
	ADDQ(U8(64), a)
	ADDQ(U8(64), b)
	DECQ(R10)
	JMP(LabelRef("dot_loop"))
	Label("dot_tail")
	x2, y2 := ZMM(), ZMM()
	VMOVUPS_Z(Mem{Base: a}, K1, x2)
	VMOVUPS_Z(Mem{Base: b}, K1, y2)
	VFMADD231PS(y2, x2, acc)
	d := hsumps(acc)
	db := ZMM()
	VBROADCASTSS(d, db)
	MOVQ(pp, a)
	MOVQ(dp, b)
	MOVQ(i, R10)
	upd := func(load func(Mem, VecVirtual), store func(VecVirtual, Mem)) {
		pv, gv := ZMM(), ZMM()
		load(Mem{Base: a}, pv)
		load(Mem{Base: b}, gv)
		VSUBPS(db, gv, gv)
		VMULPS(gv, pv, gv)
		store(gv, Mem{Base: b})
	}
	Label("upd_loop")
	TESTQ(R10, R10)
	JZ(LabelRef("upd_tail"))
	upd(func(m Mem, r VecVirtual) { VMOVUPS(m, r) }, func(r VecVirtual, m Mem) { VMOVUPS(r, m) })
	ADDQ(U8(64), a)
	ADDQ(U8(64), b)
	DECQ(R10)
	JMP(LabelRef("upd_loop"))
	Label("upd_tail")
	TESTQ(RCX, RCX)
	JZ(LabelRef("done"))
	upd(func(m Mem, r VecVirtual) { VMOVUPS_Z(m, K1, r) }, func(r VecVirtual, m Mem) { VMOVUPS(r, K1, m) })
	Label("done")
	VZEROUPPER()
	RET()
}

// hmaxps returns the maximum of z's 16 lanes in the low lane of an xmm.
func hmaxps(z VecVirtual) VecVirtual {
	y := YMM()
	VEXTRACTF32X8(U8(1), z, y)
	VMAXPS(y, z.AsY(), y)
	x := XMM()
	VEXTRACTF128(U8(1), y, x)
	VMAXPS(x, y.AsX(), x)
	t := XMM()
	VMOVHLPS(x, x, t)
	VMAXPS(t, x, x)
	VMOVSHDUP(x, t)
	VMAXSS(t, x, x)
	return x
}

// hsumps returns the sum of z's 16 float32 lanes (halves, then quarters,
// then pairs) in the low lane of an xmm.
func hsumps(z VecVirtual) VecVirtual {
	y := YMM()
	VEXTRACTF32X8(U8(1), z, y)
	VADDPS(y, z.AsY(), y)
	x := XMM()
	VEXTRACTF128(U8(1), y, x)
	VADDPS(x, y.AsX(), x)
	t := XMM()
	VMOVHLPS(x, x, t)
	VADDPS(t, x, x)
	VMOVSHDUP(x, t)
	VADDSS(t, x, x)
	return x
}

// hsumpd returns the sum of z's 8 float64 lanes in the low lane of an xmm.
func hsumpd(z VecVirtual) VecVirtual {
	y := YMM()
	VEXTRACTF64X4(U8(1), z, y)
	VADDPD(y, z.AsY(), y)
	x := XMM()
	VEXTRACTF128(U8(1), y, x)
	VADDPD(x, y.AsX(), x)
	t := XMM()
	VUNPCKHPD(x, x, t)
	VADDSD(t, x, x)
	return x
}

// genRowMax emits rowMaxAVX512(x, n) float32: the maximum of x[:n] (n >= 1).
func genRowMax(v *isa) {
	TEXT("rowMaxAVX512", NOSPLIT, "func(x *float32, n int) float32")
	Doc("rowMaxAVX512 returns the maximum of x[:n] (n >= 1).")
	x, i := RSI, RDX
	Load(Param("x"), x)
	Load(Param("n"), RCX)
	Load(Param("n"), i)
	ANDL(U8(15), ECX)
	SHRQ(U8(4), i)
	tailMask16()
	mx := ZMM()
	VBROADCASTSS(v.c("neginf"), mx)
	Label("loop")
	TESTQ(i, i)
	JZ(LabelRef("tail"))
	VMAXPS(Mem{Base: x}, mx, mx)
	ADDQ(U8(64), x)
	DECQ(i)
	JMP(LabelRef("loop"))
	Label("tail")
	t := ZMM()
	VMAXPS_Z(Mem{Base: x}, mx, K1, t)
	VMOVAPS(t, K1, mx)
	m := hmaxps(mx)
	VMOVSS(m, NewParamAddr("ret", 16))
	VZEROUPPER()
	RET()
}

// genExpSum emits expSumAVX512(x, n, m, scale) float64: the sum of
// e^((x[i]-m)*scale) in float64 (two accumulators of 8 lanes, as
// softmaxAVX512), x unchanged.
func genExpSum(v *isa) {
	TEXT("expSumAVX512", NOSPLIT, "func(x *float32, n int, m, scale float32) float64")
	Doc("expSumAVX512 returns sum_{i<n} e^((x[i]-m)*scale), summed in float64.")
	x, i := RSI, RDX
	Load(Param("x"), x)
	Load(Param("n"), RCX)
	Load(Param("n"), i)
	ANDL(U8(15), ECX)
	SHRQ(U8(4), i)
	tailMask16()
	mb, sb := ZMM(), ZMM()
	VBROADCASTSS(NewParamAddr("m", 16), mb)
	VBROADCASTSS(NewParamAddr("scale", 20), sb)
	lo, hi := ZMM(), ZMM()
	VXORPD(lo, lo, lo)
	VXORPD(hi, hi, hi)
	step := func(masked bool) {
		y := ZMM()
		if masked {
			VMOVUPS_Z(Mem{Base: x}, K1, y)
		} else {
			VMOVUPS(Mem{Base: x}, y)
		}
		VSUBPS(mb, y, y)
		VMULPS(sb, y, y)
		e := v.exp(y)
		if masked {
			VMOVAPS_Z(e, K1, e)
		}
		a, b := ZMM(), ZMM()
		VCVTPS2PD(e.AsY(), a)
		VEXTRACTF32X8(U8(1), e, b.AsY())
		VCVTPS2PD(b.AsY(), b)
		VADDPD(a, lo, lo)
		VADDPD(b, hi, hi)
	}
	Label("loop")
	TESTQ(i, i)
	JZ(LabelRef("tail"))
	step(false)
	ADDQ(U8(64), x)
	DECQ(i)
	JMP(LabelRef("loop"))
	Label("tail")
	TESTQ(RCX, RCX)
	JZ(LabelRef("done"))
	step(true)
	Label("done")
	VADDPD(hi, lo, lo)
	s := hsumpd(lo)
	VMOVSD(s, NewParamAddr("ret", 24))
	VZEROUPPER()
	RET()
}
