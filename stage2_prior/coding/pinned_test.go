package coding

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash/fnv"
	"math"
	"slices"
	"testing"

	"github.com/vqgen/vqgen/configs"
	"github.com/vqgen/vqgen/nn"
	prior "github.com/vqgen/vqgen/stage2_prior"
)

// Pinned: what a fixed prior codes fixed grids into, and the prior's
// fingerprint. Files written by earlier builds must keep decoding, so a
// change to either breaks every prior-coded file users hold: a change of
// the arithmetic (the model's order of operations, kernels, quantizer)
// must bump NumericsVersion (readers then refuse old files clearly), and
// a change of the fingerprint (the architecture line, parameter names,
// shapes or order) makes readers ask for "another" prior. Both values are
// the same on every kernel path (CI runs this under -tags noasm too).
const (
	pinnedLogitsSHA256 = "32d3d39700ebe16db928f316e3848268f4db40953538ba05f667f75adf512c96"
	pinnedChunkSHA256  = "1bea474e1654486107df4fe35cdee3364dc427f2a65d9b24aea6da6b2594485e"
	pinnedFingerprint  = "2a319dd58169fe0e14b15953c2d8849d39b31efb0e3a1aa92cba9d3ebb6424b3"
)

func TestPinnedCoding(t *testing.T) {
	m, err := prior.NewTransformer(configs.Transformer{Layers: 2, Dim: 32, Heads: 2, MLPMult: 2},
		prior.Info{K: 40, H: 3, W: 4, Classes: 3}, nn.NewRNG(1))
	if err != nil {
		t.Fatal(err)
	}
	// Weights by parameter name, so that the pin does not depend on the
	// order in which the model lists its parameters.
	for _, p := range m.Params() {
		h := fnv.New64a()
		h.Write([]byte(p.Name))
		nn.NewRNG(h.Sum64()).Normal(p.Data.Data, 0, 0.3)
	}
	c := newCodec(t, m)
	n, cells := 50, 12
	rng := nn.NewRNG(7)
	codes, labels := make([]uint16, n*cells), make([]int32, n)
	for i := range codes {
		codes[i] = uint16(rng.Intn(40))
	}
	for i := range labels {
		labels[i] = int32(rng.Intn(3))
	}
	h := header(m, true)
	b, err := c.EncodeChunk(nil, h, codes, labels, n)
	if err != nil {
		t.Fatal(err)
	}
	// The logits themselves, bit for bit: a change too small to move a
	// quantized frequency here could move one in other data.
	logits := c.m.newPass(n).run(codes, labels, n)
	lb := make([]byte, 0, 4*len(logits))
	for _, v := range logits {
		lb = binary.LittleEndian.AppendUint32(lb, math.Float32bits(v))
	}
	lsum := sha256.Sum256(lb)
	if got := hex.EncodeToString(lsum[:]); got != pinnedLogitsSHA256 {
		t.Errorf("logits: SHA-256 %s, pinned %s: the numerics changed; bump NumericsVersion and the pins", got, pinnedLogitsSHA256)
	}
	sum := sha256.Sum256(b)
	fp := c.Fingerprint()
	if got := hex.EncodeToString(sum[:]); got != pinnedChunkSHA256 {
		t.Errorf("coded chunk: SHA-256 %s, pinned %s (%d bytes): the numerics changed; bump NumericsVersion and the pin", got, pinnedChunkSHA256, len(b))
	}
	if got := hex.EncodeToString(fp[:]); got != pinnedFingerprint {
		t.Errorf("prior fingerprint %s, pinned %s: files coded with this prior would no longer find it", got, pinnedFingerprint)
	}
	gc, gl := make([]uint16, n*cells), make([]int32, n)
	if err := c.DecodeChunk(b, h, n, gc, gl); err != nil || !slices.Equal(gc, codes) || !slices.Equal(gl, labels) {
		t.Fatalf("decode: %v", err)
	}
}
