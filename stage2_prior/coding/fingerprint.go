package coding

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math"

	prior "github.com/vqgen/vqgen/stage2_prior"
)

// fingerprint is the SHA-256 of what the probabilities depend on: the
// architecture and every parameter's name, shape and bits, in Params order.
func fingerprint(m *prior.Transformer) [32]byte {
	info, cfg := m.Info(), m.Config()
	h := sha256.New()
	fmt.Fprintf(h, "vqgen prior\narch=%s k=%d grid=%dx%d classes=%d layers=%d dim=%d heads=%d mlp_mult=%d\n",
		info.Arch, info.K, info.H, info.W, info.Classes, cfg.Layers, cfg.Dim, cfg.Heads, cfg.MLPMult)
	var b []byte
	for _, p := range m.Params() {
		fmt.Fprintf(h, "%s %v\n", p.Name, p.Data.Shape)
		b = b[:0]
		for _, v := range p.Data.Data {
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
		}
		h.Write(b)
	}
	var fp [32]byte
	h.Sum(fp[:0])
	return fp
}
