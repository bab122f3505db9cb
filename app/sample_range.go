package app

import (
	"context"
	"time"

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
	prog = nop(prog)
	m.mu.Lock()
	defer m.mu.Unlock()
	hw := m.VQVAE.Shape().Cells()
	start := time.Now()
	prog.Begin(Phase{Name: "sample", Total: (hi - lo) * hw, Every: max(1, (hi-lo)*hw/10), Item: "cell"})
	var g *sampler.Grids
	err = cancellable(ctx, func(check func()) (err error) {
		g, err = sampler.SampleRange(m.ck.Prior, so, lo, hi, func(done, _ int) {
			check()
			prog.Update(done)
		})
		return err
	})
	prog.End()
	if err != nil {
		return nil, err
	}
	s := &Samples{Options: o, Shape: m.VQVAE.Shape(), Codes: g.Codes, Classes: g.Classes}
	if decode {
		if s.Images, err = m.VQVAE.Decode(g.Codes, g.N); err != nil {
			return nil, err
		}
	}
	s.Seconds = time.Since(start).Seconds()
	s.ImagesPerSec = float64(g.N) / s.Seconds
	return s, nil
}
