package datasets

import (
	"fmt"

	"github.com/vqgen/vqgen/nn"
)

// Dataset is a set of equally sized images, optionally labelled and
// optionally keyed.
//
// The pixels live in one of two arrays. Pix8 holds 8-bit sources (MNIST,
// IDX ubyte files, every image folder) as bytes, value v standing for
// v/255: a quarter of the memory of float32, which is what lets a 50,000-image
// 64x64 RGB folder train in about 1 GiB. Pixels holds IDX float and double
// files, which are not 8-bit. Exactly one of the two is non-nil; Batch and
// Image convert to float32 in [0, 1] either way, so callers never look at
// the storage.
type Dataset struct {
	Name       string // the spec it was loaded from, e.g. "mnist:train"
	N, C, H, W int
	// Pix8 holds N images, NCHW, one byte per value (v/255). Datasets
	// returned by Load for MNIST share one cached array: treat it as
	// read-only.
	Pix8 []uint8
	// Pixels holds N images, NCHW, values in [0, 1], for sources that are
	// not 8-bit; nil otherwise.
	Pixels []float32
	// Labels holds one class id in [0, Classes) per image; nil if unlabelled.
	Labels     []int32
	Classes    int      // 0 if unlabelled
	ClassNames []string // len Classes; class id -> name
	// Keys names each image for reports and code files: for an image folder
	// the file's path relative to the folder, slash-separated (the order the
	// images are in is the byte order of these keys); nil for MNIST and IDX.
	Keys []string
}

// ImageLen is the number of values per image, C*H*W.
func (d *Dataset) ImageLen() int { return d.C * d.H * d.W }

// Image returns image i (CHW) as float32 values in [0, 1]. For float
// storage it aliases the dataset; for 8-bit storage it is a new slice.
// Treat it as read-only either way.
func (d *Dataset) Image(i int) []float32 {
	n := d.ImageLen()
	if d.Pixels != nil {
		return d.Pixels[i*n : (i+1)*n : (i+1)*n]
	}
	out := make([]float32, n)
	unitFromBytes(out, d.Pix8[i*n:(i+1)*n])
	return out
}

func unitFromBytes(dst []float32, src []uint8) {
	dst = dst[:len(src)]
	for i, v := range src {
		dst[i] = u8ToUnit[v]
	}
}

// Batch copies the images idx into dst, reshaped to (len(idx), C, H, W)
// reusing its storage as nn.Ensure does, converting bytes to [0, 1], and
// their labels into labels[:0]; it returns both. Passing the previous
// call's results back in makes it allocation-free. The labels are nil for
// an unlabelled dataset. idx entries must be in [0, N).
func (d *Dataset) Batch(idx []int, dst *nn.Tensor, labels []int32) (*nn.Tensor, []int32) {
	n := d.ImageLen()
	dst = ensure4(dst, len(idx), d.C, d.H, d.W)
	if d.Labels == nil {
		labels = nil
	} else {
		labels = labels[:0]
	}
	for j, i := range idx {
		if i < 0 || i >= d.N {
			panic(fmt.Sprintf("datasets: Batch index %d out of range [0, %d) for %s", i, d.N, d.Name))
		}
		if d.Pixels != nil {
			copy(dst.Data[j*n:(j+1)*n], d.Pixels[i*n:(i+1)*n])
		} else {
			unitFromBytes(dst.Data[j*n:(j+1)*n], d.Pix8[i*n:(i+1)*n])
		}
		if d.Labels != nil {
			labels = append(labels, d.Labels[i])
		}
	}
	return dst, labels
}

// Slice returns images [lo, hi) as a dataset sharing d's arrays.
func (d *Dataset) Slice(lo, hi int) *Dataset {
	n := d.ImageLen()
	s := *d
	s.N = hi - lo
	if d.Pixels != nil {
		s.Pixels = d.Pixels[lo*n : hi*n : hi*n]
	} else {
		s.Pix8 = d.Pix8[lo*n : hi*n : hi*n]
	}
	if d.Labels != nil {
		s.Labels = d.Labels[lo:hi:hi]
	}
	if d.Keys != nil {
		s.Keys = d.Keys[lo:hi:hi]
	}
	return &s
}

// Split carves a validation set from the end of a training set: val is the
// last valCount images, train the rest, both sharing ds's arrays. Taking the
// tail (not a random subset) keeps the split independent of any seed; the
// test split stays untouched for final reporting.
func Split(ds *Dataset, valCount int) (train, val *Dataset, err error) {
	if valCount < 0 || valCount >= ds.N {
		return nil, nil, fmt.Errorf("validation count %d for %s: want 0 to %d (it has %d images and training needs at least one)", valCount, ds.Name, ds.N-1, ds.N)
	}
	train = ds.Slice(0, ds.N-valCount)
	val = ds.Slice(ds.N-valCount, ds.N)
	train.Name = ds.Name + fmt.Sprintf("[:%d]", ds.N-valCount)
	val.Name = ds.Name + fmt.Sprintf("[%d:]", ds.N-valCount)
	return train, val, nil
}

// ensure4 is nn.Ensure for an NCHW shape without the variadic argument,
// which escapes to the heap in nn.Ensure and would cost an allocation per
// batch.
func ensure4(t *nn.Tensor, n, c, h, w int) *nn.Tensor {
	if t != nil && len(t.Shape) == 4 && cap(t.Data) >= n*c*h*w {
		t.Shape[0], t.Shape[1], t.Shape[2], t.Shape[3] = n, c, h, w
		t.Data = t.Data[:n*c*h*w]
		return t
	}
	return nn.Ensure(t, n, c, h, w)
}
