package kernels

import (
	"fmt"
	"math"
)

// Implicit B. A convolution's GEMM multiplies the weights into the patch
// matrix (im2col), whose entries are all image pixels or padding zeros.
// Writing that matrix out and then copying it into the GEMM's packed
// panels moves every entry twice, through memory that does not stay in
// cache for a batch of images. SgemmPackedASource instead lets the caller
// write each packed block directly (PanelSource); GatherPattern is the
// tool for it: per nr-wide panel, the offset of each column's pixel for
// each kernel tap, read with AVX-512 gathers one channel after another.

// PanelSource writes op(B)[p0:p0+kb][j0:j0+nb] into dst as nr-column
// micro-panels, each k-major (kb groups of nr floats, panel jr at
// dst[jr*kb:]), with zeros in the columns of the last panel past nb. j0 is
// a multiple of nr. It is called from the goroutine running the GEMM.
type PanelSource interface {
	PackPanels(dst []float32, p0, kb, j0, nb, nr int)
}

// PanelWidth is nr, the panel width PanelSource writes for the active
// kernel, or 0 when Sgemm runs on gonum (no packing: SgemmPackedASource
// cannot run).
func PanelWidth() int {
	if active == nil {
		return 0
	}
	return active.nr
}

// SgemmPackedASource is SgemmPackedA with op(B) (k x n) written into the
// packing buffer by src instead of copied from a matrix. The result is
// bit-identical to SgemmPackedA's on the matrix src describes. It panics
// when pa was not packed for the active kernel (PanelWidth() == 0).
func SgemmPackedASource(pa *PackedA, n int, src PanelSource, alpha, beta float32, c []float32, ldc int) {
	if pa.kern != kernelFor(pa.m) || pa.kern == nil {
		panic("kernels: SgemmPackedASource needs A packed for the active assembly kernel")
	}
	m, k := pa.m, pa.k
	if n < 0 {
		panic(fmt.Sprintf("kernels: SgemmPackedASource: negative n=%d", n))
	}
	checkMatrix("c", c, ldc, m, n)
	addFLOPs(m, n, k)
	if trivialProduct(m, n, k, alpha, beta, c, ldc) {
		return
	}
	pr := problem{kern: pa.kern, transA: pa.transA, m: m, n: n, k: k,
		alpha: alpha, a: pa.a, lda: pa.lda, beta: beta, c: c, ldc: ldc, pre: pa, src: src}
	pr.run(0, m, 0, n)
}

// GatherPattern is where the columns of one nr-wide panel of an implicit
// patch matrix read their pixels: for each of taps taps (a kernel
// position), lane l reads offset offs[t*nr+l] of the current channel, or
// is zero when its mask bit is clear (padding, or past the last column).
// Rows of the matrix run over taps within a channel, then over channels,
// im2col's row order. Build it with Reset, Set and Finish.
//
// Where every 16 lanes of every tap read at most two runs of consecutive
// floats (stride-1 convolutions: a run per image), Finish switches the
// AVX-512 path from gathers to masked loads, ~3x cheaper per float.
type GatherPattern struct {
	taps, nr int
	offs     []int32
	masks    []uint32
	max      int // largest offset under a mask bit, -1 if none
	ready    bool
	// loads: runs holds, per tap and 16-lane half h, {d1, d2, m1, m2}:
	// lane l of the half reads offset d+16h+l under mask m.
	loads bool
	runs  []int32
}

// Reset empties g for taps taps of nr lanes (nr <= 32), all zero.
func (g *GatherPattern) Reset(taps, nr int) {
	if taps < 1 || nr < 1 || nr > 32 {
		panic(fmt.Sprintf("kernels: GatherPattern with %d taps of %d lanes", taps, nr))
	}
	g.taps, g.nr, g.max, g.ready, g.loads = taps, nr, -1, false, false
	g.offs = resize(g.offs, taps*nr)
	clear(g.offs)
	g.masks = resize(g.masks, taps)
	clear(g.masks)
}

func resize[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

// Set makes lane l of tap t read offset off (>= 0) of each channel.
func (g *GatherPattern) Set(t, l, off int) {
	if t < 0 || t >= g.taps || l < 0 || l >= g.nr || off < 0 || off > math.MaxInt32 {
		panic(fmt.Sprintf("kernels: GatherPattern.Set(%d, %d, %d) outside %d taps x %d lanes", t, l, off, g.taps, g.nr))
	}
	g.offs[t*g.nr+l] = int32(off)
	g.masks[t] |= 1 << l
	g.max = max(g.max, off)
	g.ready = false
}

// Finish prepares g for Gather after the last Set.
func (g *GatherPattern) Finish() {
	g.ready, g.loads = true, false
	if g.nr != 32 {
		return
	}
	g.runs = resize(g.runs, g.taps*8)
	for t := 0; t < g.taps; t++ {
		for h := 0; h < 2; h++ {
			var d [2]int32
			var m [2]uint32
			runs := 0
		lanes:
			for l := 16 * h; l < 16*h+16; l++ {
				if g.masks[t]&(1<<l) == 0 {
					continue
				}
				dl := g.offs[t*32+l] - int32(l)
				for i := 0; i < runs; i++ {
					if d[i] == dl {
						m[i] |= 1 << (l - 16*h)
						continue lanes
					}
				}
				if runs == 2 {
					return // three runs: gathers
				}
				d[runs], m[runs] = dl, 1<<(l-16*h)
				runs++
			}
			e := g.runs[t*8+4*h:]
			e[0], e[1], e[2], e[3] = d[0], d[1], int32(m[0]), int32(m[1])
		}
	}
	g.loads = true
}

// Gather writes rows q0..q0+n-1 of the pattern's panel into dst (n groups
// of nr floats): row q is tap q%taps of channel q/taps, channel c starting
// at src[c*chStride].
func (g *GatherPattern) Gather(dst, src []float32, chStride, q0, n int) {
	if n <= 0 {
		return
	}
	if !g.ready {
		panic("kernels: GatherPattern.Gather before Finish")
	}
	if len(dst) < n*g.nr || q0 < 0 || chStride < 0 {
		panic(fmt.Sprintf("kernels: GatherPattern.Gather of %d rows from row %d into %d floats", n, q0, len(dst)))
	}
	ch0, t0 := q0/g.taps, q0%g.taps
	if g.max < 0 {
		clear(dst[:n*g.nr])
		return
	}
	if last := (q0+n-1)/g.taps*chStride + g.max; last >= len(src) {
		panic(fmt.Sprintf("kernels: GatherPattern.Gather reads src[%d], past its %d floats", last, len(src)))
	}
	base := ch0 * chStride
	if hasRows && g.loads {
		panelLoadAVX512(n, &src[base], chStride, &g.runs[0], g.taps, t0, &dst[0])
		return
	}
	if hasRows && g.nr == 32 {
		panelGatherAVX512(n, &src[base], chStride, &g.offs[0], &g.masks[0], g.taps, t0, &dst[0])
		return
	}
	panelGatherGo(dst, src[base:], chStride, g.offs, g.masks, g.taps, g.nr, t0, n)
}

func panelGatherGo(dst, src []float32, chStride int, offs []int32, masks []uint32, taps, nr, t, n int) {
	for r := 0; r < n; r++ {
		d := dst[r*nr : r*nr+nr]
		o := offs[t*nr : t*nr+nr]
		m := masks[t]
		for l := range d {
			d[l] = 0
			if m&(1<<l) != 0 {
				d[l] = src[o[l]]
			}
		}
		if t++; t == taps {
			t = 0
			src = src[min(chStride, len(src)):]
		}
	}
}

// SgemmSource is Sgemm with op(B) (k x n) written into the packing buffer
// by src: C = alpha*op(A)*B + beta*C on the calling goroutine, where
// op(A) is m x k (A^T when transA). Bit-identical to Sgemm on the matrix
// src describes. It panics when PanelWidth() == 0.
func SgemmSource(transA bool, m, n, k int, alpha float32, a []float32, lda int, src PanelSource, beta float32, c []float32, ldc int) {
	kern := kernelFor(m)
	if kern == nil {
		panic("kernels: SgemmSource needs an assembly kernel")
	}
	if m < 0 || n < 0 || k < 0 {
		panic(fmt.Sprintf("kernels: SgemmSource: negative size m=%d n=%d k=%d", m, n, k))
	}
	ar, ac := m, k
	if transA {
		ar, ac = k, m
	}
	checkMatrix("a", a, lda, ar, ac)
	checkMatrix("c", c, ldc, m, n)
	addFLOPs(m, n, k)
	if trivialProduct(m, n, k, alpha, beta, c, ldc) {
		return
	}
	pr := problem{kern: kern, transA: transA, m: m, n: n, k: k,
		alpha: alpha, a: a, lda: lda, beta: beta, c: c, ldc: ldc, src: src}
	pr.run(0, m, 0, n)
}

// GatherGrid is the pattern of one nr-wide panel of a patch matrix read
// along its windows (the transposed patch matrix a weight gradient's GEMM
// reads, one row per window position): row p, lane l reads
// src[row[p] + lane[l]] where bit l of mask[p] is set, else 0. Row offsets
// may be negative (a window hanging over the top-left padding) as long as
// every read under a mask bit is inside src. Build it with Reset, SetLane,
// SetRow and Finish.
type GatherGrid struct {
	nr      int
	lanes   []int32
	rows    []int32
	masks   []uint32
	lo, hi  int // smallest and largest offset under a mask bit (hi < lo: none)
	ready   bool
	laneSet uint32
}

// Reset empties g for rows rows of nr <= 32 lanes.
func (g *GatherGrid) Reset(rows, nr int) {
	if rows < 0 || nr < 1 || nr > 32 {
		panic(fmt.Sprintf("kernels: GatherGrid with %d rows of %d lanes", rows, nr))
	}
	g.nr, g.ready, g.laneSet = nr, false, 0
	g.lanes = resize(g.lanes, max(nr, 32))
	clear(g.lanes)
	g.rows = resize(g.rows, rows)
	clear(g.rows)
	g.masks = resize(g.masks, rows)
	clear(g.masks)
}

// SetLane sets lane l's offset.
func (g *GatherGrid) SetLane(l, off int) {
	if l < 0 || l >= g.nr || off < math.MinInt32 || off > math.MaxInt32 {
		panic(fmt.Sprintf("kernels: GatherGrid.SetLane(%d, %d) with %d lanes", l, off, g.nr))
	}
	g.lanes[l] = int32(off)
	g.laneSet |= 1 << l
	g.ready = false
}

// SetRow sets row p's offset and the lanes it reads.
func (g *GatherGrid) SetRow(p, off int, mask uint32) {
	if p < 0 || p >= len(g.rows) || off < math.MinInt32 || off > math.MaxInt32 {
		panic(fmt.Sprintf("kernels: GatherGrid.SetRow(%d, %d) with %d rows", p, off, len(g.rows)))
	}
	g.rows[p], g.masks[p] = int32(off), mask
	g.ready = false
}

// Finish checks g and prepares it for Gather after the last Set.
func (g *GatherGrid) Finish() {
	g.lo, g.hi = math.MaxInt, math.MinInt
	for p, m := range g.masks {
		if m&^g.laneSet != 0 {
			panic(fmt.Sprintf("kernels: GatherGrid row %d reads lanes %#x that have no offset", p, m&^g.laneSet))
		}
		for l := 0; l < g.nr; l++ {
			if m&(1<<l) != 0 {
				o := int(g.rows[p]) + int(g.lanes[l])
				g.lo, g.hi = min(g.lo, o), max(g.hi, o)
			}
		}
	}
	if g.lo <= g.hi && (g.lo < 0 || g.hi > math.MaxInt32) {
		panic(fmt.Sprintf("kernels: GatherGrid reads offsets [%d, %d]", g.lo, g.hi))
	}
	g.ready = true
}

// Gather writes rows p0..p0+n-1 into dst (n groups of nr floats).
func (g *GatherGrid) Gather(dst, src []float32, p0, n int) {
	if n <= 0 {
		return
	}
	if !g.ready {
		panic("kernels: GatherGrid.Gather before Finish")
	}
	if p0 < 0 || p0+n > len(g.rows) || len(dst) < n*g.nr {
		panic(fmt.Sprintf("kernels: GatherGrid.Gather of rows [%d, %d) of %d into %d floats", p0, p0+n, len(g.rows), len(dst)))
	}
	if g.lo <= g.hi && g.hi >= len(src) {
		panic(fmt.Sprintf("kernels: GatherGrid.Gather reads src[%d], past its %d floats", g.hi, len(src)))
	}
	if hasRows && g.nr == 32 && g.lo <= g.hi {
		panelGridAVX512(n, &src[0], &g.rows[p0], &g.masks[p0], &g.lanes[0], &dst[0])
		return
	}
	for r := 0; r < n; r++ {
		d := dst[r*g.nr : r*g.nr+g.nr]
		row, m := int(g.rows[p0+r]), g.masks[p0+r]
		for l := range d {
			d[l] = 0
			if m&(1<<l) != 0 {
				d[l] = src[row+int(g.lanes[l])]
			}
		}
	}
}
