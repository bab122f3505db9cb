package datasets

import (
	"bytes"
	"image"
	"testing"
)

// FuzzDecodeImage feeds arbitrary bytes through the image loader: decoding
// (PNG or JPEG), the EXIF orientation reader, and the resize, crop and
// colour conversion at an arbitrary size. It must never panic, and a
// decoded image must give exactly size*size*channels bytes. Seeds (a PNG of
// each colour type, JPEGs with EXIF orientations, damaged EXIF) are in
// testdata/fuzz/FuzzDecodeImage.
func FuzzDecodeImage(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte, size uint8, grey bool) {
		if o := jpegOrientation(data); o < 1 || o > 8 {
			t.Fatalf("orientation %d", o)
		}
		// Keep each input cheap: the decoders themselves are Go's, and
		// large images only cost time here.
		if cfg, _, err := image.DecodeConfig(bytes.NewReader(data)); err == nil && int64(cfg.Width)*int64(cfg.Height) > 1<<20 {
			return
		}
		img, o, err := decodeImage(data, "fuzz input")
		if err != nil {
			return
		}
		s, c := int(size%96)+1, 3
		if grey {
			c = 1
		}
		dst := make([]uint8, c*s*s+1)
		dst[len(dst)-1] = 0xa5
		var sc renderScratch
		sc.render(img, o, s, c, dst[:c*s*s])
		if dst[len(dst)-1] != 0xa5 {
			t.Fatal("render wrote past the image")
		}
	})
}
