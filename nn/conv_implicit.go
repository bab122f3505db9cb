package nn

import "github.com/vqgen/vqgen/kernels"

// Implicit patch matrices. With package kernels' SGEMM installed, a
// convolution's forward GEMM does not read a written-out im2col matrix:
// its packing step gathers each packed panel straight from the images
// (kernels.SgemmPackedASource), through one gather pattern per panel of
// columns. The panels hold exactly the floats im2col would have written,
// so the product is bit-identical to the explicit path; what goes is a
// pass that writes the patch matrix (~1.8 MB per group of a 3x3 conv over
// 128 channels) and one that reads it back.

// groupTable is what a table of panels describes: images images of
// geometry g, in panels nr wide. The tables are rebuilt only when it
// changes.
type groupTable struct {
	g      convGeom
	images int
	nr     int
}

func (t *groupTable) groupImages() int { return t.images }

// forGroup returns full, or tail for a group shorter than full describes
// (the batch's last).
func forGroup[T interface{ groupImages() int }](full, tail T, images int) T {
	if images != full.groupImages() {
		return tail
	}
	return full
}

// renew records the new key and reports whether it differs from the old.
func (t *groupTable) renew(g *convGeom, images, nr int) bool {
	k := groupTable{*g, images, nr}
	if *t == k {
		return false
	}
	*t = k
	return true
}

// groupTables is a table type for a group of images.
type groupTables interface {
	build(g *convGeom, images, nr int)
}

// buildGroups builds full for a group of group images and, when the batch
// of n ends in a shorter group, tail for that one (groups never straddle
// the batch's chunks, which are whole groups).
func buildGroups(full, tail groupTables, g *convGeom, n, group int) {
	nr := kernels.PanelWidth()
	full.build(g, min(group, n), nr)
	if t := n % group; t != 0 && n > group {
		tail.build(g, t, nr)
	}
}

// perWorker returns s with at least Workers() elements.
func perWorker[T any](s []T) []T {
	if len(s) < Workers() {
		s = grow(s, Workers())
	}
	return s
}

// grow returns s resized to n elements, keeping (and reusing) the ones it
// has: tables keep their storage from one build to the next.
func grow[T any](s []T, n int) []T {
	for len(s) < n {
		var zero T
		s = append(s, zero)
	}
	return s[:n]
}

// patchPatterns is the gather pattern of every nr-wide panel of the patch
// matrix of a group of images, offsets counted from the group's first
// image.
type patchPatterns struct {
	groupTable
	pats []kernels.GatherPattern
}

// build makes p describe images images of geometry g in panels of nr
// columns, unless it already does.
func (p *patchPatterns) build(g *convGeom, images, nr int) {
	if !p.renew(g, images, nr) {
		return
	}
	P, taps := g.cols(), g.KH*g.KW
	n := images * P
	panels := (n + nr - 1) / nr
	p.pats = grow(p.pats, panels)
	for pi := range p.pats {
		pat := &p.pats[pi]
		pat.Reset(taps, nr)
		for l := 0; l < nr && pi*nr+l < n; l++ {
			j := pi*nr + l
			img, o := j/P, j%P
			oh, ow := o/g.OW, o%g.OW
			for ki := 0; ki < g.KH; ki++ {
				y := oh*g.S - g.PH + ki
				if y < 0 || y >= g.H {
					continue
				}
				for kj := 0; kj < g.KW; kj++ {
					x := ow*g.S - g.PW + kj
					if x < 0 || x >= g.W {
						continue
					}
					pat.Set(ki*g.KW+kj, l, img*g.IS+y*g.W+x)
				}
			}
		}
		pat.Finish()
	}
}

// patchSource is one worker's kernels.PanelSource: the patterns of its
// group's size and the group's images.
type patchSource struct {
	p *patchPatterns
	x []float32 // from the group's first image on (strides g.CS, g.IS)
}

func (s *patchSource) PackPanels(dst []float32, p0, kb, j0, nb, nr int) {
	for jr := 0; jr < nb; jr += nr {
		s.p.pats[(j0+jr)/nr].Gather(dst[jr*kb:jr*kb+nr*kb], s.x, s.p.g.CS, p0, kb)
	}
}

// implicitPatches reports whether the forward GEMM can pack its patches
// straight from the images: our own SGEMM is installed and has assembly
// kernels to pack for.
func implicitPatches() bool {
	return blasDefault && kernels.PanelWidth() > 0 && !explicitPatchesOnly
}

// explicitPatchesOnly turns the implicit path off (tests compare the two).
var explicitPatchesOnly = false

// patchGrids is the transposed patch matrix of a group of images, in
// nr-wide panels of patch rows (channel, tap): the B operand of the weight
// gradient's GEMM, dW += dY * cols^T, read by window position. Lane l of a
// panel is a fixed offset within an image (channel and tap), row p the
// window's top-left corner in its image, so one kernels.GatherGrid per
// panel covers all positions.
type patchGrids struct {
	groupTable
	grids []kernels.GatherGrid
}

func (p *patchGrids) build(g *convGeom, images, nr int) {
	if !p.renew(g, images, nr) {
		return
	}
	P, taps, K := g.cols(), g.KH*g.KW, g.rows()
	n := images * P
	panels := (K + nr - 1) / nr
	p.grids = grow(p.grids, panels)
	for pi := range p.grids {
		grid := &p.grids[pi]
		grid.Reset(n, nr)
		var ki, kj [32]int
		lanes := min(nr, K-pi*nr)
		for l := 0; l < lanes; l++ {
			q := pi*nr + l
			c, t := q/taps, q%taps
			ki[l], kj[l] = t/g.KW, t%g.KW
			grid.SetLane(l, c*g.CS+ki[l]*g.W+kj[l])
		}
		for j := 0; j < n; j++ {
			img, o := j/P, j%P
			y0, x0 := o/g.OW*g.S-g.PH, o%g.OW*g.S-g.PW
			var mask uint32
			for l := 0; l < lanes; l++ {
				y, x := y0+ki[l], x0+kj[l]
				if y >= 0 && y < g.H && x >= 0 && x < g.W {
					mask |= 1 << l
				}
			}
			grid.SetRow(j, img*g.IS+y0*g.W+x0, mask)
		}
		grid.Finish()
	}
}

// gridSource is one worker's kernels.PanelSource for the weight gradient.
type gridSource struct {
	p *patchGrids
	x []float32 // from the group's first image on
}

func (s *gridSource) PackPanels(dst []float32, p0, kb, j0, nb, nr int) {
	for jr := 0; jr < nb; jr += nr {
		s.p.grids[(j0+jr)/nr].Gather(dst[jr*kb:jr*kb+nr*kb], s.x, p0, kb)
	}
}
