// Command genact writes kernels/act_amd64.s: the element-wise activation
// kernels (exp, tanh, sigmoid, GELU and its gradient, the PixelCNN's
// tanh*sigmoid gate with shifts per call or per segment, and its gradient)
// for AVX-512 (16 lanes) and AVX2+FMA (8 lanes). Both paths run the same
// sequence of IEEE operations per lane, so they give bit-identical results; kernels/act.go holds the scalar
// reference they follow. It is its own module so that avo is not a
// dependency of vqgen. Run it through `go generate` in kernels/.
package main

import (
	"fmt"
	"math"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// Constants live in one table, each replicated 8 times (32 bytes) so that
// AVX2 can use them as full ymm memory operands and AVX-512 as 4-byte
// embedded broadcasts.
var (
	consts     Mem
	constIndex = map[string]int{}
	tailMask   Mem
)

func defConst(name string, bits uint32) {
	off := 32 * len(constIndex)
	constIndex[name] = off
	for i := 0; i < 8; i++ {
		DATA(off+4*i, U32(bits))
	}
}

func f32(v float64) uint32 { return math.Float32bits(float32(v)) }

// The erf coefficients are Eigen's float erf (as in kernels.Erf32),
// highest power first.
var (
	erfP = []float64{-2.72614225801306e-10, 2.77068142495902e-08, -2.10102402082508e-06,
		-5.69250639462346e-05, -7.34990630326855e-04, -2.95459980854025e-03, -1.60960333262415e-02}
	erfQ = []float64{-1.45660718464996e-05, -2.13374055278905e-04, -1.68282697438203e-03,
		-7.37332916720468e-03, -1.42647390514189e-02}
	// e^r = sum r^k/k!, k = 6 down to 2 (the 1 + r part is two FMAs).
	expC = []float64{1.0 / 720, 1.0 / 120, 1.0 / 24, 1.0 / 6, 0.5}
)

func main() {
	ConstraintExpr("!noasm")
	consts = GLOBL("actconsts", RODATA|NOPTR)
	defConst("one", f32(1))
	defConst("two", f32(2))
	defConst("half", f32(0.5))
	defConst("mhalf", f32(-0.5))
	defConst("log2e", f32(1.4426950408889634))
	defConst("ln2hi", f32(0.693359375))
	defConst("ln2lo", f32(-2.12194440e-4))
	defConst("expmax", f32(88.8))
	defConst("expmin", f32(-87.3))
	defConst("erfmax", f32(4))
	defConst("erfmin", f32(-4))
	defConst("invsqrt2", f32(1/math.Sqrt2))
	defConst("invsqrt2pi", f32(0.3989422804014327))
	defConst("tanhsmall", f32(0.0004))
	defConst("abs", 0x7fffffff)
	defConst("sign", 0x80000000)
	defConst("bias", 127)
	defConst("neginf", 0xff800000)
	for i, c := range erfP {
		defConst(fmt.Sprint("erfp", i), f32(c))
	}
	for i, c := range erfQ {
		defConst(fmt.Sprint("erfq", i), f32(c))
	}
	for i, c := range expC {
		defConst(fmt.Sprint("exp", i), f32(c))
	}
	// AVX2 tails load a mask of 8-n ones... from this table at offset 4*(8-n).
	tailMask = GLOBL("acttailmask", RODATA|NOPTR)
	for i := 0; i < 16; i++ {
		v := uint32(0)
		if i < 8 {
			v = 0xffffffff
		}
		DATA(4*i, U32(v))
	}

	for _, v := range []*isa{{name: "AVX512", w: 16, z: true}, {name: "AVX2", w: 8}} {
		kernel(v, "exp", []string{"y"}, []string{"x"}, nil, "y[i] = e^x[i]",
			func(in []VecVirtual, _ []Op) []VecVirtual { return []VecVirtual{v.exp(in[0])} })
		kernel(v, "tanh", []string{"y"}, []string{"x"}, nil, "y[i] = tanh(x[i])",
			func(in []VecVirtual, _ []Op) []VecVirtual { return []VecVirtual{v.tanh(in[0])} })
		kernel(v, "sigmoid", []string{"y"}, []string{"x"}, nil, "y[i] = 1/(1+e^-x[i])",
			func(in []VecVirtual, _ []Op) []VecVirtual { return []VecVirtual{v.sigmoid(in[0])} })
		kernel(v, "gelu", []string{"y"}, []string{"x"}, nil, "y[i] = x[i]/2 * (1+erf(x[i]/sqrt2))",
			func(in []VecVirtual, _ []Op) []VecVirtual { return []VecVirtual{v.gelu(in[0])} })
		kernel(v, "geluGrad", []string{"dx"}, []string{"dy", "x"}, nil, "dx[i] = dy[i] * (Phi(x[i]) + x[i]*phi(x[i]))",
			func(in []VecVirtual, _ []Op) []VecVirtual { return []VecVirtual{v.geluGrad(in[0], in[1])} })
		kernel(v, "gate", []string{"out", "t", "s"}, []string{"a", "b"}, []string{"ca", "cb"},
			"t[i] = tanh(a[i]+ca), s[i] = sigmoid(b[i]+cb), out[i] = t[i]*s[i]",
			func(in []VecVirtual, sc []Op) []VecVirtual { return v.gate(in[0], in[1], sc[0], sc[1]) })
		gateSeg(v)
		kernel(v, "adam", []string{"pOut", "mOut", "vOut"}, []string{"p", "grad", "m", "v"},
			[]string{"decay", "w1", "b2", "c2", "bc2s", "eps", "ns"},
			"one AdamW step, torch's _single_tensor_adam rounding by rounding (see kernels.AdamStep)",
			func(in []VecVirtual, sc []Op) []VecVirtual { return v.adam(in, sc) })
		kernel(v, "gateGrad", []string{"da", "db"}, []string{"dout", "t", "s"}, nil,
			"da[i] = dout[i]*s[i]*(1-t[i]^2), db[i] = dout[i]*s[i]*t[i]*(1-s[i])",
			func(in []VecVirtual, _ []Op) []VecVirtual { return v.gateGrad(in[0], in[1], in[2]) })
		kernel(v, "expShiftScale", []string{"y"}, []string{"x"}, []string{"m", "inv"}, "y[i] = e^(x[i]-m) * inv",
			func(in []VecVirtual, sc []Op) []VecVirtual {
				VSUBPS(sc[0], in[0], in[0])
				e := v.exp(in[0])
				VMULPS(sc[1], e, e)
				return []VecVirtual{e}
			})
	}
	genSoftmax(&isa{name: "AVX512", w: 16, z: true})
	genSoftmaxGrad()
	genRowMax(&isa{name: "AVX512", w: 16, z: true})
	genExpSum(&isa{name: "AVX512", w: 16, z: true})
	genLayerNorm()
	genLayerNormGrad()
	genLayerNormParamGrad()
	Generate()
}

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

// c is the memory operand of a named constant.
func (v *isa) c(name string) Mem {
	off, ok := constIndex[name]
	if !ok {
		panic("no constant " + name)
	}
	return consts.Offset(off)
}

// bc broadcasts a constant into a fresh register.
func (v *isa) bc(name string) VecVirtual {
	r := v.reg()
	VBROADCASTSS(v.c(name), r)
	return r
}

// fmaC sets p = p*r + const.
func (v *isa) fmaC(name string, r, p VecVirtual) {
	if v.z {
		VFMADD213PS_BCST(v.c(name), r, p)
	} else {
		VFMADD213PS(v.c(name), r, p)
	}
}

// fnmaC sets p = p - r*const.
func (v *isa) fnmaC(name string, r, p VecVirtual) {
	if v.z {
		VFNMADD231PS_BCST(v.c(name), r, p)
	} else {
		VFNMADD231PS(v.c(name), r, p)
	}
}

func (v *isa) mulC(name string, x VecVirtual) VecVirtual {
	d := v.reg()
	if v.z {
		VMULPS_BCST(v.c(name), x, d)
	} else {
		VMULPS(v.c(name), x, d)
	}
	return d
}

func (v *isa) addC(name string, x VecVirtual) VecVirtual {
	d := v.reg()
	if v.z {
		VADDPS_BCST(v.c(name), x, d)
	} else {
		VADDPS(v.c(name), x, d)
	}
	return d
}

func (v *isa) andC(name string, x VecVirtual) VecVirtual {
	d := v.reg()
	if v.z {
		VPANDD_BCST(v.c(name), x, d)
	} else {
		VANDPS(v.c(name), x, d)
	}
	return d
}

// clamp returns min(max(x, lo), hi), passing NaN through: MINPS/MAXPS
// return their second source (avo's first operand) when either is NaN.
func (v *isa) clamp(x VecVirtual, lo, hi string) VecVirtual {
	d := v.reg()
	VMINPS(x, v.bc(hi), d)
	VMAXPS(d, v.bc(lo), d)
	return d
}

// exp follows kernels.Exp32: x clamped to [-87.3, 88.8], n = round(x log2e),
// r = x - n ln2 in two parts, e^r by its degree-6 Taylor polynomial, times
// 2^n (VSCALEFPS, or on AVX2 two exponent-built factors 2^(n>>1) and
// 2^(n-n>>1), so n = 128 overflows to +Inf as it should), and 0 where
// x < -87.3 (so the result is never a slow denormal-producing 2^-127 path).
func (v *isa) exp(x VecVirtual) VecVirtual {
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
	v.fmaC("one", r, p)
	v.fmaC("one", r, p)
	const nltUQ = 0x15 // not less than, unordered true: NaN keeps its lane
	out := v.reg()
	if v.z {
		VCMPPS_BCST(U8(nltUQ), v.c("expmin"), x, K2)
		VSCALEFPS_Z(n, p, K2, out)
		return out
	}
	ni, n1, n2 := v.reg(), v.reg(), v.reg()
	VCVTPS2DQ(n, ni)
	VPSRAD(U8(1), ni, n1)
	VPSUBD(n1, ni, n2)
	VPADDD(v.c("bias"), n1, n1)
	VPADDD(v.c("bias"), n2, n2)
	VPSLLD(U8(23), n1, n1)
	VPSLLD(U8(23), n2, n2)
	VMULPS(n1, p, p)
	VMULPS(n2, p, p)
	m := v.reg()
	VCMPPS(U8(5), v.c("expmin"), x, m) // NLT_US: AVX's 3-bit predicate form
	VANDPS(m, p, out)
	return out
}

// tanh is 1 - 2/(e^(2|x|)+1) with x's sign, and x itself where |x| < 0.0004.
func (v *isa) tanh(x VecVirtual) VecVirtual {
	a := v.andC("abs", x)
	a2 := v.reg()
	VADDPS(a, a, a2)
	e := v.addC("one", v.exp(a2))
	q := v.reg()
	VDIVPS(e, v.bc("two"), q)
	t := v.reg()
	VSUBPS(q, v.bc("one"), t)
	const lt = 1
	if v.z {
		VCMPPS_BCST(U8(lt), v.c("tanhsmall"), a, K3)
		VMOVAPS(a, K3, t)
	} else {
		m := v.reg()
		VCMPPS(U8(lt), v.c("tanhsmall"), a, m)
		VBLENDVPS(m, a, t, t)
	}
	sg := v.andC("sign", x)
	if v.z {
		VPORD(sg, t, t)
	} else {
		VORPS(sg, t, t)
	}
	return t
}

// sigmoid is 1/(1+e^-x).
func (v *isa) sigmoid(x VecVirtual) VecVirtual {
	nx := v.reg()
	if v.z {
		VPXORD_BCST(v.c("sign"), x, nx)
	} else {
		VXORPS(v.c("sign"), x, nx)
	}
	e := v.addC("one", v.exp(nx))
	s := v.reg()
	VDIVPS(e, v.bc("one"), s)
	return s
}

// erf is the rational p(x)/q(x) on x clamped to [-4, 4].
func (v *isa) erf(u VecVirtual) VecVirtual {
	x := v.clamp(u, "erfmin", "erfmax")
	x2 := v.reg()
	VMULPS(x, x, x2)
	p := v.bc("erfp0")
	for i := 1; i < len(erfP); i++ {
		v.fmaC(fmt.Sprint("erfp", i), x2, p)
	}
	VMULPS(x, p, p)
	q := v.bc("erfq0")
	for i := 1; i < len(erfQ); i++ {
		v.fmaC(fmt.Sprint("erfq", i), x2, q)
	}
	VDIVPS(q, p, p)
	return p
}

func (v *isa) gelu(x VecVirtual) VecVirtual {
	e := v.erf(v.mulC("invsqrt2", x))
	hx := v.mulC("half", x)
	VFMADD213PS(hx, hx, e) // x/2 * erf + x/2
	return e
}

func (v *isa) geluGrad(dy, x VecVirtual) VecVirtual {
	cdf := v.erf(v.mulC("invsqrt2", x))
	h := v.bc("half")
	VFMADD213PS(h, h, cdf) // (1+erf)/2
	t := v.mulC("mhalf", x)
	VMULPS(x, t, t)
	g := v.exp(t)
	xs := v.mulC("invsqrt2pi", x)
	VFMADD231PS(xs, g, cdf) // + x phi(x)
	VMULPS(dy, cdf, cdf)
	return cdf
}

func (v *isa) gate(a, b VecVirtual, ca, cb Op) []VecVirtual {
	VADDPS(ca, a, a)
	VADDPS(cb, b, b)
	t := v.tanh(a)
	s := v.sigmoid(b)
	out := v.reg()
	VMULPS(s, t, out)
	return []VecVirtual{out, t, s}
}

func (v *isa) gateGrad(dout, t, s VecVirtual) []VecVirtual {
	ds := v.reg()
	VMULPS(s, dout, ds)
	omt := v.bc("one")
	VFNMADD231PS(t, t, omt) // 1 - t^2
	da := v.reg()
	VMULPS(omt, ds, da)
	db := v.reg()
	VMULPS(t, ds, db)
	oms := v.reg()
	VSUBPS(s, v.bc("one"), oms)
	VMULPS(oms, db, db)
	return []VecVirtual{da, db}
}

// kernel emits name+isa(outs..., ins... *float32, n int, scalars...
// float32): a loop of full vectors, then one masked vector for the n%w
// elements left, so every element goes through the same instructions.
func kernel(v *isa, name string, outs, ins, scalars []string, doc string,
	body func(in []VecVirtual, sc []Op) []VecVirtual) {
	sig := "func("
	for i, p := range append(append([]string{}, outs...), ins...) {
		if i > 0 {
			sig += ", "
		}
		sig += p
	}
	sig += " *float32, n int"
	for _, s := range scalars {
		sig += ", " + s
	}
	if len(scalars) > 0 {
		sig += " float32"
	}
	sig += ")"
	fn := name + v.name
	TEXT(fn, NOSPLIT, sig)
	Doc(fmt.Sprintf("%s computes %s for i < n.", fn, doc))
	gp := []Register{RSI, RDI, RDX, R8, R9, R10, R12}
	var ptrs []Register
	for i, p := range append(append([]string{}, outs...), ins...) {
		Load(Param(p), gp[i])
		ptrs = append(ptrs, gp[i])
	}
	nr := RCX
	Load(Param("n"), nr)
	var sc []Op
	for i, s := range scalars {
		r := v.reg()
		VBROADCASTSS(NewParamAddr(s, 8*(len(ptrs)+1)+4*i), r)
		sc = append(sc, r)
	}
	emit := func(load func(Mem, VecVirtual), store func(VecVirtual, Mem)) {
		var in []VecVirtual
		for i := range ins {
			r := v.reg()
			load(Mem{Base: ptrs[len(outs)+i]}, r)
			in = append(in, r)
		}
		res := body(in, sc)
		for i := range outs {
			store(res[i], Mem{Base: ptrs[i]})
		}
	}
	Label(fn + "_loop")
	CMPQ(nr, U8(v.w))
	JL(LabelRef(fn + "_tail"))
	emit(func(m Mem, r VecVirtual) { VMOVUPS(m, r) }, func(r VecVirtual, m Mem) { VMOVUPS(r, m) })
	for _, p := range ptrs {
		ADDQ(U8(4*v.w), p)
	}
	SUBQ(U8(v.w), nr)
	JMP(LabelRef(fn + "_loop"))

	Label(fn + "_tail")
	TESTQ(nr, nr)
	JZ(LabelRef(fn + "_done"))
	if v.z {
		MOVL(U32(1), EAX)
		SHLL(CL, EAX)
		DECL(EAX)
		KMOVW(EAX, K1)
		emit(func(m Mem, r VecVirtual) { VMOVUPS_Z(m, K1, r) }, func(r VecVirtual, m Mem) { VMOVUPS(r, K1, m) })
	} else {
		mask := v.reg()
		MOVQ(U32(8), RAX)
		SUBQ(nr, RAX)
		LEAQ(tailMask, R11)
		VMOVDQU(Mem{Base: R11, Index: RAX, Scale: 4}, mask)
		emit(func(m Mem, r VecVirtual) { VMASKMOVPS(m, mask, r) }, func(r VecVirtual, m Mem) { VMASKMOVPS(r, mask, m) })
	}
	Label(fn + "_done")
	VZEROUPPER()
	RET()
}

// gateSeg emits gateSeg<ISA>(out, t, s, a, b, n, ca, cb, seg): the gate
// whose shifts change every seg elements, t[i] = tanh(a[i]+ca[i/seg]) and
// s[i] = sigmoid(b[i]+cb[i/seg]), for seg at least the vector width: a
// batch of images, each with its own class shifts, in one call. A vector
// that straddles two segments takes its low lanes' shifts from the one and
// the rest from the next; rem counts the elements left in the current
// segment.
func gateSeg(v *isa) {
	fn := "gateSeg" + v.name
	TEXT(fn, NOSPLIT, "func(out, t, s, a, b *float32, n int, ca, cb *float32, seg int)")
	Doc(fn + " computes t[i] = tanh(a[i]+ca[i/seg]), s[i] = sigmoid(b[i]+cb[i/seg]), out[i] = t[i]*s[i] for i < n (seg >= the vector width).")
	pOut, pT, pS, pA, pB := RSI, RDI, RDX, R8, R9
	nr, ca, cb, seg, rem := RCX, R10, R12, R13, RBX
	Load(Param("out"), pOut)
	Load(Param("t"), pT)
	Load(Param("s"), pS)
	Load(Param("a"), pA)
	Load(Param("b"), pB)
	Load(Param("n"), nr)
	Load(Param("ca"), ca)
	Load(Param("cb"), cb)
	Load(Param("seg"), seg)
	MOVQ(seg, rem)
	w := v.w
	// shifts builds the vector's two shift registers; limit is how many
	// lanes hold elements (w, or n in the tail).
	shifts := func(tag string, limit Op) (VecVirtual, VecVirtual) {
		sa, sb := v.reg(), v.reg()
		CMPQ(rem, limit)
		JGE(LabelRef(fn + tag + "_one"))
		// Lanes < rem from this segment, the rest from the next.
		if v.z {
			MOVQ(nr, R11)
			MOVQ(rem, RCX)
			MOVL(U32(1), EAX)
			SHLL(CL, EAX)
			DECL(EAX)
			MOVQ(R11, nr)
			KMOVW(EAX, K2)
			VBROADCASTSS(Mem{Base: ca, Disp: 4}, sa)
			VBROADCASTSS(Mem{Base: ca}, K2, sa)
			VBROADCASTSS(Mem{Base: cb, Disp: 4}, sb)
			VBROADCASTSS(Mem{Base: cb}, K2, sb)
		} else {
			mask, lo := v.reg(), v.reg()
			MOVQ(U32(8), RAX)
			SUBQ(rem, RAX)
			LEAQ(tailMask, R11)
			VMOVDQU(Mem{Base: R11, Index: RAX, Scale: 4}, mask)
			VBROADCASTSS(Mem{Base: ca, Disp: 4}, sa)
			VBROADCASTSS(Mem{Base: ca}, lo)
			VBLENDVPS(mask, lo, sa, sa)
			VBROADCASTSS(Mem{Base: cb, Disp: 4}, sb)
			VBROADCASTSS(Mem{Base: cb}, lo)
			VBLENDVPS(mask, lo, sb, sb)
		}
		JMP(LabelRef(fn + tag + "_built"))
		Label(fn + tag + "_one")
		VBROADCASTSS(Mem{Base: ca}, sa)
		VBROADCASTSS(Mem{Base: cb}, sb)
		Label(fn + tag + "_built")
		return sa, sb
	}
	emit := func(sa, sb VecVirtual, load func(Mem, VecVirtual), store func(VecVirtual, Mem)) {
		a, b := v.reg(), v.reg()
		load(Mem{Base: pA}, a)
		load(Mem{Base: pB}, b)
		res := v.gate(a, b, sa, sb)
		for i, p := range []Register{pOut, pT, pS} {
			store(res[i], Mem{Base: p})
		}
	}
	Label(fn + "_loop")
	CMPQ(nr, U8(w))
	JL(LabelRef(fn + "_tail"))
	sa, sb := shifts("_main", U8(w))
	emit(sa, sb, func(m Mem, r VecVirtual) { VMOVUPS(m, r) }, func(r VecVirtual, m Mem) { VMOVUPS(r, m) })
	for _, p := range []Register{pOut, pT, pS, pA, pB} {
		ADDQ(U8(4*w), p)
	}
	SUBQ(U8(w), nr)
	SUBQ(U8(w), rem)
	JG(LabelRef(fn + "_loop"))
	// The vector ended the segment (or crossed into the next).
	ADDQ(seg, rem)
	ADDQ(U8(4), ca)
	ADDQ(U8(4), cb)
	JMP(LabelRef(fn + "_loop"))

	Label(fn + "_tail")
	TESTQ(nr, nr)
	JZ(LabelRef(fn + "_done"))
	sa, sb = shifts("_tail", nr)
	if v.z {
		MOVL(U32(1), EAX)
		SHLL(CL, EAX)
		DECL(EAX)
		KMOVW(EAX, K1)
		emit(sa, sb, func(m Mem, r VecVirtual) { VMOVUPS_Z(m, K1, r) }, func(r VecVirtual, m Mem) { VMOVUPS(r, K1, m) })
	} else {
		mask := v.reg()
		MOVQ(U32(8), RAX)
		SUBQ(nr, RAX)
		LEAQ(tailMask, R11)
		VMOVDQU(Mem{Base: R11, Index: RAX, Scale: 4}, mask)
		emit(sa, sb, func(m Mem, r VecVirtual) { VMASKMOVPS(m, mask, r) }, func(r VecVirtual, m Mem) { VMASKMOVPS(r, mask, m) })
	}
	Label(fn + "_done")
	VZEROUPPER()
	RET()
}

// adam is kernels.AdamStep's element: each operation rounds to float32
// once, in the scalar loop's order (no FMA).
func (v *isa) adam(in []VecVirtual, sc []Op) []VecVirtual {
	p, g, m, s2 := in[0], in[1], in[2], in[3]
	decay, w1, b2, c2, bc2s, eps, ns := sc[0], sc[1], sc[2], sc[3], sc[4], sc[5], sc[6]
	VMULPS(decay, p, p) // p *= decay
	d := v.reg()
	VSUBPS(m, g, d) // g - m
	VMULPS(w1, d, d)
	VADDPS(d, m, m) // m + w1*(g-m)
	t := v.reg()
	VMULPS(c2, g, t)
	VMULPS(g, t, t) // (c2*g)*g
	VMULPS(b2, s2, s2)
	VADDPS(t, s2, s2) // v*b2 + (c2*g)*g
	den := v.reg()
	VSQRTPS(s2, den)
	VDIVPS(bc2s, den, den)
	VADDPS(eps, den, den) // sqrt(v)/bc2s + eps
	q := v.reg()
	VDIVPS(den, m, q)
	VMULPS(ns, q, q)
	VADDPS(q, p, p) // p + ns*(m/den)
	return []VecVirtual{p, m, s2}
}
