package datasets

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// maxClasses bounds label values so a corrupt label file cannot ask for an
// absurd number of classes.
const maxClasses = 1 << 16

var u8ToUnit = func() (t [256]float32) {
	for i := range t {
		t[i] = float32(i) / 255
	}
	return
}()

// idxImages turns an IDX array of shape (N, rows, cols) into pixels:
// unsigned bytes are kept as they are (8-bit storage, v/255); float and
// double values are taken as they are and must already lie in [0, 1];
// other types are refused, since their range is not known. Exactly one of
// pix8 and pix is returned.
func idxImages(x *IDX, name string) (n, h, w int, pix8 []uint8, pix []float32, err error) {
	if len(x.Dims) != 3 {
		return 0, 0, 0, nil, nil, fmt.Errorf("%s: IDX images have dims %v, want 3 (count, rows, cols)", name, x.Dims)
	}
	n, h, w = x.Dims[0], x.Dims[1], x.Dims[2]
	switch x.Type {
	case IDXUint8:
		return n, h, w, x.Data[:x.Len():x.Len()], nil, nil
	case IDXFloat32, IDXFloat64:
		pix = make([]float32, x.Len())
		for i := range pix {
			v := x.At(i)
			if !(v >= 0 && v <= 1) {
				return 0, 0, 0, nil, nil, fmt.Errorf("%s: IDX %v pixel %d is %g, want values in [0, 1]", name, x.Type, i, v)
			}
			pix[i] = float32(v)
		}
		return n, h, w, nil, pix, nil
	}
	return 0, 0, 0, nil, nil, fmt.Errorf("%s: IDX images of type %v are not supported (want ubyte, or float/double in [0, 1])", name, x.Type)
}

// idxLabels validates a label array of shape (n) with integer class ids.
func idxLabels(x *IDX, name string, n int) ([]int32, int, error) {
	if len(x.Dims) != 1 {
		return nil, 0, fmt.Errorf("%s: IDX labels have dims %v, want 1 (count)", name, x.Dims)
	}
	if x.Dims[0] != n {
		return nil, 0, fmt.Errorf("%s: %d labels for %d images", name, x.Dims[0], n)
	}
	switch x.Type {
	case IDXUint8, IDXInt8, IDXInt16, IDXInt32:
	default:
		return nil, 0, fmt.Errorf("%s: IDX labels of type %v, want an integer type", name, x.Type)
	}
	labels := make([]int32, n)
	classes := 0
	for i := range labels {
		v := x.At(i)
		if v < 0 || v >= maxClasses {
			return nil, 0, fmt.Errorf("%s: label %d is %g, want 0 to %d", name, i, v, maxClasses-1)
		}
		labels[i] = int32(v)
		classes = max(classes, int(v)+1)
	}
	return labels, classes, nil
}

// idxDataset builds a dataset from decoded IDX images and optional labels.
func idxDataset(spec string, img *IDX, imgName string, lab *IDX, labName string) (*Dataset, error) {
	n, h, w, pix8, pix, err := idxImages(img, imgName)
	if err != nil {
		return nil, err
	}
	ds := &Dataset{Name: spec, N: n, C: 1, H: h, W: w, Pix8: pix8, Pixels: pix}
	if lab != nil {
		if ds.Labels, ds.Classes, err = idxLabels(lab, labName, n); err != nil {
			return nil, err
		}
		ds.ClassNames = make([]string, ds.Classes)
		for i := range ds.ClassNames {
			ds.ClassNames[i] = strconv.Itoa(i)
		}
	}
	return ds, nil
}

// idxFileNames lists the names tried for one MNIST-style file, in order of
// preference: uncompressed first, then gzipped, with both the official
// "train-images-idx3-ubyte" and the common "train-images.idx3-ubyte" forms.
func idxFileNames(prefix, kind string) []string {
	ndim := "3"
	if kind == "labels" {
		ndim = "1"
	}
	var out []string
	for _, sep := range []string{"-", "."} {
		base := prefix + "-" + kind + sep + "idx" + ndim + "-ubyte"
		out = append(out, base, base+".gz")
	}
	return out
}

// findIDX returns the first of idxFileNames present in dir, or "" and the
// names it tried.
func findIDX(dir, prefix, kind string) (path string, tried []string, err error) {
	names := idxFileNames(prefix, kind)
	for _, nm := range names {
		p := filepath.Join(dir, nm)
		if _, err := os.Stat(p); err == nil {
			return p, nil, nil
		} else if !errors.Is(err, fs.ErrNotExist) {
			return "", nil, err
		}
	}
	return "", names, nil
}

// loadIDXDir loads the MNIST-layout IDX files of one split from dir; the
// labels file is optional.
func loadIDXDir(spec, dir, split string) (*Dataset, error) {
	if st, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("%s: %v", spec, err)
	} else if !st.IsDir() {
		return nil, fmt.Errorf("%s: %s is not a folder", spec, dir)
	}
	prefix := map[string]string{"train": "train", "test": "t10k"}[split]
	imgPath, tried, err := findIDX(dir, prefix, "images")
	if err != nil {
		return nil, fmt.Errorf("%s: %v", spec, err)
	}
	if imgPath == "" {
		return nil, fmt.Errorf("%s: no images file in %s (looked for %s)", spec, dir, strings.Join(tried, ", "))
	}
	img, err := ReadIDXFile(imgPath)
	if err != nil {
		return nil, err
	}
	var lab *IDX
	labPath, _, err := findIDX(dir, prefix, "labels")
	if err != nil {
		return nil, fmt.Errorf("%s: %v", spec, err)
	}
	if labPath != "" {
		if lab, err = ReadIDXFile(labPath); err != nil {
			return nil, err
		}
	}
	return idxDataset(spec, img, imgPath, lab, labPath)
}
