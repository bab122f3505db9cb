package evaluate

import (
	"bufio"
	"bytes"
	"fmt"
	"image"
	_ "image/png" // register the PNG decoder for DecodeConfig
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/vqgen/vqgen/datasets"
)

// LoadImageDir reads every .png file directly inside dir (not in
// subfolders; hidden files skipped), sorted by name, as 28x28 grayscale
// images with values in [0, 1]. Colour images are converted to luma and
// transparent pixels composited over black. Images of another size are
// resized (shorter side to 28, triangle filter) and centre-cropped, like
// datasets' image folders; note lists those files so the caller can tell
// the user that what is judged is not what was given. names are the file
// names in the same order, which is the order ReadLabels expects.
func LoadImageDir(dir string) (ims [][]float32, names []string, note string, err error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, "", fmt.Errorf("images folder: %w", err)
	}
	for _, e := range entries {
		if e.Type().IsRegular() && !strings.HasPrefix(e.Name(), ".") && strings.EqualFold(filepath.Ext(e.Name()), ".png") {
			names = append(names, e.Name())
		}
	}
	slices.Sort(names)
	if len(names) == 0 {
		return nil, nil, "", fmt.Errorf("images folder %s has no .png files", dir)
	}
	var resized []string
	ims = make([][]float32, len(names))
	for i, name := range names {
		path := filepath.Join(dir, name)
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, nil, "", err
		}
		cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
		if err != nil {
			return nil, nil, "", fmt.Errorf("%s: not a readable PNG image: %v", path, err)
		}
		if format != "png" {
			return nil, nil, "", fmt.Errorf("%s: is a %s image despite its .png name", path, format)
		}
		if cfg.Width != ImageSize || cfg.Height != ImageSize {
			resized = append(resized, fmt.Sprintf("%s (%dx%d)", name, cfg.Width, cfg.Height))
		}
		if ims[i], err = datasets.ReadImage(path, ImageSize, 1); err != nil {
			return nil, nil, "", err
		}
	}
	if len(resized) > 0 {
		shown := resized[:min(3, len(resized))]
		note = fmt.Sprintf("%d of %d images are not 28x28 and were resized and centre-cropped to 28x28: %s", len(resized), len(names), strings.Join(shown, ", "))
		if len(resized) > len(shown) {
			note += ", ..."
		}
	}
	return ims, names, note, nil
}

// ReadLabels reads n class labels, one integer 0..9 per line, for the
// images of LoadImageDir in sorted file-name order. Blank lines and lines
// starting with '#' are skipped; surrounding spaces are ignored.
func ReadLabels(path string, n int) ([]int32, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("labels file: %w", err)
	}
	defer f.Close()
	var labels []int32
	sc := bufio.NewScanner(f)
	line := 0
	for sc.Scan() {
		line++
		s := strings.TrimSpace(sc.Text())
		if s == "" || strings.HasPrefix(s, "#") {
			continue
		}
		v, err := strconv.Atoi(s)
		if err != nil || v < 0 || v >= Classes {
			return nil, fmt.Errorf("%s:%d: label %q, want an integer 0 to %d", path, line, s, Classes-1)
		}
		labels = append(labels, int32(v))
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(labels) != n {
		return nil, fmt.Errorf("%s has %d labels for %d images (one label per line, in sorted file-name order)", path, len(labels), n)
	}
	return labels, nil
}
