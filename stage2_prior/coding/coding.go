// Package coding turns an autoregressive prior into a lossless coder for
// code grids: the prior's probability of each code, given the codes before
// it, drives an entropy coder (internal/entropy's rANS), so a grid costs
// about its negative log-likelihood under the prior: the default MNIST
// run's test codes take 17.86 bytes per image (labels and container
// included) instead of 49.6 with zstd over the raw indices
// (docs/prior-coding.md).
//
// # Chunk format (numerics version 1)
//
// A chunk of n images (layout "prior" of datasets/CODES.md) is
//
//	offset 0   uint16  numerics version (1)
//	offset 2   uint32  CRC-32C of the decoded data: the n grids' indices as
//	                   little-endian uint16, image by image, then the n
//	                   labels as uint16 when the file has labels
//	offset 6   the rANS stream (entropy.Encoder's format: an 8-byte state,
//	           then 32-bit words) of, in decoding order,
//	           1. each image's label, if the file has labels, under an
//	              adaptive model: counts start at 1 per class and the
//	              label's count grows by 1 after it is coded
//	              (entropy.QuantizeCounts at entropy.Bits(classes) bits; a
//	              uniform model above 4096 classes);
//	           2. the codes, position-major: position 0 of images 0..n-1,
//	              then position 1, ..., each under the prior's logits
//	              quantized by entropy.Quantize at entropy.Bits(K) bits.
//
// A class-conditional prior conditions each grid on its label when the
// file's labels are the prior's classes (same count), and on the null
// class otherwise (also for files without labels). Position-major order
// lets the decoder advance all n images through the prior together, one
// batched step per position.
//
// # Determinism
//
// The decoder must compute bit for bit the logits the encoder saw, on any
// machine. The prior runs as the model itself, frozen in deterministic
// numerics (prior.Frozen under nn.NumericsDeterministic: the model's own
// layers through nn's Det* kernels, every value one fixed sequence of IEEE
// operations on every kernel path, for any batch size or GOMAXPROCS), and
// Quantize maps logits to frequencies with integer arithmetic after one
// float32 subtract and multiply. The encoder runs whole grids as one span
// of the stepper, groups of grids at a time; the decoder steps a chunk's
// grids position by position; both apply the same kernels to the same
// values for every row, so their logits are equal bit for bit
// (TestPassEqualsStepper). The numerics
// version names this whole arithmetic; a chunk of another version
// is refused, and the CRC catches anything that still differs (a platform
// whose arithmetic deviates decodes other symbols, which the rANS final
// state and the CRC expose: decoding never returns wrong data silently).
// Before its first use a Codec runs kernels.DetSelfCheck, which compares
// the kernels' outputs on fixed inputs with pinned digests and refuses to
// code when they differ.
package coding

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"path/filepath"
	"sync"

	"github.com/vqgen/vqgen/datasets"
	"github.com/vqgen/vqgen/internal/entropy"
	"github.com/vqgen/vqgen/kernels"
	"github.com/vqgen/vqgen/nn"
	prior "github.com/vqgen/vqgen/stage2_prior"
)

// NumericsVersion is the version of the arithmetic (kernels.Det*, the
// Transformer's order of operations, entropy.Quantize) that this build
// codes with. Any change to it must bump the version.
const NumericsVersion = 1

const (
	chunkHeaderSize = 6
	// adaptiveLabelsMax is the largest class count whose labels get the
	// adaptive model (its cost is O(classes) per label).
	adaptiveLabelsMax = 4096
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// ErrMismatch is wrapped by decoding errors that mean the chunk did not
// decode to what was encoded: damage the container's CRC missed, or
// arithmetic that differs from the writer's.
var ErrMismatch = errors.New("prior-coded chunk does not decode to what was written")

// Codec codes chunks of code grids with a prior. It implements
// datasets.CodeChunkCodec and is safe for concurrent use.
type Codec struct {
	f      *prior.Frozen
	info   prior.Info
	fp     [32]byte
	id     datasets.CodePrior
	pool   sync.Pool // *stepper, decoders'
	passes sync.Pool // *stepper of passGrids grids, encoders'
	check  error
}

// stepper is a deterministic stepper with the room it was made for and
// its codes in the stepper's layout.
type stepper struct {
	s     prior.SpanStepper
	max   int
	codes []int32
}

// New returns the codec of p, a Transformer prior; path is its file (its
// base name goes into the files it writes, for error messages). It copies
// p's weights.
func New(p prior.Prior, path string) (*Codec, error) {
	t, ok := p.(*prior.Transformer)
	if !ok {
		return nil, fmt.Errorf("prior coding supports Transformer priors; %s is a %q prior", path, p.Info().Arch)
	}
	f, err := t.Freeze(nn.NumericsDeterministic)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	c := &Codec{f: f, info: f.Model().Info(), fp: fingerprint(f.Model()), check: selfCheck()}
	copy(c.id.Fingerprint[:], c.fp[:16])
	c.id.Numerics = NumericsVersion
	name := filepath.Base(path)
	for len(name) > 24 {
		name = name[:len(name)-1]
	}
	c.id.Name = name
	return c, nil
}

var selfCheck = sync.OnceValue(func() error {
	if err := kernels.DetSelfCheck(); err != nil {
		return fmt.Errorf("this machine cannot reproduce prior-coding numerics version %d: %w", NumericsVersion, err)
	}
	return nil
})

// Prior identifies the prior and numerics for code file headers.
func (c *Codec) Prior() datasets.CodePrior { return c.id }

// Fingerprint returns the prior's full fingerprint (SHA-256 of its
// architecture and weights).
func (c *Codec) Fingerprint() [32]byte { return c.fp }

// checkHeader reports whether h's grids are the prior's.
func (c *Codec) checkHeader(h *datasets.CodeHeader) error {
	info := c.info
	if h.K != info.K || h.GridH != info.H || h.GridW != info.W {
		return fmt.Errorf("grids of %dx%d codes in [0, %d), but the prior models %dx%d grids of K=%d", h.GridH, h.GridW, h.K, info.H, info.W, info.K)
	}
	return nil
}

// conditioned reports whether grids condition on the file's labels.
func (c *Codec) conditioned(h *datasets.CodeHeader) bool {
	return c.info.Classes > 0 && h.Labels && h.NumClasses == c.info.Classes
}

// classes fills cls (n) with each grid's conditioning class (left alone
// for an unconditional prior, which takes none).
func (c *Codec) classes(cls []int32, h *datasets.CodeHeader, labels []int32, n int) {
	for i := range n {
		switch {
		case c.info.Classes == 0:
		case c.conditioned(h):
			cls[i] = labels[i]
		default:
			cls[i] = int32(c.info.Classes) // the null class
		}
	}
}

// stepClasses is cls as a stepper takes it: nil for an unconditional
// prior.
func (c *Codec) stepClasses(cls []int32) []int32 {
	if c.info.Classes == 0 {
		return nil
	}
	return cls
}

// passGrids is the number of grids a full pass takes at once: enough rows
// (32*49) for efficient products, few enough that the activations stay in
// the last-level cache.
const passGrids = 32

func (c *Codec) newStepper(n int) *stepper {
	return &stepper{s: c.f.NewStepper(n), max: n, codes: make([]int32, n*c.info.Positions())}
}

func (c *Codec) pass() *stepper {
	if p, _ := c.passes.Get().(*stepper); p != nil {
		return p
	}
	return c.newStepper(passGrids)
}

func (c *Codec) stepper(n int) *stepper {
	if s, _ := c.pool.Get().(*stepper); s != nil && s.max >= n {
		return s
	}
	return c.newStepper(n)
}

// labelModel is the adaptive model of a chunk's labels.
type labelModel struct {
	bits   uint
	counts []uint32
	freq   []uint32
	cum    []uint32
	adapt  bool
}

func newLabelModel(classes int) *labelModel {
	m := &labelModel{bits: entropy.Bits(classes), counts: make([]uint32, classes),
		freq: make([]uint32, classes), cum: make([]uint32, classes+1), adapt: classes <= adaptiveLabelsMax}
	for i := range m.counts {
		m.counts[i] = 1
	}
	m.update()
	return m
}

func (m *labelModel) update() {
	entropy.QuantizeCounts(m.freq, m.counts, m.bits)
	entropy.Cumulate(m.cum, m.freq)
}

func (m *labelModel) saw(l int32) {
	if m.adapt {
		m.counts[l]++
		m.update()
	}
}

// dataCRC is the CRC-32C of n grids' indices and labels as the chunk
// format defines it.
func dataCRC(codes []uint16, labels []int32, n, cells int, withLabels bool) uint32 {
	b := make([]byte, 0, 2*n*(cells+1))
	for _, v := range codes[:n*cells] {
		b = binary.LittleEndian.AppendUint16(b, v)
	}
	if withLabels {
		for _, l := range labels[:n] {
			b = binary.LittleEndian.AppendUint16(b, uint16(l))
		}
	}
	return crc32.Checksum(b, crcTable)
}

// EncodeChunk appends the coded chunk of n images to dst (see the package
// comment for the format).
func (c *Codec) EncodeChunk(dst []byte, h *datasets.CodeHeader, codes []uint16, labels []int32, n int) ([]byte, error) {
	if c.check != nil {
		return dst, c.check
	}
	if err := c.checkHeader(h); err != nil {
		return dst, err
	}
	cells, k := h.Cells(), h.K
	if n < 1 || len(codes) < n*cells || (h.Labels && len(labels) < n) {
		return dst, fmt.Errorf("coding: %d images with %d codes and %d labels", n, len(codes), len(labels))
	}
	for j, v := range codes[:n*cells] {
		if int(v) >= k {
			return dst, fmt.Errorf("image %d cell %d: code %d >= K=%d", j/cells, j%cells, v, k)
		}
	}
	var enc entropy.Encoder
	if h.Labels {
		lm := newLabelModel(h.NumClasses)
		for i, l := range labels[:n] {
			if l < 0 || int(l) >= h.NumClasses {
				return dst, fmt.Errorf("image %d: label %d outside [0, %d)", i, l, h.NumClasses)
			}
			enc.Put(lm.cum[l], lm.freq[l], lm.bits)
			lm.saw(l)
		}
	}
	cls := make([]int32, n)
	c.classes(cls, h, labels, n)
	// The grids' symbols, position-major, from spans of whole grids, a
	// group of grids at a time (bitwise the decoder's stepped logits).
	syms := enc.Alloc(n * cells)
	p := c.pass()
	defer c.passes.Put(p)
	bits := entropy.Bits(k)
	freq := make([]uint32, k)
	for i0 := 0; i0 < n; i0 += p.max {
		g := min(p.max, n-i0)
		for j, v := range codes[i0*cells : (i0+g)*cells] {
			p.codes[j] = int32(v)
		}
		p.s.Reset(g, c.stepClasses(cls[i0:i0+g]))
		logits := p.s.Span(p.codes, 0, cells).Data
		for i := range g {
			for pos := range cells {
				sym := codes[(i0+i)*cells+pos]
				entropy.Quantize(freq, logits[(i*cells+pos)*k:][:k], bits)
				var start uint32
				for _, f := range freq[:sym] {
					start += f
				}
				syms[pos*n+i0+i] = entropy.Symbol{Start: start, Freq: freq[sym], Bits: uint8(bits)}
			}
		}
	}
	dst = binary.LittleEndian.AppendUint16(dst, NumericsVersion)
	dst = binary.LittleEndian.AppendUint32(dst, dataCRC(codes, labels, n, cells, h.Labels))
	return enc.Finish(dst), nil
}

// Chunk is one coded chunk to decode and the place for its n images.
type Chunk struct {
	Src    []byte
	N      int
	Codes  []uint16 // N grids
	Labels []int32  // N labels, or nil when the file has none
}

// DecodeChunk decodes one chunk; it is DecodeChunks with one job.
func (c *Codec) DecodeChunk(src []byte, h *datasets.CodeHeader, n int, codes []uint16, labels []int32) error {
	return c.DecodeChunks(h, []Chunk{{Src: src, N: n, Codes: codes, Labels: labels}})
}

// chunkState is one chunk's decoder during DecodeChunks.
type chunkState struct {
	dec  entropy.Decoder
	crc  uint32
	err  error
	base int // first image's row in the batch
}

// DecodeChunks decodes several chunks in one batch: their images advance
// through the prior together, one step per position. The result is the
// same whichever chunks share a batch. It never panics on bad input and
// never stores an index >= K or a label >= NumClasses; the first chunk that
// fails to decode is reported, naming it.
func (c *Codec) DecodeChunks(h *datasets.CodeHeader, jobs []Chunk) error {
	if c.check != nil {
		return c.check
	}
	if err := c.checkHeader(h); err != nil {
		return err
	}
	cells, k := h.Cells(), h.K
	total := 0
	st := make([]chunkState, len(jobs))
	for j, job := range jobs {
		if job.N < 1 || len(job.Codes) < job.N*cells || (h.Labels && len(job.Labels) < job.N) {
			return fmt.Errorf("coding: chunk %d: %d images with room for %d codes and %d labels", j, job.N, len(job.Codes), len(job.Labels))
		}
		st[j].base = total
		total += job.N
		s := job.Src
		switch {
		case len(s) < chunkHeaderSize:
			st[j].err = fmt.Errorf("%w: %d bytes, shorter than the chunk header", ErrMismatch, len(s))
		case binary.LittleEndian.Uint16(s) != NumericsVersion:
			st[j].err = fmt.Errorf("chunk coded with numerics version %d; this build decodes version %d", binary.LittleEndian.Uint16(s), NumericsVersion)
		default:
			st[j].crc = binary.LittleEndian.Uint32(s[2:])
			st[j].err = st[j].dec.Init(s[chunkHeaderSize:])
		}
		if st[j].err != nil {
			return fmt.Errorf("chunk %d: %w", j, st[j].err)
		}
	}
	// Labels first, chunk by chunk.
	cls := make([]int32, total)
	if h.Labels {
		for j, job := range jobs {
			lm := newLabelModel(h.NumClasses)
			d := &st[j].dec
			for i := range job.N {
				l := entropy.Find(lm.cum, d.Peek(lm.bits))
				d.Advance(lm.cum[l], lm.freq[l], lm.bits)
				job.Labels[i] = int32(l)
				lm.saw(int32(l))
			}
		}
	}
	for j, job := range jobs {
		c.classes(cls[st[j].base:], h, job.Labels, job.N)
	}
	s := c.stepper(total)
	defer c.pool.Put(s)
	s.s.Reset(total, c.stepClasses(cls))
	bits := entropy.Bits(k)
	freq := make([]uint32, k)
	cum := make([]uint32, k+1)
	for pos := range cells {
		logits := s.s.Next(s.codes, pos).Data
		for j, job := range jobs {
			d := &st[j].dec
			for i := range job.N {
				r := st[j].base + i
				entropy.Quantize(freq, logits[r*k:(r+1)*k], bits)
				entropy.Cumulate(cum, freq)
				sym := entropy.Find(cum, d.Peek(bits))
				d.Advance(cum[sym], freq[sym], bits)
				job.Codes[i*cells+pos] = uint16(sym)
				s.codes[r*cells+pos] = int32(sym)
			}
		}
	}
	for j, job := range jobs {
		if err := st[j].dec.Close(); err != nil {
			return fmt.Errorf("chunk %d: %w: %v", j, ErrMismatch, err)
		}
		if got := dataCRC(job.Codes, job.Labels, job.N, cells, h.Labels); got != st[j].crc {
			return fmt.Errorf("chunk %d: %w: CRC of the decoded data %08x, stored %08x (a damaged chunk, or arithmetic that differs from the writer's)", j, ErrMismatch, got, st[j].crc)
		}
	}
	return nil
}
