package app

import (
	"context"

	"github.com/vqgen/vqgen/sampler"
)

// SampleRange draws samples lo..hi-1 of the set Sample(o) draws: the same
// grids and classes, bit for bit, whatever range is asked for, so a large
// set can be drawn in independent shards on many machines (vqgen-beam
// sample) and still be `vqgen sample`'s set. Images are decoded only when
// decode is set. o is resolved as Sample resolves it (N from PerClass), and
// the returned Options say so.
func (m *Models) SampleRange(ctx context.Context, o SampleOptions, lo, hi int, decode bool, prog Progress) (*Samples, error) {
	o, so, err := m.resolve(o)
	if err != nil {
		return nil, err
	}
	if lo < 0 || hi > o.N || lo >= hi {
		return nil, optionErr("n", "%d: samples %d to %d are not a range of them", o.N, lo, hi-1)
	}
	return m.draw(ctx, o, hi-lo, decode, prog, func(progress func(done, total int)) (*sampler.Grids, error) {
		return sampler.SampleRange(m.ck.Prior, so, lo, hi, progress)
	})
}
