package app

import "github.com/vqgen/vqgen/sampler"

// CheckSample validates o against the loaded prior without drawing
// anything, returning the error Sample would: a front end that queues work
// (a web server) refuses a bad request at once instead of failing its job
// later.
func (m *Models) CheckSample(o SampleOptions) error {
	_, _, err := m.resolve(o)
	return err
}

// CheckEdit validates o against the loaded prior without drawing anything,
// returning the error Edit would for these options (the grid and the mask
// are Edit's to check).
func (m *Models) CheckEdit(o EditOptions) error {
	if o.N <= 0 {
		return optionErr("n", "%d: want at least 1 edit", o.N)
	}
	if o.Method != MethodGibbs && o.Method != MethodRaster {
		return optionErr("method", "%q: want %s or %s", o.Method, MethodGibbs, MethodRaster)
	}
	if o.Sweeps < 0 || o.Method == MethodGibbs && o.Sweeps == 0 {
		return optionErr("sweeps", "%d: want at least 1 sweep", o.Sweeps)
	}
	if err := checkFilter(o.Temperature, o.TopK, o.TopP); err != nil {
		return err
	}
	if o.Method == MethodGibbs && (o.TopK != 0 || o.TopP != 1) {
		const why = "gibbs samples the tempered prior given the kept cells, and truncating the conditionals leaves no distribution to sample"
		if o.TopK == 0 { // name the option that is on
			return optionErr("top_p", "%g: %s; use the raster method for top-p, or leave it at 1", o.TopP, why)
		}
		return optionErr("top_k", "%d with top-p %g: %s; use the raster method for top-k/top-p, or leave them at 0 and 1", o.TopK, o.TopP, why)
	}
	if err := m.checkClass("class", o.Class); err != nil {
		return err
	}
	if classes := m.ck.Prior.Info().Classes; classes > 0 && o.Class < 0 {
		return optionErr("class", "-1: the prior is class-conditional: give the class (0 to %d) the edits are drawn for", classes-1)
	}
	if o.Batch < 0 {
		return optionErr("batch", "%d: want >= 0 (0: %d)", o.Batch, sampler.DefaultBatch)
	}
	return nil
}
