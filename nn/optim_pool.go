package nn

// elemRunner is element-wise work over a flat index range. Results must not
// depend on how the range is split, which holds for element-wise updates.
type elemRunner interface{ run(lo, hi int) }

// elemJob splits an element-wise pass into ranges for ParallelFor. It keeps
// its method value and arguments in fields so that dispatching allocates
// nothing.
type elemJob struct {
	n, parts int
	r        elemRunner
	fn       func(worker, lo, hi int)
}

// minElemsPerWorker keeps small updates on one goroutine: below this the
// hand-off costs more than the arithmetic it spreads.
const minElemsPerWorker = 1 << 15

func (j *elemJob) runParts(_, lo, hi int) {
	for p := lo; p < hi; p++ {
		j.r.run(p*j.n/j.parts, (p+1)*j.n/j.parts)
	}
}

// runElems calls r.run over [0, n) split into contiguous ranges on up to
// Parallelism() goroutines of ParallelFor's pool, and returns when all are done.
func runElems(n int, job *elemJob, r elemRunner) {
	w := min(Parallelism(), n/minElemsPerWorker)
	if w <= 1 {
		if n > 0 {
			r.run(0, n)
		}
		return
	}
	if job.fn == nil {
		job.fn = job.runParts
	}
	job.n, job.parts, job.r = n, w, r
	ParallelFor(w, job.fn)
	job.r = nil
}
