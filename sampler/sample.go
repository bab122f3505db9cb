package sampler

import (
	"fmt"
	"math"

	"github.com/vqgen/vqgen/nn"
	prior "github.com/vqgen/vqgen/stage2_prior"
)

// DefaultBatch is the number of grids one stepper pass carries when
// Options.Batch is 0.
const DefaultBatch = 256

// Options controls Sample.
type Options struct {
	N int // grids to draw
	// Classes holds one class per grid for a conditional prior. nil for an
	// unconditional prior; nil for a conditional one draws the classes
	// (see Sample).
	Classes     []int32
	Temperature float32 // > 0; 1 leaves the logits as they are
	TopK        int     // keep the k most likely codes; 0: off
	TopP        float32 // nucleus mass in (0, 1]; 1: off
	Seed        uint64
	Batch       int // grids per stepper pass; 0: DefaultBatch. Does not change the result.
	// Guidance is the classifier-free guidance weight w of a conditional
	// prior: each cell's logits become l_null + w*(l_cond - l_null) before
	// temperature, top-k and top-p (see the package comment). 0 or 1: off.
	// Guidance costs a second prior pass per cell; it is an error for an
	// unconditional prior.
	Guidance float32
}

// Grids is a set of code grids in raster order.
type Grids struct {
	N, H, W int
	Codes   []int32 // N*H*W
	Classes []int32 // N, nil for an unconditional prior
}

// Progress is told how many of total units of work are done; nil is allowed.
type Progress func(done, total int)

func (pr Progress) report(done, total int) {
	if pr != nil {
		pr(done, total)
	}
}

// checkGuidance rejects a negative or non-finite weight, and guidance on a
// prior that has no null class to contrast with.
func checkGuidance(info prior.Info, w float32) error {
	if !(w >= 0) || math.IsInf(float64(w), 1) {
		return fmt.Errorf("sampler: guidance must be a finite number >= 0 (0 or 1 turns it off), got %g", w)
	}
	if guided(w) && info.Classes == 0 {
		return fmt.Errorf("sampler: guidance %g needs a class-conditional prior; this prior is unconditional (guidance 0 or 1 turns it off)", w)
	}
	return nil
}

// guided reports whether weight w changes the logits: 0 and 1 leave them.
func guided(w float32) bool { return w != 0 && w != 1 }

func checkFilter(temperature float32, topK int, topP float32) error {
	if !(temperature > 0) || temperature != temperature {
		return fmt.Errorf("sampler: temperature must be > 0, got %g", temperature)
	}
	if topK < 0 {
		return fmt.Errorf("sampler: top_k must be >= 0 (0 turns it off), got %d", topK)
	}
	if !(topP > 0 && topP <= 1) {
		return fmt.Errorf("sampler: top_p must be in (0, 1] (1 turns it off), got %g", topP)
	}
	return nil
}

// resolveClasses checks the classes given for n grids, or draws them for a
// conditional prior when none are given. Drawn classes are stratified: grid
// i gets class i mod C and the list is shuffled, so each grid's class is
// uniform and any n >= C grids cover every class.
func resolveClasses(info prior.Info, classes []int32, n int, rng *nn.RNG) ([]int32, error) {
	if info.Classes == 0 {
		if classes != nil {
			return nil, fmt.Errorf("sampler: the prior is unconditional but %d classes were given", len(classes))
		}
		return nil, nil
	}
	if classes == nil {
		out := make([]int32, n)
		for i := range out {
			out[i] = int32(i % info.Classes)
		}
		rng.Shuffle(n, func(i, j int) { out[i], out[j] = out[j], out[i] })
		return out, nil
	}
	if len(classes) != n {
		return nil, fmt.Errorf("sampler: %d classes given for %d grids", len(classes), n)
	}
	for i, c := range classes {
		if c < 0 || int(c) >= info.Classes {
			return nil, fmt.Errorf("sampler: class %d of grid %d is out of range [0, %d)", c, i, info.Classes)
		}
	}
	return append([]int32(nil), classes...), nil
}

func batchSize(b, n int) (int, error) {
	if b < 0 {
		return 0, fmt.Errorf("sampler: batch must be >= 0 (0: default %d), got %d", DefaultBatch, b)
	}
	if b == 0 {
		b = DefaultBatch
	}
	return min(b, n), nil
}

// gridRNGs splits one generator per grid off root, in grid order.
func gridRNGs(root *nn.RNG, n int) []*nn.RNG {
	r := make([]*nn.RNG, n)
	for i := range r {
		r[i] = root.Split()
	}
	return r
}

// Sample draws opt.N grids from p by ancestral sampling in raster order (see
// the package comment). The same options give the same grids.
func Sample(p prior.Prior, opt Options, progress Progress) (*Grids, error) {
	return SampleRange(p, opt, 0, opt.N, progress)
}

// raster runs the sampling loop for batches of grids with one stepper.
// A guided raster steps 2n grids for n: the n given and n copies with the
// null class, whose codes it keeps equal to the originals' (codes2).
type raster struct {
	info prior.Info
	st   prior.Stepper
	f    *filter

	w      float32 // guidance weight; guided(w) only
	codes2 []int32 // [2*batch*hw]
	cls2   []int32 // [2*batch]
	mixed  []float32
}

// newRaster makes a raster for up to batch grids at a time; guidance 0 or 1
// leaves the logits alone (and a conditional prior is the caller's check).
func newRaster(p prior.Prior, batch int, temperature float32, topK int, topP, guidance float32) *raster {
	info := p.Info()
	r := &raster{info: info, f: newFilter(info.K, temperature, topK, topP)}
	if !guided(guidance) {
		r.st = p.NewStepper(batch)
		return r
	}
	r.st = p.NewStepper(2 * batch)
	r.w = guidance
	r.codes2 = make([]int32, 2*batch*info.Positions())
	r.cls2 = make([]int32, 2*batch)
	r.mixed = make([]float32, info.K)
	return r
}

// run fills codes (n grids) in raster order. Where keep is non-nil and
// keep[pos] is true, the cell keeps the value already in codes; the loop
// stops after the last free cell. base is the index of the first grid, for
// errors; after is called after every position.
func (r *raster) run(codes, classes []int32, keep []bool, rngs []*nn.RNG, base int, after func(pos int)) error {
	k, hw := r.info.K, r.info.Positions()
	n := len(rngs)
	last := hw - 1
	if keep != nil {
		for last >= 0 && keep[last] {
			last--
		}
	}
	if r.mixed != nil {
		return r.runGuided(codes, classes, keep, rngs, base, last, after)
	}
	r.st.Reset(n, classes)
	for pos := 0; pos <= last; pos++ {
		logits := r.st.Next(codes, pos)
		if len(logits.Data) != n*k {
			return fmt.Errorf("sampler: stepper returned %d logits at position %d, want %d grids x %d codes", len(logits.Data), pos, n, k)
		}
		if keep == nil || !keep[pos] {
			for i := 0; i < n; i++ {
				c, err := r.f.draw(logits.Data[i*k:(i+1)*k], rngs[i])
				if err != nil {
					return fmt.Errorf("sampler: grid %d, position %d: %w", base+i, pos, err)
				}
				codes[i*hw+pos] = c
			}
		}
		after(pos)
	}
	return nil
}

// runGuided is run with classifier-free guidance: the stepper sees the n
// grids with their classes followed by the same grids with the null class,
// and each cell is drawn from l_null + w*(l_cond - l_null).
func (r *raster) runGuided(codes, classes []int32, keep []bool, rngs []*nn.RNG, base, last int, after func(pos int)) error {
	k, hw := r.info.K, r.info.Positions()
	n := len(rngs)
	c2 := r.codes2[:2*n*hw]
	copy(c2, codes[:n*hw])
	copy(c2[n*hw:], codes[:n*hw])
	copy(r.cls2, classes[:n])
	null := r.info.NullClass()
	for i := n; i < 2*n; i++ {
		r.cls2[i] = null
	}
	r.st.Reset(2*n, r.cls2[:2*n])
	w := r.w
	for pos := 0; pos <= last; pos++ {
		logits := r.st.Next(c2, pos)
		if len(logits.Data) != 2*n*k {
			return fmt.Errorf("sampler: stepper returned %d logits at position %d, want %d grids x %d codes", len(logits.Data), pos, 2*n, k)
		}
		if keep == nil || !keep[pos] {
			for i := 0; i < n; i++ {
				lc, lu := logits.Data[i*k:(i+1)*k], logits.Data[(n+i)*k:(n+i+1)*k]
				for j := range r.mixed {
					r.mixed[j] = lu[j] + w*(lc[j]-lu[j])
				}
				c, err := r.f.draw(r.mixed, rngs[i])
				if err != nil {
					return fmt.Errorf("sampler: grid %d, position %d: %w", base+i, pos, err)
				}
				codes[i*hw+pos] = c
				c2[i*hw+pos], c2[(n+i)*hw+pos] = c, c
			}
		}
		after(pos)
	}
	return nil
}
