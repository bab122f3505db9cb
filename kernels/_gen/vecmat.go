package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// genVecMat emits y = a^T X for a vector a of rows floats and a row-major
// X (rows x n, row stride ld): y[j] = sum_r a[r]*X[r][j], each y[j] one FMA
// chain over r in order from 0, the per-element arithmetic of the SGEMM
// micro-kernels (so a product of one row gives their bits). Columns go 64,
// then 16, then a masked tail at a time.
func genVecMat() {
	TEXT("vecMatAVX512", NOSPLIT, "func(n, rows int, a, x *float32, ld int, y *float32)")
	Doc("vecMatAVX512 sets y[j] = sum_{r<rows} a[r]*x[r*ld+j] for j < n: one FMA chain per j, r in order from 0.")
	n, rows, a, x, ld, y, p, q, r := RCX, RBX, RSI, RDI, R8, RDX, R9, R10, R11
	Load(Param("n"), n)
	Load(Param("rows"), rows)
	Load(Param("a"), a)
	Load(Param("x"), x)
	Load(Param("ld"), ld)
	Load(Param("y"), y)
	SHLQ(U8(2), ld)
	block := func(name string, nv int, mask bool) {
		for j := 0; j < nv; j++ {
			VPXORD(zmm(j), zmm(j), zmm(j))
		}
		MOVQ(x, p)
		MOVQ(a, q)
		MOVQ(rows, r)
		Label(name)
		VBROADCASTSS(Mem{Base: q}, Z16)
		for j := 0; j < nv; j++ {
			if mask {
				VMOVUPS_Z(Mem{Base: p}, K1, Z17)
				VFMADD231PS(Z17, Z16, zmm(j))
			} else {
				VFMADD231PS(Mem{Base: p, Disp: 64 * j}, Z16, zmm(j))
			}
		}
		ADDQ(ld, p)
		ADDQ(U8(4), q)
		DECQ(r)
		JNZ(LabelRef(name))
		for j := 0; j < nv; j++ {
			if mask {
				VMOVUPS(zmm(j), K1, Mem{Base: y})
			} else {
				VMOVUPS(zmm(j), Mem{Base: y, Disp: 64 * j})
			}
		}
	}
	for _, nv := range []int{4, 1} {
		top, next := fmt.Sprintf("cols%d", 16*nv), "tail"
		if nv == 4 {
			next = "cols16"
		}
		Label(top)
		CMPQ(n, U8(16*nv))
		JL(LabelRef(next))
		block(fmt.Sprintf("rows%d", 16*nv), nv, false)
		ADDQ(U32(64*nv), x)
		ADDQ(U32(64*nv), y)
		SUBQ(U8(16*nv), n)
		JMP(LabelRef(top))
	}
	Label("tail")
	TESTQ(n, n)
	JZ(LabelRef("done"))
	MOVL(U32(1), EAX)
	SHLL(CL, EAX)
	DECL(EAX)
	KMOVW(EAX, K1)
	block("rowsTail", 1, true)
	Label("done")
	VZEROUPPER()
	RET()
}

// genPackRows emits the pack of a transposed A operand: rows of op(A)'s
// panel are contiguous runs of mr <= 16 floats in the source, one per k
// step, copied with a masked load and store (a copy call per 14 floats
// costs more than the copy).
func genPackRows() {
	TEXT("packRowsAVX512", NOSPLIT, "func(k int, src *float32, ld int, dst *float32, mr int)")
	Doc("packRowsAVX512 copies src[q*ld : q*ld+mr] to dst[q*mr : q*mr+mr] for q < k (mr <= 16).")
	k, src, ld, dst, mr := RBX, RSI, R8, RDI, RCX
	Load(Param("k"), k)
	Load(Param("src"), src)
	Load(Param("ld"), ld)
	Load(Param("dst"), dst)
	Load(Param("mr"), mr)
	SHLQ(U8(2), ld)
	MOVL(U32(1), EAX)
	SHLL(CL, EAX)
	DECL(EAX)
	KMOVW(EAX, K1)
	SHLQ(U8(2), mr)
	TESTQ(k, k)
	JZ(LabelRef("done"))
	Label("loop")
	VMOVUPS_Z(Mem{Base: src}, K1, Z0)
	VMOVUPS(Z0, K1, Mem{Base: dst})
	ADDQ(ld, src)
	ADDQ(mr, dst)
	DECQ(k)
	JNZ(LabelRef("loop"))
	Label("done")
	VZEROUPPER()
	RET()
}

// genPackTrans emits packTrans<mr>AVX512(k, src, ld, dst): the pack of mr
// rows of a row-major A into k-major groups of mr floats (dst[q*mr+r] =
// src[r*ld+q]), for k a multiple of 16: each step loads 16 columns of the
// mr rows, transposes the 16x16 block in registers (rows past mr are
// zero) and stores its 16 columns with masked moves. It replaces a
// gather per column, which costs several times more.
func genPackTrans(mr int) {
	name := fmt.Sprintf("packTrans%dAVX512", mr)
	TEXT(name, NOSPLIT, "func(k int, src *float32, ld int, dst *float32)")
	Doc(fmt.Sprintf("%s sets dst[q*%d+r] = src[r*ld+q] for r < %d, q < k (k a multiple of 16).", name, mr, mr))
	k, src, ld, dst := RCX, RSI, R8, RDI
	bases := []GPPhysical{R9, R10, R11, R12, R13}
	Load(Param("k"), k)
	Load(Param("src"), src)
	Load(Param("ld"), ld)
	Load(Param("dst"), dst)
	SHLQ(U8(2), ld)
	SHRQ(U8(4), k)
	MOVL(U32(1<<mr-1), EAX)
	KMOVW(EAX, K1)
	// bases[i] = src + 3*i*ld
	MOVQ(src, bases[0])
	for i := 1; i < len(bases); i++ {
		LEAQ(Mem{Base: bases[i-1], Index: ld, Scale: 2}, bases[i])
		ADDQ(ld, bases[i])
	}
	r := func(i int) VecPhysical { return zmm(i) }
	TESTQ(k, k)
	JZ(LabelRef("done"))
	Label("loop")
	for i := 0; i < 16; i++ {
		if i >= mr {
			VPXORD(r(i), r(i), r(i))
			continue
		}
		m := Mem{Base: bases[i/3]}
		if i%3 > 0 {
			m = Mem{Base: bases[i/3], Index: ld, Scale: uint8(i % 3)}
		}
		VMOVUPS(m, r(i))
	}
	transpose16()
	for j := 0; j < 16; j++ {
		VMOVUPS(r(j), K1, Mem{Base: dst, Disp: 4 * mr * j})
	}
	for _, b := range bases {
		ADDQ(U8(64), b)
	}
	ADDQ(U32(64*mr), dst)
	DECQ(k)
	JNZ(LabelRef("loop"))
	Label("done")
	VZEROUPPER()
	RET()
}

// genRowSums16 emits rowSums16AVX512(blocks, src, ld, dst): the sums of 16
// rows (ld floats apart) over their first 16*blocks columns, each row
// summed in column order from 0 as a scalar loop would. Each step loads 16
// columns of the 16 rows, transposes the block in registers (as
// packTrans does, transpose16) so that a register holds one column, and adds the
// columns to the running sums in order: one lane per row, each lane's
// additions those of its row's loop. The transpose takes all 32
// registers, so the sums wait in dst between blocks.
func genRowSums16() {
	TEXT("rowSums16AVX512", NOSPLIT, "func(blocks int, src *float32, ld int, dst *float32)")
	// It keeps no pointer, so a caller's sums can live on its stack.
	Pragma("noescape")
	Doc("rowSums16AVX512 sets dst[r] = src[r*ld+0] + src[r*ld+1] + ... (16*blocks columns, added in order from 0) for r < 16.")
	k, src, ld, dst := RCX, RSI, R8, RDI
	Load(Param("blocks"), k)
	Load(Param("src"), src)
	Load(Param("ld"), ld)
	Load(Param("dst"), dst)
	SHLQ(U8(2), ld)
	bases := rowBases16(src, ld)
	r := func(i int) VecPhysical { return zmm(i) }
	VPXORD(zmm(0), zmm(0), zmm(0))
	VMOVUPS(zmm(0), Mem{Base: dst})
	TESTQ(k, k)
	JZ(LabelRef("done"))
	Label("loop")
	loadRows16(bases, ld)
	transpose16()
	acc := zmm(16) // free once the block is transposed
	VMOVUPS(Mem{Base: dst}, acc)
	for j := 0; j < 16; j++ {
		VADDPS(r(j), acc, acc)
	}
	VMOVUPS(acc, Mem{Base: dst})
	for _, b := range bases {
		ADDQ(U8(64), b)
	}
	DECQ(k)
	JNZ(LabelRef("loop"))
	Label("done")
	VZEROUPPER()
	RET()
}

// transpose16 emits the in-register transpose of the 16x16 block in
// Z0-Z15 (row i in Zi) through Z16-Z31: afterwards Zj holds column j, lane
// i from row i.
func transpose16() {
	r := func(i int) VecPhysical { return zmm(i) }
	t := func(i int) VecPhysical { return zmm(16 + i) }
	for i := 0; i < 8; i++ {
		VUNPCKLPS(r(2*i+1), r(2*i), t(2*i))
		VUNPCKHPS(r(2*i+1), r(2*i), t(2*i+1))
	}
	for g := 0; g < 4; g++ {
		b := 4 * g
		VUNPCKLPD(t(b+2), t(b), r(b))
		VUNPCKHPD(t(b+2), t(b), r(b+1))
		VUNPCKLPD(t(b+3), t(b+1), r(b+2))
		VUNPCKHPD(t(b+3), t(b+1), r(b+3))
	}
	for h := 0; h < 2; h++ {
		b := 8 * h
		for j := 0; j < 4; j++ {
			VSHUFF32X4(U8(0x88), r(b+4+j), r(b+j), t(b+j))
			VSHUFF32X4(U8(0xdd), r(b+4+j), r(b+j), t(b+4+j))
		}
	}
	for j := 0; j < 8; j++ {
		VSHUFF32X4(U8(0x88), t(8+j), t(j), r(j))
		VSHUFF32X4(U8(0xdd), t(8+j), t(j), r(8+j))
	}
}

// genTranspose16 emits transpose16AVX512(src, lds, dst, ldd): dst[j*ldd+i]
// = src[i*lds+j] for i, j < 16, one 16x16 block through transpose16.
func genTranspose16() {
	TEXT("transpose16AVX512", NOSPLIT, "func(src *float32, lds int, dst *float32, ldd int)")
	Pragma("noescape")
	Doc("transpose16AVX512 sets dst[j*ldd+i] = src[i*lds+j] for i, j < 16.")
	src, lds, dst, ldd := RSI, R8, RDI, RCX
	Load(Param("src"), src)
	Load(Param("lds"), lds)
	Load(Param("dst"), dst)
	Load(Param("ldd"), ldd)
	SHLQ(U8(2), lds)
	SHLQ(U8(2), ldd)
	loadRows16(rowBases16(src, lds), lds)
	transpose16()
	for j := 0; j < 16; j++ {
		VMOVUPS(zmm(j), Mem{Base: dst})
		if j < 15 {
			ADDQ(ldd, dst)
		}
	}
	VZEROUPPER()
	RET()
}

// rowBases16 points R9-R13 and RBX at rows 0, 3, 6, ... of the matrix at
// src (row stride ld bytes), from which loadRows16 reaches all 16 rows.
func rowBases16(src, ld GPPhysical) []GPPhysical {
	bases := []GPPhysical{R9, R10, R11, R12, R13, RBX}
	MOVQ(src, bases[0])
	for i := 1; i < len(bases); i++ {
		LEAQ(Mem{Base: bases[i-1], Index: ld, Scale: 2}, bases[i])
		ADDQ(ld, bases[i])
	}
	return bases
}

// loadRows16 loads the 16 floats at each of 16 rows into Z0-Z15.
func loadRows16(bases []GPPhysical, ld GPPhysical) {
	for i := 0; i < 16; i++ {
		m := Mem{Base: bases[i/3]}
		if i%3 > 0 {
			m = Mem{Base: bases[i/3], Index: ld, Scale: uint8(i % 3)}
		}
		VMOVUPS(m, zmm(i))
	}
}
