package app

import (
	"math"
	"runtime"
	"sort"
	"sync"

	"github.com/vqgen/vqgen/datasets"
)

// Neighbour is a training image close to a query image: the pixel
// distance between them says whether a sample is new or a copy.
type Neighbour struct {
	Index int    `json:"index"`         // in the training set (data.train, validation part included)
	Key   string `json:"key,omitempty"` // its file, for an image folder
	// RMSE is the root mean squared difference per value, pixels in
	// [0, 1] rounded to 8 bits as a PNG stores them.
	RMSE float64 `json:"rmse"`
	// Mirrored: the training image matches left-right mirrored (data.flip
	// trains on mirrored images too, so a mirrored copy is a copy).
	Mirrored bool `json:"mirrored,omitempty"`
}

// neighbourQuery is one image searched for: its 8-bit pixels, and
// whether they are the mirror of the image asked about.
type neighbourQuery struct {
	pix      []uint8
	of       int // the image asked about
	mirrored bool
}

// candidate is a training image at squared distance d (8-bit units).
type candidate struct {
	d        int64
	index    int
	mirrored bool
}

// topK keeps the k nearest distinct training images, nearest first.
type topK struct {
	k    int
	list []candidate
}

// bound is the distance a candidate must beat to enter.
func (t *topK) bound() int64 {
	if len(t.list) < t.k {
		return math.MaxInt64
	}
	return t.list[len(t.list)-1].d
}

func (t *topK) add(c candidate) {
	for i, x := range t.list {
		if x.index == c.index { // the same image, mirrored or not: keep the nearer
			if c.d >= x.d {
				return
			}
			t.list = append(t.list[:i], t.list[i+1:]...)
			break
		}
	}
	if len(t.list) == t.k && c.d >= t.list[t.k-1].d {
		return
	}
	i := sort.Search(len(t.list), func(i int) bool { return t.list[i].d > c.d })
	t.list = append(t.list, candidate{})
	copy(t.list[i+1:], t.list[i:])
	t.list[i] = c
	if len(t.list) > t.k {
		t.list = t.list[:t.k]
	}
}

// quantize rounds an image with values in [0, 1] to 8 bits as PNG files
// store it.
func quantize(im []float32) []uint8 {
	out := make([]uint8, len(im))
	for i, v := range im {
		out[i] = to8(v)
	}
	return out
}

func to8(v float32) uint8 {
	switch {
	case !(v > 0): // NaN too
		return 0
	case v >= 1:
		return 255
	}
	return uint8(math.Round(float64(v) * 255))
}

// mirror flips a CHW image left to right.
func mirror(pix []uint8, w int) []uint8 {
	out := make([]uint8, len(pix))
	for row := 0; row < len(pix); row += w {
		for x := 0; x < w; x++ {
			out[row+x] = pix[row+w-1-x]
		}
	}
	return out
}

// nearestImages finds, for each image (CHW, values in [0, 1], the
// dataset's shape), the k training images of ds nearest by L2 distance
// over 8-bit pixels; with mirrored set, each training image also counts
// mirrored. The training set is scanned once, split across all cores,
// each training image compared with every query while it is in cache; a
// comparison stops as soon as its partial sum exceeds the query's k-th
// best so far, which skips most of the work once good matches are known.
func nearestImages(ds *datasets.Dataset, images [][]float32, k int, mirrored bool) [][]Neighbour {
	n := ds.ImageLen()
	var qs []neighbourQuery
	for i, im := range images {
		q := quantize(im)
		qs = append(qs, neighbourQuery{q, i, false})
		if mirrored {
			qs = append(qs, neighbourQuery{mirror(q, ds.W), i, true})
		}
	}
	workers := max(1, min(runtime.GOMAXPROCS(0), ds.N))
	found := make([][]topK, workers) // per worker, per image
	var wg sync.WaitGroup
	for w := range workers {
		found[w] = make([]topK, len(images))
		for i := range found[w] {
			found[w][i].k = k
		}
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			lo, hi := w*ds.N/workers, (w+1)*ds.N/workers
			var buf []uint8
			best := found[w]
			for t := lo; t < hi; t++ {
				var im []uint8
				if ds.Pix8 != nil {
					im = ds.Pix8[t*n : (t+1)*n]
				} else { // float pixels (IDX float files), rounded as a PNG would be
					if buf == nil {
						buf = make([]uint8, n)
					}
					for j, v := range ds.Pixels[t*n : (t+1)*n] {
						buf[j] = to8(v)
					}
					im = buf
				}
				for _, q := range qs {
					b := &best[q.of]
					if d, ok := sqDist(q.pix, im, b.bound()); ok {
						b.add(candidate{d, t, q.mirrored})
					}
				}
			}
		}(w)
	}
	wg.Wait()
	out := make([][]Neighbour, len(images))
	for i := range images {
		all := topK{k: k}
		for w := range workers {
			for _, c := range found[w][i].list {
				all.add(c)
			}
		}
		for _, c := range all.list {
			nb := Neighbour{Index: c.index, RMSE: math.Sqrt(float64(c.d)/float64(n)) / 255, Mirrored: c.mirrored}
			if ds.Keys != nil {
				nb.Key = ds.Keys[c.index]
			}
			out[i] = append(out[i], nb)
		}
	}
	return out
}

// sqDist is the squared L2 distance of a and b, or ok = false once it
// reaches bound (checked every 256 values).
func sqDist(a, b []uint8, bound int64) (d int64, ok bool) {
	b = b[:len(a)]
	for lo := 0; lo < len(a); lo += 256 {
		hi := min(lo+256, len(a))
		var s int32 // 256 squares of at most 255^2 fit
		x, y := a[lo:hi], b[lo:hi]
		y = y[:len(x)]
		i := 0
		for ; i+4 <= len(x); i += 4 {
			d0 := int32(x[i]) - int32(y[i])
			d1 := int32(x[i+1]) - int32(y[i+1])
			d2 := int32(x[i+2]) - int32(y[i+2])
			d3 := int32(x[i+3]) - int32(y[i+3])
			s += d0*d0 + d1*d1 + d2*d2 + d3*d3
		}
		for ; i < len(x); i++ {
			e := int32(x[i]) - int32(y[i])
			s += e * e
		}
		d += int64(s)
		if d >= bound {
			return d, false
		}
	}
	return d, true
}
