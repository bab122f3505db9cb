package main

import (
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// The LayerNorm kernels work on rows of d features, 16 per step and a
// zero-masked tail. Statistics sum per lane (in float64 for the forward
// pass's mean and variance) and reduce in a fixed order; the element-wise
// steps are the scalar code's operations in the same order, no FMA.

// rowLoop emits a loop over the full vectors of a row (count in cnt, a
// copy of i) calling body with masked=false, then the tail (CX lanes, K1)
// with masked=true. ptrs advance 64 bytes per vector.
func rowLoop(name string, i Register, ptrs []Register, body func(masked bool)) {
	cnt := R11
	MOVQ(i, cnt)
	Label(name + "_loop")
	TESTQ(cnt, cnt)
	JZ(LabelRef(name + "_tail"))
	body(false)
	for _, p := range ptrs {
		ADDQ(U8(64), p)
	}
	DECQ(cnt)
	JMP(LabelRef(name + "_loop"))
	Label(name + "_tail")
	TESTQ(RCX, RCX)
	JZ(LabelRef(name + "_done"))
	body(true)
	Label(name + "_done")
}

func load16(m Mem, masked bool) VecVirtual {
	r := ZMM()
	if masked {
		VMOVUPS_Z(m, K1, r)
	} else {
		VMOVUPS(m, r)
	}
	return r
}

func store16(r VecVirtual, m Mem, masked bool) {
	if masked {
		VMOVUPS(r, K1, m)
	} else {
		VMOVUPS(r, m)
	}
}

// addPD adds the 16 floats of v, widened to float64, into lo and hi.
func addPD(v, lo, hi VecVirtual) {
	a, b := ZMM(), ZMM()
	VCVTPS2PD(v.AsY(), a)
	VEXTRACTF32X8(U8(1), v, b.AsY())
	VCVTPS2PD(b.AsY(), b)
	VADDPD(a, lo, lo)
	VADDPD(b, hi, hi)
}

// genLayerNorm emits layerNormAVX512(y, x, w, b, d, eps) (mean, rstd):
// mean = sum x / d and var = sum (x - mean)^2 / d in float64, rstd =
// 1/sqrt(var + eps), then y = (x - mean32) * rstd32 * w + b in float32.
func genLayerNorm() {
	TEXT("layerNormAVX512", NOSPLIT, "func(y, x, w, b *float32, d int, eps float32) (mean, rstd float32)")
	Doc("layerNormAVX512 normalises the row x[:d] into y and returns its mean and rstd (see kernels.LayerNormRow).")
	y, w, b, i := RDI, R8, R9, RDX
	Load(Param("d"), RCX)
	Load(Param("d"), i)
	ANDL(U8(15), ECX)
	SHRQ(U8(4), i)
	tailMask16()
	xp := R10
	// Pass 1: the sum, in float64.
	lo, hi := ZMM(), ZMM()
	VXORPD(lo, lo, lo)
	VXORPD(hi, hi, hi)
	Load(Param("x"), xp)
	rowLoop("sum", i, []Register{xp}, func(m bool) { addPD(load16(Mem{Base: xp}, m), lo, hi) })
	VADDPD(hi, lo, lo)
	s := hsumpd(lo)
	dd := XMM()
	Load(Param("d"), RAX)
	VCVTSI2SDQ(RAX, dd, dd)
	mean := XMM()
	VDIVSD(dd, s, mean)
	// Pass 2: the centred sum of squares, in float64.
	mb := ZMM()
	VBROADCASTSD(mean, mb)
	VXORPD(lo, lo, lo)
	Load(Param("x"), xp)
	rowLoop("var", i, []Register{xp}, func(m bool) {
		v := load16(Mem{Base: xp}, m)
		a, c := ZMM(), ZMM()
		VCVTPS2PD(v.AsY(), a)
		VEXTRACTF32X8(U8(1), v, c.AsY())
		VCVTPS2PD(c.AsY(), c)
		VSUBPD(mb, a, a)
		VSUBPD(mb, c, c)
		if m {
			// Lanes past d hold -mean: zero them before squaring.
			KSHIFTRW(U8(8), K1, K2)
			VMOVAPD_Z(a, K1, a)
			VMOVAPD_Z(c, K2, c)
		}
		VFMADD231PD(a, a, lo)
		VFMADD231PD(c, c, lo)
	})
	v2 := hsumpd(lo)
	VDIVSD(dd, v2, v2)
	e := XMM()
	VCVTSS2SD(NewParamAddr("eps", 40), e, e)
	VADDSD(e, v2, v2)
	VSQRTSD(v2, v2, v2)
	one := XMM()
	MOVQ(U64(0x3ff0000000000000), RAX)
	VMOVQ(RAX, one)
	VDIVSD(v2, one, one)
	m32, r32 := XMM(), XMM()
	VCVTSD2SS(mean, m32, m32)
	VCVTSD2SS(one, r32, r32)
	VMOVSS(m32, NewParamAddr("mean", 48))
	VMOVSS(r32, NewParamAddr("rstd", 52))
	mz, rz := ZMM(), ZMM()
	VBROADCASTSS(m32, mz)
	VBROADCASTSS(r32, rz)
	// Pass 3: y = (x - mean) * rstd * w + b.
	Load(Param("x"), xp)
	Load(Param("y"), y)
	Load(Param("w"), w)
	Load(Param("b"), b)
	rowLoop("out", i, []Register{xp, y, w, b}, func(m bool) {
		v := load16(Mem{Base: xp}, m)
		VSUBPS(mz, v, v)
		VMULPS(rz, v, v)
		VMULPS(load16(Mem{Base: w}, m), v, v)
		VADDPS(load16(Mem{Base: b}, m), v, v)
		store16(v, Mem{Base: y}, m)
	})
	VZEROUPPER()
	RET()
}

// genLayerNormGrad emits layerNormGradAVX512(dx, dy, x, w, d, mean, rstd):
// with g = dy*w and xh = (x-mean)*rstd, sg = sum g / d and sgx = sum g*xh
// / d (float32 lanes), dx = rstd * (g - sg - xh*sgx).
func genLayerNormGrad() {
	TEXT("layerNormGradAVX512", NOSPLIT, "func(dx, dy, x, w *float32, d int, mean, rstd float32)")
	Doc("layerNormGradAVX512 sets dx[:d] to the LayerNorm input gradient of one row (see kernels.LayerNormGradRow).")
	dx, dy, x, w, i := RDI, RSI, R8, R9, RDX
	Load(Param("d"), RCX)
	Load(Param("d"), i)
	ANDL(U8(15), ECX)
	SHRQ(U8(4), i)
	tailMask16()
	mz, rz := ZMM(), ZMM()
	VBROADCASTSS(NewParamAddr("mean", 40), mz)
	VBROADCASTSS(NewParamAddr("rstd", 44), rz)
	sg, sgx := ZMM(), ZMM()
	VXORPS(sg, sg, sg)
	VXORPS(sgx, sgx, sgx)
	xh := func(m bool) VecVirtual {
		v := load16(Mem{Base: x}, m)
		VSUBPS(mz, v, v)
		VMULPS(rz, v, v)
		return v
	}
	Load(Param("dy"), dy)
	Load(Param("x"), x)
	Load(Param("w"), w)
	rowLoop("sum", i, []Register{dy, x, w}, func(m bool) {
		g := load16(Mem{Base: dy}, m)
		VMULPS(load16(Mem{Base: w}, m), g, g)
		VADDPS(g, sg, sg)
		h := xh(m)
		VMULPS(g, h, h)
		VADDPS(h, sgx, sgx)
	})
	a := hsumps(sg)
	c := hsumps(sgx)
	dd := XMM()
	Load(Param("d"), RAX)
	VCVTSI2SSQ(RAX, dd, dd)
	VDIVSS(dd, a, a)
	VDIVSS(dd, c, c)
	az, cz := ZMM(), ZMM()
	VBROADCASTSS(a, az)
	VBROADCASTSS(c, cz)
	Load(Param("dx"), dx)
	Load(Param("dy"), dy)
	Load(Param("x"), x)
	Load(Param("w"), w)
	rowLoop("out", i, []Register{dx, dy, x, w}, func(m bool) {
		g := load16(Mem{Base: dy}, m)
		VMULPS(load16(Mem{Base: w}, m), g, g)
		VSUBPS(az, g, g)
		h := xh(m)
		VMULPS(cz, h, h)
		VSUBPS(h, g, g)
		VMULPS(rz, g, g)
		store16(g, Mem{Base: dx}, m)
	})
	VZEROUPPER()
	RET()
}

// genLayerNormParamGrad emits layerNormParamGradAVX512(dw, db, dy, x, ld,
// rows, n, mean, rstd): for r < rows in order, dw[j] += dy[r][j] *
// ((x[r][j] - mean[r]) * rstd[r]) and db[j] += dy[r][j], j < n (n <= 16 per
// call... any n: 16 columns at a time, rows inside).
func genLayerNormParamGrad() {
	TEXT("layerNormParamGradAVX512", NOSPLIT, "func(dw, db, dy, x *float32, ld, rows, n int, mean, rstd *float32)")
	Doc("layerNormParamGradAVX512 adds rows rows of dy*xhat into dw[:n] and of dy into db[:n], row after row.")
	dw, db, dy, x, ld, rows, n := RDI, RSI, R8, R9, R10, R11, RCX
	mp, rp, p, q, r := R12, R13, R14, R15, RBX
	Load(Param("dw"), dw)
	Load(Param("db"), db)
	Load(Param("dy"), dy)
	Load(Param("x"), x)
	Load(Param("ld"), ld)
	Load(Param("rows"), rows)
	Load(Param("n"), n)
	SHLQ(U8(2), ld)
	block := func(name string, masked bool) {
		aw := load16(Mem{Base: dw}, masked)
		ab := load16(Mem{Base: db}, masked)
		MOVQ(dy, p)
		MOVQ(x, q)
		Load(Param("mean"), mp)
		Load(Param("rstd"), rp)
		MOVQ(rows, r)
		Label(name)
		g := load16(Mem{Base: p}, masked)
		h := load16(Mem{Base: q}, masked)
		mz, rz := ZMM(), ZMM()
		VBROADCASTSS(Mem{Base: mp}, mz)
		VBROADCASTSS(Mem{Base: rp}, rz)
		VSUBPS(mz, h, h)
		VMULPS(rz, h, h)
		VMULPS(g, h, h)
		VADDPS(h, aw, aw)
		VADDPS(g, ab, ab)
		ADDQ(ld, p)
		ADDQ(ld, q)
		ADDQ(U8(4), mp)
		ADDQ(U8(4), rp)
		DECQ(r)
		JNZ(LabelRef(name))
		store16(aw, Mem{Base: dw}, masked)
		store16(ab, Mem{Base: db}, masked)
	}
	TESTQ(rows, rows)
	JZ(LabelRef("done"))
	Label("cols")
	CMPQ(n, U8(16))
	JL(LabelRef("tail"))
	block("rows16", false)
	for _, ptr := range []Register{dw, db, dy, x} {
		ADDQ(U8(64), ptr)
	}
	SUBQ(U8(16), n)
	JMP(LabelRef("cols"))
	Label("tail")
	TESTQ(n, n)
	JZ(LabelRef("done"))
	tailMask16()
	block("rowsTail", true)
	Label("done")
	VZEROUPPER()
	RET()
}
