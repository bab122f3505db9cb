package coding

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/vqgen/vqgen/configs"
	"github.com/vqgen/vqgen/datasets"
	"github.com/vqgen/vqgen/internal/entropy"
	"github.com/vqgen/vqgen/kernels"
	"github.com/vqgen/vqgen/nn"
	prior "github.com/vqgen/vqgen/stage2_prior"
)

// testPrior is a small Transformer with weights large enough to give
// peaked, position-dependent distributions (GPT-2's initialisation gives
// nearly uniform ones).
func testPrior(t testing.TB, k, h, w, classes int, seed uint64) *prior.Transformer {
	t.Helper()
	m, err := prior.NewTransformer(configs.Transformer{Layers: 2, Dim: 32, Heads: 2, MLPMult: 2},
		prior.Info{K: k, H: h, W: w, Classes: classes}, nn.NewRNG(seed))
	if err != nil {
		t.Fatal(err)
	}
	rng := nn.NewRNG(seed + 100)
	for _, p := range m.Params() {
		rng.Normal(p.Data.Data, 0, 0.3)
	}
	return m
}

// sampleGrids draws n grids from m itself (so that they are likely under
// it, as real codes are under a trained prior), with labels when classes
// > 0.
func sampleGrids(t testing.TB, m *prior.Transformer, n int, seed uint64) ([]uint16, []int32) {
	t.Helper()
	info := m.Info()
	rng := nn.NewRNG(seed)
	var labels []int32
	var cls []int32
	if info.Classes > 0 {
		labels = make([]int32, n)
		for i := range labels {
			labels[i] = int32(rng.Intn(info.Classes))
		}
		cls = labels
	}
	st := m.NewStepper(n)
	st.Reset(n, cls)
	cells := info.Positions()
	codes := make([]int32, n*cells)
	for pos := range cells {
		logits := st.Next(codes, pos)
		for i := range n {
			row := logits.Data[i*info.K : (i+1)*info.K]
			mx := float32(math.Inf(-1))
			for _, v := range row {
				mx = max(mx, v)
			}
			var z float64
			for _, v := range row {
				z += math.Exp(float64(v - mx))
			}
			u := rng.Float64() * z
			sym := info.K - 1
			for j, v := range row {
				u -= math.Exp(float64(v - mx))
				if u < 0 {
					sym = j
					break
				}
			}
			codes[i*cells+pos] = int32(sym)
		}
	}
	out := make([]uint16, len(codes))
	for i, v := range codes {
		out[i] = uint16(v)
	}
	return out, labels
}

func header(m *prior.Transformer, labels bool) *datasets.CodeHeader {
	info := m.Info()
	h := &datasets.CodeHeader{GridH: info.H, GridW: info.W, K: info.K, ImageH: 4, ImageW: 4, Channels: 1, Layout: datasets.CodeLayoutPrior}
	if labels {
		h.Labels, h.NumClasses = true, info.Classes
	}
	return h
}

func newCodec(t testing.TB, m *prior.Transformer) *Codec {
	t.Helper()
	c, err := New(m, "/runs/test/prior.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// frozenLogits returns the deterministic logits [n*cells, K] (grid-major)
// of n grids under f: one span of whole grids, or (stepped) one position
// at a time as the decoder runs them. classes is nil for an
// unconditional prior.
func frozenLogits(f *prior.Frozen, codes []uint16, classes []int32, n int, stepped bool) []float32 {
	info := f.Model().Info()
	cells, k := info.Positions(), info.K
	c32 := make([]int32, n*cells)
	for i, v := range codes[:n*cells] {
		c32[i] = int32(v)
	}
	s := f.NewStepper(n)
	s.Reset(n, classes)
	if !stepped {
		return append([]float32(nil), s.Span(c32, 0, cells).Data...)
	}
	out := make([]float32, n*cells*k)
	for pos := range cells {
		got := s.Next(c32, pos).Data
		for i := range n {
			copy(out[(i*cells+pos)*k:(i*cells+pos+1)*k], got[i*k:(i+1)*k])
		}
	}
	return out
}

func freeze(t testing.TB, m *prior.Transformer) *prior.Frozen {
	t.Helper()
	f, err := m.Freeze(nn.NumericsDeterministic)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestFrozenMatchesForward: the deterministic numerics compute the same
// model as training's Forward (to rounding, half-precision keys and
// values included), for conditional and unconditional priors.
func TestFrozenMatchesForward(t *testing.T) {
	for _, classes := range []int{0, 3} {
		m := testPrior(t, 20, 3, 4, classes, 1)
		codes, labels := sampleGrids(t, m, 5, 2)
		codes32 := make([]int32, len(codes))
		for i, v := range codes {
			codes32[i] = int32(v)
		}
		want := m.Forward(codes32, labels, 5)
		got := frozenLogits(freeze(t, m), codes, labels, 5, true)
		for i, w := range want.Data {
			// Keys and values are cached in half precision, so the logits
			// differ from float32's in the fourth digit; a model that
			// computed something else would differ in the first.
			if g := got[i]; math.Abs(float64(g-w)) > 5e-3*math.Max(1, math.Abs(float64(w))) {
				t.Fatalf("classes %d, row %d logit %d: %g, want %g", classes, i/20, i%20, g, w)
			}
		}
	}
}

func roundTrip(t *testing.T, c *Codec, h *datasets.CodeHeader, codes []uint16, labels []int32, n int) []byte {
	t.Helper()
	b, err := c.EncodeChunk(nil, h, codes, labels, n)
	if err != nil {
		t.Fatal(err)
	}
	got := make([]uint16, n*h.Cells())
	var gotL []int32
	if h.Labels {
		gotL = make([]int32, n)
	}
	if err := c.DecodeChunk(b, h, n, got, gotL); err != nil {
		t.Fatalf("decode: %v", err)
	}
	if !slices.Equal(got, codes[:n*h.Cells()]) || (h.Labels && !slices.Equal(gotL, labels[:n])) {
		t.Fatal("round trip changed the data")
	}
	return b
}

func TestRoundTrip(t *testing.T) {
	for _, c := range []struct {
		name          string
		k, h, w, cls  int
		n             int
		labels        bool
		uniformGrids  bool
		extremeLogits bool
	}{
		{name: "conditional with labels", k: 20, h: 3, w: 4, cls: 3, n: 17, labels: true},
		{name: "conditional without labels (null class)", k: 20, h: 3, w: 4, cls: 3, n: 9},
		{name: "unconditional", k: 20, h: 3, w: 4, n: 9},
		{name: "unconditional prior, labelled file", k: 20, h: 2, w: 2, n: 9, labels: true},
		{name: "one image", k: 20, h: 3, w: 4, cls: 3, n: 1, labels: true},
		{name: "K=2", k: 2, h: 4, w: 4, n: 30},
		{name: "K=65536", k: 65536, h: 2, w: 2, n: 3, uniformGrids: true},
		{name: "codes the prior finds unlikely", k: 50, h: 3, w: 3, cls: 2, n: 8, labels: true, uniformGrids: true},
		{name: "extreme logits", k: 30, h: 3, w: 3, n: 8, extremeLogits: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := testPrior(t, c.k, c.h, c.w, c.cls, 3)
			if c.extremeLogits {
				for _, p := range m.Params() {
					if p.Name == "lm_head.weight" {
						for i := range p.Data.Data {
							p.Data.Data[i] *= 1000
						}
					}
				}
			}
			codec := newCodec(t, m)
			var codes []uint16
			var labels []int32
			if c.uniformGrids {
				rng := nn.NewRNG(4)
				codes = make([]uint16, c.n*c.h*c.w)
				for i := range codes {
					codes[i] = uint16(rng.Intn(c.k))
				}
			} else {
				codes, labels = sampleGrids(t, m, c.n, 5)
			}
			h := header(m, c.labels)
			if c.labels {
				if c.cls == 0 {
					h.NumClasses = 7
				}
				labels = make([]int32, c.n)
				for i := range labels {
					labels[i] = int32(i % h.NumClasses)
				}
			}
			roundTrip(t, codec, h, codes, labels, c.n)
		})
	}
}

// TestCodedSize: a chunk costs the information content of its symbols
// under the quantized model, to within 1% plus a fixed overhead (the
// chunk header and the rANS state and last word).
func TestCodedSize(t *testing.T) {
	m := testPrior(t, 64, 4, 4, 0, 6)
	codec := newCodec(t, m)
	codes, _ := sampleGrids(t, m, 200, 7)
	h := header(m, false)
	b := roundTrip(t, codec, h, codes, nil, 200)
	// Information content, from the same deterministic logits.
	logits := frozenLogits(codec.f, codes, nil, 200, true)
	freq := make([]uint32, 64)
	bits := entropy.Bits(64)
	var info float64
	for i := range 200 {
		for pos := range 16 {
			sym := codes[i*16+pos]
			entropy.Quantize(freq, logits[(i*16+pos)*64:][:64], bits)
			info += float64(bits) - math.Log2(float64(freq[sym]))
		}
	}
	overhead := float64(8 * (chunkHeaderSize + entropy.StateBytes + 4))
	t.Logf("200 grids: %.0f bits of information, %d bytes coded (%.2f bits/grid over)", info, len(b), (float64(8*len(b))-info)/200)
	if got := float64(8 * len(b)); got > 1.01*info+overhead {
		t.Fatalf("%d bits coded, over the bound %.0f", 8*len(b), 1.01*info+overhead)
	}
}

// TestDeterminismAcrossPathsAndBatches: the bytes a chunk encodes to, and
// what it decodes to, do not depend on the kernel path, the GOMAXPROCS, or
// which chunks decode together.
func TestDeterminismAcrossPathsAndBatches(t *testing.T) {
	m := testPrior(t, 40, 4, 4, 3, 8)
	codec := newCodec(t, m)
	h := header(m, true)
	var chunks [][]byte
	var all [][]uint16
	var allL [][]int32
	for i, n := range []int{5, 1, 12} {
		codes, labels := sampleGrids(t, m, n, uint64(10+i))
		b, err := codec.EncodeChunk(nil, h, codes, labels, n)
		if err != nil {
			t.Fatal(err)
		}
		chunks = append(chunks, b)
		all = append(all, codes)
		allL = append(allL, labels)
	}
	sizes := []int{5, 1, 12}
	for _, path := range kernels.DetPaths() {
		restore := kernels.SetDetPath(path)
		// Same bytes on every path.
		for i, n := range sizes {
			b, err := codec.EncodeChunk(nil, h, all[i], allL[i], n)
			if err != nil || !bytes.Equal(b, chunks[i]) {
				t.Fatalf("path %s: chunk %d encodes differently (%v)", path, i, err)
			}
		}
		// Decoded in every grouping.
		for _, group := range [][]int{{0}, {1}, {2}, {0, 1, 2}, {2, 0}} {
			var jobs []Chunk
			for _, i := range group {
				jobs = append(jobs, Chunk{Src: chunks[i], N: sizes[i], Codes: make([]uint16, sizes[i]*16), Labels: make([]int32, sizes[i])})
			}
			if err := codec.DecodeChunks(h, jobs); err != nil {
				t.Fatalf("path %s, group %v: %v", path, group, err)
			}
			for j, i := range group {
				if !slices.Equal(jobs[j].Codes, all[i]) || !slices.Equal(jobs[j].Labels, allL[i]) {
					t.Fatalf("path %s, group %v: chunk %d decoded wrong", path, group, i)
				}
			}
		}
		restore()
	}
}

func TestDecodeErrors(t *testing.T) {
	m := testPrior(t, 30, 3, 3, 2, 9)
	codec := newCodec(t, m)
	h := header(m, true)
	codes, labels := sampleGrids(t, m, 10, 11)
	b := roundTrip(t, codec, h, codes, labels, 10)
	dec := func(src []byte, c *Codec) error {
		return c.DecodeChunk(src, h, 10, make([]uint16, 90), make([]int32, 10))
	}
	// Another version.
	v2 := slices.Clone(b)
	v2[0] = 2
	if err := dec(v2, codec); err == nil || !strings.Contains(err.Error(), "numerics version 2") {
		t.Errorf("version 2: %v", err)
	}
	// Every single-byte change is caught (the container's CRC would catch
	// it first; this is the layer beneath it).
	for i := range b {
		bad := slices.Clone(b)
		bad[i] ^= 0x41
		if err := dec(bad, codec); err == nil {
			t.Fatalf("changing byte %d went unnoticed", i)
		}
	}
	// Truncated, and another prior's weights.
	if err := dec(b[:len(b)-4], codec); !errors.Is(err, ErrMismatch) && !errors.Is(err, entropy.ErrCorrupt) {
		t.Errorf("truncated: %v", err)
	}
	other := newCodec(t, testPrior(t, 30, 3, 3, 2, 10))
	if err := dec(b, other); !errors.Is(err, ErrMismatch) {
		t.Errorf("decoded with another prior: %v", err)
	}
	// Headers that do not fit the prior.
	bad := *h
	bad.K = 31
	if err := codec.DecodeChunk(b, &bad, 10, make([]uint16, 90), make([]int32, 10)); err == nil {
		t.Error("K mismatch accepted")
	}
	if _, err := codec.EncodeChunk(nil, h, codes, []int32{0, 1, 2, 0, 0, 0, 0, 0, 0, 0}, 10); err == nil {
		t.Error("label 2 of a 2-class file accepted")
	}
}

// TestCodeFileRoundTrip writes a prior-coded code file through datasets
// and reads it back.
func TestCodeFileRoundTrip(t *testing.T) {
	m := testPrior(t, 25, 3, 3, 4, 12)
	codec := newCodec(t, m)
	codes, labels := sampleGrids(t, m, 45, 13)
	hdr := *header(m, true)
	hdr.ChunkImages, hdr.Count = 8, 45
	var buf bytes.Buffer
	cw, err := datasets.NewCodeWriterCodec(&plain{&buf}, hdr, codec)
	writeAll(t, cw, err, codes, labels)
	f, err := datasets.NewCodeReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()), "test.vqc")
	if err != nil {
		t.Fatal(err)
	}
	if f.Header().Prior.Name != "prior.safetensors" || f.Header().Prior.Numerics != NumericsVersion {
		t.Fatalf("header prior %+v", f.Header().Prior)
	}
	if _, _, err := f.LoadAll(); !errors.Is(err, datasets.ErrCodeNeedsPrior) {
		t.Fatalf("LoadAll without the prior: %v", err)
	}
	if err := f.SetChunkCodec(codec); err != nil {
		t.Fatal(err)
	}
	got, gotL, err := f.LoadAll()
	if err != nil || !slices.Equal(got, codes) || !slices.Equal(gotL, labels) {
		t.Fatalf("LoadAll: %v", err)
	}
	t.Logf("45 grids of 3x3, K=25: %d bytes all in", buf.Len())
}

// writeAll writes codes and labels through cw (from a constructor that
// returned err) and closes it.
func writeAll(t *testing.T, cw *datasets.CodeWriter, err error, codes []uint16, labels []int32) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	if err := cw.WriteBatch(codes, labels); err != nil {
		t.Fatal(err)
	}
	if err := cw.Close(); err != nil {
		t.Fatal(err)
	}
}

type plain struct{ b *bytes.Buffer }

func (p *plain) Write(b []byte) (int, error) { return p.b.Write(b) }

// FuzzDecodeChunk: arbitrary chunk bytes never panic the decoder, never
// yield an index >= K or a label >= classes, and anything accepted
// re-encodes to the same bytes.
func FuzzDecodeChunk(f *testing.F) {
	m := testPrior(f, 12, 2, 3, 3, 14)
	codec := newCodec(f, m)
	for _, n := range []int{1, 4} {
		for _, labels := range []bool{false, true} {
			h := header(m, labels)
			codes, l := sampleGrids(f, m, n, uint64(n))
			if !labels {
				l = nil
			}
			b, err := codec.EncodeChunk(nil, h, codes, l, n)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b, uint8(n), labels)
		}
	}
	f.Add([]byte{1, 0, 0, 0, 0, 0}, uint8(1), false)
	f.Fuzz(func(t *testing.T, data []byte, n8 uint8, labels bool) {
		n := int(n8%6) + 1
		h := header(m, labels)
		codes := make([]uint16, n*6)
		var l []int32
		if labels {
			l = make([]int32, n)
		}
		err := codec.DecodeChunk(data, h, n, codes, l)
		for _, v := range codes {
			if v >= 12 {
				t.Fatalf("decoded index %d >= K=12 (err %v)", v, err)
			}
		}
		for _, v := range l {
			if v < 0 || v >= 3 {
				t.Fatalf("decoded label %d outside [0, 3) (err %v)", v, err)
			}
		}
		if err != nil {
			return
		}
		again, err := codec.EncodeChunk(nil, h, codes, l, n)
		if err != nil || !bytes.Equal(again, data) {
			t.Fatalf("accepted chunk re-encodes to %x (%v), not %x", again, err, data)
		}
	})
}

func BenchmarkEncodeChunk(b *testing.B) {
	s, err := NewBenchSetup(512, 512)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := s.Encode(1); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(512*b.N)/b.Elapsed().Seconds(), "img/s")
}

func BenchmarkDecodeChunk(b *testing.B) {
	s, err := NewBenchSetup(512, 512)
	if err != nil {
		b.Fatal(err)
	}
	chunks, err := s.Encode(1)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if err := s.Decode(chunks, 1); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(512*b.N)/b.Elapsed().Seconds(), "img/s")
}

// TestPassEqualsStepper: the encoder's span of whole grids and the
// decoder's stepper give the same logits bit for bit, on every kernel
// path.
func TestPassEqualsStepper(t *testing.T) {
	m := testPrior(t, 33, 3, 5, 2, 15)
	f := freeze(t, m)
	codes, labels := sampleGrids(t, m, 7, 16)
	for _, path := range kernels.DetPaths() {
		restore := kernels.SetDetPath(path)
		full := frozenLogits(f, codes, labels, 7, false)
		got := frozenLogits(f, codes, labels, 7, true)
		for i := range full {
			if math.Float32bits(got[i]) != math.Float32bits(full[i]) {
				t.Fatalf("path %s row %d logit %d: stepper %g, pass %g", path, i/33, i%33, got[i], full[i])
			}
		}
		restore()
	}
}

// TestChunkPinned pins the bytes of a chunk coded with a fixed model:
// everything the numerics version names (the kernels, the Transformer's
// order of operations, the quantizer, the label model, the stream
// layout). If it fails, files written before no longer decode: bump
// NumericsVersion, then update the digest. Weights and codes are drawn
// from integers only, so they are the same on every platform.
func TestChunkPinned(t *testing.T) {
	m, err := prior.NewTransformer(configs.Transformer{Layers: 2, Dim: 32, Heads: 2, MLPMult: 2},
		prior.Info{K: 40, H: 3, W: 4, Classes: 3}, nn.NewRNG(1))
	if err != nil {
		t.Fatal(err)
	}
	u := rand.New(rand.NewPCG(41, 42))
	for _, p := range m.Params() {
		for i := range p.Data.Data {
			p.Data.Data[i] = float32(int32(u.Uint32())) / (1 << 31) * 0.6
		}
	}
	codec := newCodec(t, m)
	const n = 9
	codes, labels := make([]uint16, n*12), make([]int32, n)
	for i := range codes {
		codes[i] = uint16(u.IntN(40))
	}
	for i := range labels {
		labels[i] = int32(u.IntN(3))
	}
	b := roundTrip(t, codec, header(m, true), codes, labels, n)
	sum := sha256.Sum256(b)
	if got := hex.EncodeToString(sum[:]); got != wantChunkDigest {
		t.Fatalf("chunk digest %s (%d bytes), pinned %s: the numerics changed (path %s)", got, len(b), wantChunkDigest, kernels.DetPath())
	}
}

const wantChunkDigest = "7dd349f9bf92658e890e9625d8fcfc86af26f9cb28e4bd29db0645f0e90cf2cf"
