package kernels

import (
	"fmt"
	"math/bits"
)

// Row movers for im2col and col2im on small images. A patch-matrix row of a
// 7x7 grid is 7 rows of 7 floats; in Go each short row costs a loop setup
// and zero fills for the edge padding, more than the floats themselves.
// With AVX-512 a whole image row (up to 16 output columns) is one masked
// load and one masked store: lanes outside the image are masked off on
// load (and so read as zero, the padding), and a stride-2 window keeps
// every other lane with VCOMPRESSPS (VEXPANDPS on the way back).
//
// Both movers are exact: the gather copies, the scatter-add does one
// float32 addition per element in row order, the same operations as the
// loops they replace, so results do not depend on which is used.

// HasRows reports whether RowsGather and RowsScatterAdd run in assembly. On
// other CPUs and with the noasm tag they run portable loops, which callers
// with loops of their own need not use.
func HasRows() bool { return hasRows }

// RowsGather fills, for each plane p < planes, rows before+rows+after of
// dst (row stride dstStride, plane stride dstPlane floats), storing only
// the lanes l in storeMask:
//
//	dst[p*dstPlane + r*dstStride + l] = v[l]
//
// Rows r < before and r >= before+rows get v = 0 (windows that fall off
// the top or bottom of the image). Row before+i gets v = the 16 floats
// src[base+off+p*srcPlane+i*srcStride:] with the lanes not in loadMask set
// to zero, then, when compressMask is not 0, with the lanes of compressMask
// moved to the bottom in order (the rest zero). Only the lanes of loadMask
// are read, so off may reach before base (or a row past the end of src)
// where those lanes are masked off.
func RowsGather(dst []float32, dstStride, dstPlane int, src []float32, base, off, srcStride, srcPlane, planes, before, rows, after int, loadMask, compressMask, storeMask uint16) {
	if planes <= 0 || storeMask == 0 || before+rows+after <= 0 {
		return
	}
	if rows > 0 {
		checkRows("src", len(src), base+off, srcStride, rows, srcPlane, planes, loadMask)
	}
	checkRows("dst", len(dst), 0, dstStride, before+rows+after, dstPlane, planes, storeMask)
	if hasRows {
		var sp *float32
		if rows > 0 {
			sp = &src[base]
		}
		rowsGatherAVX512(&dst[0], dstStride, dstPlane, sp, off, srcStride, srcPlane, planes, before, max(rows, 0), after,
			int(loadMask), int(compressMask), int(storeMask))
		return
	}
	rowsGatherGo(dst, dstStride, dstPlane, src, base+off, srcStride, srcPlane, planes, before, rows, after, loadMask, compressMask, storeMask)
}

// RowsScatterAdd is RowsGather's adjoint (without the zero rows): for each
// plane p < planes and row r < rows it takes the 16 floats
// src[p*srcPlane+r*srcStride:] with the lanes not in loadMask set to zero,
// spreads its bottom lanes over the lanes of expandMask in order when
// expandMask is not 0, and adds lane l into
// dst[base+off+p*dstPlane+r*dstStride+l] for each lane l in addMask.
func RowsScatterAdd(dst []float32, base, off, dstStride, dstPlane int, src []float32, srcStride, srcPlane, planes, rows int, loadMask, expandMask, addMask uint16) {
	if rows <= 0 || planes <= 0 || addMask == 0 {
		return
	}
	checkRows("src", len(src), 0, srcStride, rows, srcPlane, planes, loadMask)
	checkRows("dst", len(dst), base+off, dstStride, rows, dstPlane, planes, addMask)
	if hasRows {
		var sp *float32
		if len(src) > 0 {
			sp = &src[0]
		}
		rowsScatterAddAVX512(&dst[base], off, dstStride, dstPlane, sp, srcStride, srcPlane, planes, rows,
			int(loadMask), int(expandMask), int(addMask))
		return
	}
	rowsScatterAddGo(dst, base+off, dstStride, dstPlane, src, srcStride, srcPlane, planes, rows, loadMask, expandMask, addMask)
}

// checkRows panics unless every lane of mask in rows rows of planes planes
// starting at start (row stride stride, plane stride plane) lies inside
// [0, n).
func checkRows(name string, n, start, stride, rows, plane, planes int, mask uint16) {
	if mask == 0 {
		return
	}
	lo, hi := bits.TrailingZeros16(mask), bits.Len16(mask)-1
	first, last := start+lo, start+(planes-1)*plane+(rows-1)*stride+hi
	if stride < 0 || plane < 0 || first < 0 || last >= n {
		panic(fmt.Sprintf("kernels: rows of %s [%d, %d] (stride %d, %d rows, mask %#x) outside its %d floats", name, first, last, stride, rows, mask, n))
	}
}

func lanes(src []float32, at int, mask uint16) (v [16]float32) {
	for l := 0; l < 16; l++ {
		if mask&(1<<l) != 0 {
			v[l] = src[at+l]
		}
	}
	return v
}

func compress(v [16]float32, mask uint16) (w [16]float32) {
	j := 0
	for l := 0; l < 16; l++ {
		if mask&(1<<l) != 0 {
			w[j] = v[l]
			j++
		}
	}
	return w
}

func expand(v [16]float32, mask uint16) (w [16]float32) {
	j := 0
	for l := 0; l < 16; l++ {
		if mask&(1<<l) != 0 {
			w[l] = v[j]
			j++
		}
	}
	return w
}

func rowsGatherGo(dst []float32, dstStride, dstPlane int, src []float32, start, srcStride, srcPlane, planes, before, rows, after int, loadMask, compressMask, storeMask uint16) {
	for p := 0; p < planes; p++ {
		for r := 0; r < before+rows+after; r++ {
			var v [16]float32
			if r >= before && r < before+rows {
				v = lanes(src, start+p*srcPlane+(r-before)*srcStride, loadMask)
				if compressMask != 0 {
					v = compress(v, compressMask)
				}
			}
			for l := 0; l < 16; l++ {
				if storeMask&(1<<l) != 0 {
					dst[p*dstPlane+r*dstStride+l] = v[l]
				}
			}
		}
	}
}

func rowsScatterAddGo(dst []float32, start, dstStride, dstPlane int, src []float32, srcStride, srcPlane, planes, rows int, loadMask, expandMask, addMask uint16) {
	for p := 0; p < planes; p++ {
		for r := 0; r < rows; r++ {
			v := lanes(src, p*srcPlane+r*srcStride, loadMask)
			if expandMask != 0 {
				v = expand(v, expandMask)
			}
			for l := 0; l < 16; l++ {
				if addMask&(1<<l) != 0 {
					dst[start+p*dstPlane+r*dstStride+l] += v[l]
				}
			}
		}
	}
}
