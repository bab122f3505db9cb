package vqvae

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"strconv"

	"github.com/vqgen/vqgen/configs"
	"github.com/vqgen/vqgen/datasets"
	"github.com/vqgen/vqgen/nn"
)

// Fingerprint identifies the codebook and decoder: the SHA-256 of their
// names, shapes and float32 bits. Code files and priors record it, so codes
// are never decoded by a model that did not make them.
func (m *Model) Fingerprint() [32]byte {
	h := sha256.New()
	var buf [4]byte
	for _, p := range append([]*nn.Param{m.VQ.Codebook}, m.Dec.Params()...) {
		fmt.Fprintf(h, "%s%v;", p.Name, p.Data.Shape)
		for _, v := range p.Data.Data {
			binary.LittleEndian.PutUint32(buf[:], math.Float32bits(v))
			h.Write(buf[:])
		}
	}
	var f [32]byte
	copy(f[:], h.Sum(nil))
	return f
}

// FingerprintHex is Fingerprint as lowercase hex.
func (m *Model) FingerprintHex() string {
	f := m.Fingerprint()
	return hex.EncodeToString(f[:])
}

// shift maps pixels in [0, 1] to the networks' [-0.5, 0.5] in place.
func shift(x *nn.Tensor) {
	for i := range x.Data {
		x.Data[i] -= 0.5
	}
}

// Encode maps images ([N, C, H, W], pixels in [0, 1]; modified in place) to
// their code grids, written into codes (N*h*w, raster order per image).
func (m *Model) Encode(x *nn.Tensor, codes []int32) {
	shift(x)
	z := m.Enc.Forward(x)
	m.VQ.toRows(z)
	m.VQ.Nearest(m.VQ.flat, codes)
}

// Decode maps code grids (n*h*w indices) to images in [0, 1] ([n, C, H, W],
// owned by the decoder).
func (m *Model) Decode(codes []int32, n int) (*nn.Tensor, error) {
	gh, gw := m.GridSize()
	if len(codes) != n*gh*gw {
		return nil, fmt.Errorf("vqvae: %d codes for %d grids of %dx%d", len(codes), n, gh, gw)
	}
	d := m.Cfg.D
	q := m.VQ.out
	q = nn.Ensure(q, n, d, gh, gw)
	m.VQ.out = q
	e := m.VQ.Codebook.Data.Data
	hw := gh * gw
	for b := 0; b < n; b++ {
		for p := 0; p < hw; p++ {
			c := int(codes[b*hw+p])
			if c < 0 || c >= m.Cfg.K {
				return nil, fmt.Errorf("vqvae: code %d at grid %d cell %d is outside [0, %d)", c, b, p, m.Cfg.K)
			}
			for j := 0; j < d; j++ {
				q.Data[(b*d+j)*hw+p] = e[c*d+j]
			}
		}
	}
	out := m.Dec.Forward(q)
	for i, v := range out.Data {
		out.Data[i] = min(max(v+0.5, 0), 1)
	}
	return out, nil
}

// capBatch bounds an inference batch so that its activations take no more
// memory than 500 MNIST images do: 95 images at 64x64, 382 at 32x32. The
// layers keep buffers sized for the largest batch they have seen, so an
// uncapped batch of 500 photos at 64 px would hold gigabytes for the rest
// of the process.
func (m *Model) capBatch(batch int) int {
	s := m.Image.ImageSize
	return max(1, min(batch, 500*28*28/(s*s)))
}

// Eval is the quality of a model on a set of images.
type Eval struct {
	MSE        float64 `json:"mse"` // per pixel, pixels in [0, 1]
	PSNR       float64 `json:"psnr_db"`
	Perplexity float64 `json:"perplexity"`
	CodesUsed  int     `json:"codes_used"`
	K          int     `json:"k"`
	Images     int     `json:"images"`
}

// Evaluate reconstructs the first limit images of ds (all if limit <= 0) in
// batches and measures the reconstruction error and code usage. Like the
// PyTorch reference it scores the unclamped reconstruction.
func (m *Model) Evaluate(ds *datasets.Dataset, limit, batch int) Eval {
	batch = m.capBatch(batch)
	n := ds.N
	if limit > 0 && limit < n {
		n = limit
	}
	hist := make([]int64, m.Cfg.K)
	idx := make([]int, 0, batch)
	var x *nn.Tensor
	var sq float64
	for lo := 0; lo < n; lo += batch {
		hi := min(lo+batch, n)
		idx = idx[:0]
		for i := lo; i < hi; i++ {
			idx = append(idx, i)
		}
		x, _ = ds.Batch(idx, x, nil)
		shift(x)
		q, _ := m.VQ.Forward(m.Enc.Forward(x))
		for _, c := range m.VQ.Indices() {
			hist[c]++
		}
		xr := m.Dec.Forward(q)
		for i, v := range xr.Data {
			d := float64(v - x.Data[i])
			sq += d * d
		}
	}
	mse := sq / float64(n*ds.ImageLen())
	perp, used := Usage(hist)
	return Eval{MSE: mse, PSNR: 10 * math.Log10(1/mse), Perplexity: perp, CodesUsed: used, K: m.Cfg.K, Images: n}
}

// State returns every tensor a checkpoint of the model holds: parameters in
// PyTorch's order, then the quantizer's EMA buffers.
func (m *Model) State() []nn.NamedTensor {
	return append(nn.ParamTensors(m.Params()), m.VQ.Buffers()...)
}

// SetState copies a checkpoint's tensors into the model, checking names and
// shapes first.
func (m *Model) SetState(f *nn.SafetensorsFile) error {
	want := m.State()
	for _, nt := range want {
		t, err := f.Tensor(nt.Name)
		if err != nil {
			return err
		}
		if !t.SameShape(nt.Tensor) {
			return fmt.Errorf("%s: tensor %q has shape %v, the model wants %v", f.Path, nt.Name, t.Shape, nt.Tensor.Shape)
		}
	}
	for _, nt := range want {
		t, _ := f.Tensor(nt.Name)
		copy(nt.Tensor.Data, t.Data)
	}
	last, _ := f.Tensor("vq.last_used")
	m.VQ.SetLastUsed(last.Data)
	return nil
}

// Metadata keys of a VQ-VAE checkpoint.
const (
	MetaKind        = "vqgen.kind" // "vqvae"
	MetaConfig      = "vqgen.config"
	MetaStep        = "vqgen.step"
	MetaFingerprint = "vqgen.fingerprint"
)

// Save writes the model to path (atomically) with its config and step.
func (m *Model) Save(path string, cfg *configs.Config, step int, extra map[string]string) error {
	meta := map[string]string{
		MetaKind:        "vqvae",
		MetaStep:        strconv.Itoa(step),
		MetaFingerprint: m.FingerprintHex(),
	}
	if cfg != nil {
		s, err := cfg.Encode()
		if err != nil {
			return err
		}
		meta[MetaConfig] = string(s)
	}
	for k, v := range extra {
		meta[k] = v
	}
	return nn.SaveSafetensors(path, m.State(), meta)
}

// Load reads a VQ-VAE checkpoint written by Save: it rebuilds the model from
// the config stored in the file, loads its tensors and checks that the
// stored fingerprint matches them.
func Load(path string) (*Model, *configs.Config, error) {
	f, err := nn.LoadSafetensors(path)
	if err != nil {
		return nil, nil, err
	}
	return FromFile(f)
}

// FromFile is Load for an already parsed file.
func FromFile(f *nn.SafetensorsFile) (*Model, *configs.Config, error) {
	if k := f.Metadata[MetaKind]; k != "vqvae" {
		return nil, nil, fmt.Errorf("%s: not a VQ-VAE checkpoint (metadata %s = %q)", f.Path, MetaKind, k)
	}
	cfg, err := configs.Parse([]byte(f.Metadata[MetaConfig]), f.Path+" (stored config)")
	if err != nil {
		return nil, nil, err
	}
	m, err := New(cfg.VQVAE, cfg.Data, nn.NewRNG(0))
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", f.Path, err)
	}
	if err := m.SetState(f); err != nil {
		return nil, nil, err
	}
	if fp := f.Metadata[MetaFingerprint]; fp != "" && fp != m.FingerprintHex() {
		return nil, nil, fmt.Errorf("%s: stored fingerprint %s does not match its weights (%s): the file is corrupt", f.Path, fp, m.FingerprintHex())
	}
	return m, cfg, nil
}
