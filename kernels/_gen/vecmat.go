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
