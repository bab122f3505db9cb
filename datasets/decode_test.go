package datasets

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"testing"
)

// withEXIF inserts an APP1 Exif segment holding orientation o, in the byte
// order named by order ("II" or "MM"), right after a JPEG's SOI marker.
func withEXIF(t *testing.T, jpg []byte, o int, order string) []byte {
	t.Helper()
	var bo binary.AppendByteOrder = binary.LittleEndian
	if order == "MM" {
		bo = binary.BigEndian
	}
	tiff := []byte(order)
	tiff = bo.AppendUint16(tiff, 42)
	tiff = bo.AppendUint32(tiff, 8) // IFD0 right after the header
	tiff = bo.AppendUint16(tiff, 2) // two entries: a tag before Orientation, then Orientation
	tiff = bo.AppendUint16(tiff, 0x010f)
	tiff = bo.AppendUint16(tiff, 2) // ASCII "Go\0" (3 bytes, inline)
	tiff = bo.AppendUint32(tiff, 3)
	tiff = append(tiff, 'G', 'o', 0, 0)
	tiff = bo.AppendUint16(tiff, 0x0112)
	tiff = bo.AppendUint16(tiff, 3) // SHORT
	tiff = bo.AppendUint32(tiff, 1)
	tiff = bo.AppendUint16(tiff, uint16(o))
	tiff = bo.AppendUint16(tiff, 0)
	tiff = bo.AppendUint32(tiff, 0) // no next IFD
	seg := append([]byte("Exif\x00\x00"), tiff...)
	app1 := []byte{0xff, 0xe1, 0, 0}
	binary.BigEndian.PutUint16(app1[2:], uint16(len(seg)+2))
	app1 = append(app1, seg...)
	if jpg[0] != 0xff || jpg[1] != 0xd8 {
		t.Fatal("not a JPEG")
	}
	return append(append(append([]byte{}, jpg[:2]...), app1...), jpg[2:]...)
}

// Every EXIF orientation turns a 64x32 image of four coloured quadrants
// upright: the expected quadrant colours after turning are spelled out per
// tag, from the tag's definition, not computed by the code under test.
func TestEXIFOrientations(t *testing.T) {
	red := color.NRGBA{220, 20, 20, 255}
	green := color.NRGBA{20, 200, 20, 255}
	blue := color.NRGBA{20, 20, 220, 255}
	white := color.NRGBA{240, 240, 240, 255}
	src := image.NewNRGBA(image.Rect(0, 0, 64, 32))
	for y := range 32 {
		for x := range 64 {
			c := map[[2]bool]color.NRGBA{{false, false}: red, {true, false}: green, {false, true}: blue, {true, true}: white}[[2]bool{x >= 32, y >= 16}]
			src.SetNRGBA(x, y, c)
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, src, &jpeg.Options{Quality: 95}); err != nil {
		t.Fatal(err)
	}
	// Upright quadrants (top-left, top-right, bottom-left, bottom-right).
	want := map[int][4]color.NRGBA{
		1: {red, green, blue, white},
		2: {green, red, white, blue}, // mirrored left-right
		3: {white, blue, green, red}, // turned 180 degrees
		4: {blue, white, red, green}, // mirrored top-bottom
		5: {red, blue, green, white}, // transposed
		6: {blue, red, white, green}, // turned 90 degrees clockwise
		7: {white, green, blue, red}, // transversed
		8: {green, white, red, blue}, // turned 90 degrees anticlockwise
	}
	dir := t.TempDir()
	const size = 16
	for o := 1; o <= 8; o++ {
		for _, order := range []string{"II", "MM"} {
			p := filepath.Join(dir, "o.jpg")
			data := withEXIF(t, buf.Bytes(), o, order)
			if err := os.WriteFile(p, data, 0o644); err != nil {
				t.Fatal(err)
			}
			if got := jpegOrientation(data); got != o {
				t.Fatalf("orientation %d (%s): read %d", o, order, got)
			}
			pix, err := ReadImage(p, size, 3)
			if err != nil {
				t.Fatal(err)
			}
			// The upright image is 64x32 or 32x64; the centre crop keeps
			// both halves of the long side and the quadrant corners at
			// the quarter points.
			for q, at := range [][2]int{{4, 4}, {12, 4}, {4, 12}, {12, 12}} {
				w := want[o][q]
				for ch, wv := range []uint8{w.R, w.G, w.B} {
					got := pix[ch*size*size+at[1]*size+at[0]]
					if math.Abs(float64(got)-float64(wv)/255) > 0.06 {
						t.Fatalf("orientation %d (%s), quadrant %d, channel %d: %g, want %g", o, order, q, ch, got, float64(wv)/255)
					}
				}
			}
			// DecodeFile turns the image the same way.
			img, err := DecodeFile(p)
			if err != nil {
				t.Fatal(err)
			}
			b := img.Bounds()
			if (o >= 5) != (b.Dx() == 32 && b.Dy() == 64) {
				t.Fatalf("orientation %d: DecodeFile gave %v", o, b)
			}
			if r, _, _, _ := img.At(b.Min.X+2, b.Min.Y+2).RGBA(); math.Abs(float64(r>>8)-float64(want[o][0].R)) > 16 {
				t.Fatalf("orientation %d: DecodeFile's top-left red is %d, want %d", o, r>>8, want[o][0].R)
			}
		}
	}
	// Damaged or missing EXIF data reads as "as stored".
	for _, bad := range [][]byte{
		buf.Bytes(),
		withEXIF(t, buf.Bytes(), 9, "II"),
		withEXIF(t, buf.Bytes(), 6, "II")[:30],
		append([]byte{0xff, 0xd8, 0xff, 0xe1, 0x00, 0x08}, "Exif\x00\x00"...),
	} {
		if o := jpegOrientation(bad); o != 1 {
			t.Fatalf("orientation %d from damaged data", o)
		}
	}
}

// pngGreyAlpha encodes a PNG of colour type 4 (grey + alpha), which Go's
// encoder never writes, at bit depth 8 or 16; pix holds (grey, alpha) pairs.
func pngGreyAlpha(w, h, depth int, pix []uint16) []byte {
	chunk := func(out []byte, typ string, data []byte) []byte {
		out = binary.BigEndian.AppendUint32(out, uint32(len(data)))
		body := append([]byte(typ), data...)
		out = append(out, body...)
		return binary.BigEndian.AppendUint32(out, crc32.ChecksumIEEE(body))
	}
	out := []byte("\x89PNG\r\n\x1a\n")
	ihdr := binary.BigEndian.AppendUint32(nil, uint32(w))
	ihdr = binary.BigEndian.AppendUint32(ihdr, uint32(h))
	ihdr = append(ihdr, byte(depth), 4, 0, 0, 0)
	out = chunk(out, "IHDR", ihdr)
	var raw []byte
	for y := range h {
		raw = append(raw, 0) // filter: none
		for x := range 2 * w {
			v := pix[y*2*w+x]
			if depth == 16 {
				raw = binary.BigEndian.AppendUint16(raw, v)
			} else {
				raw = append(raw, byte(v))
			}
		}
	}
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	zw.Write(raw)
	zw.Close()
	out = chunk(out, "IDAT", z.Bytes())
	return chunk(out, "IEND", nil)
}

// Every colour model the decoders produce converts to grey and RGB, with
// transparency composited over white.
func TestColourModels(t *testing.T) {
	dir := t.TempDir()
	// over composites an 8-bit colour c of alpha a over white.
	over := func(c, a float64) float64 { return (c*a + 255*(255-a)) / (255 * 255) }
	luma := func(r, g, b float64) float64 { return 0.299*r + 0.587*g + 0.114*b }
	type rgb [3]float64
	pal := color.Palette{color.NRGBA{200, 100, 50, 128}, color.RGBA{10, 20, 30, 255}}
	paletted := image.NewPaletted(image.Rect(0, 0, 6, 6), pal) // index 0 everywhere
	gray16 := image.NewGray16(image.Rect(0, 0, 6, 6))
	rgba64 := image.NewRGBA64(image.Rect(0, 0, 6, 6))
	nrgba64 := image.NewNRGBA64(image.Rect(0, 0, 6, 6))
	rgba := image.NewRGBA(image.Rect(0, 0, 6, 6))
	for y := range 6 {
		for x := range 6 {
			gray16.SetGray16(x, y, color.Gray16{0x6666}) // 0.4
			rgba64.SetRGBA64(x, y, color.RGBA64{0xcccc, 0x3333, 0x9999, 0xffff})
			nrgba64.SetNRGBA64(x, y, color.NRGBA64{0xcccc, 0x3333, 0x9999, 0x8000})
			rgba.SetRGBA(x, y, color.RGBA{100, 50, 0, 200}) // premultiplied
		}
	}
	ga := make([]uint16, 2*6*6)
	ga16 := make([]uint16, 2*6*6)
	for i := 0; i < len(ga); i += 2 {
		ga[i], ga[i+1] = 51, 102
		ga16[i], ga16[i+1] = 0x3333, 0x6666
	}
	cases := []struct {
		name  string
		write func(path string)
		want  rgb // in [0, 1]
		tol   float64
	}{
		{"gray.png", func(p string) { writeTestImage(t, p, uniform(6, 6, color.Gray{51})) }, rgb{0.2, 0.2, 0.2}, 0},
		{"gray16.png", func(p string) { writeTestImage(t, p, gray16) }, rgb{0.4, 0.4, 0.4}, 0},
		{"grey-alpha.png", func(p string) { os.WriteFile(p, pngGreyAlpha(6, 6, 8, ga), 0o644) },
			rgb{over(51, 102), over(51, 102), over(51, 102)}, 1.0 / 255},
		{"grey-alpha16.png", func(p string) { os.WriteFile(p, pngGreyAlpha(6, 6, 16, ga16), 0o644) },
			rgb{over(51, 102), over(51, 102), over(51, 102)}, 1.0 / 255},
		{"palette.png", func(p string) { writeTestImage(t, p, paletted) }, rgb{over(200, 128), over(100, 128), over(50, 128)}, 1.0 / 255},
		{"rgba.png", func(p string) { writeTestImage(t, p, rgba) }, rgb{(100 + 55) / 255.0, (50 + 55) / 255.0, 55 / 255.0}, 1.0 / 255},
		{"nrgba.png", func(p string) { writeTestImage(t, p, uniform(6, 6, color.NRGBA{200, 100, 50, 128})) },
			rgb{over(200, 128), over(100, 128), over(50, 128)}, 1.0 / 255},
		{"rgb16.png", func(p string) { writeTestImage(t, p, rgba64) }, rgb{0.8, 0.2, 0.6}, 0},
		{"rgba16.png", func(p string) { writeTestImage(t, p, nrgba64) }, rgb{0.8*0x8000/0xffff + 0x7fff/65535.0, 0.2*0x8000/0xffff + 0x7fff/65535.0, 0.6*0x8000/0xffff + 0x7fff/65535.0}, 1.0 / 255},
		{"ycbcr.jpg", func(p string) { writeTestImage(t, p, uniform(16, 16, color.NRGBA{200, 100, 50, 255})) }, rgb{200 / 255.0, 100 / 255.0, 50 / 255.0}, 0.03},
		{"gray.jpg", func(p string) { writeTestImage(t, p, uniform(16, 16, color.Gray{77})) }, rgb{77 / 255.0, 77 / 255.0, 77 / 255.0}, 0.01},
	}
	for _, c := range cases {
		p := filepath.Join(dir, c.name)
		c.write(p)
		for _, channels := range []int{3, 1} {
			got, err := ReadImage(p, 4, channels)
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			want := c.want[:]
			if channels == 1 {
				want = []float64{luma(c.want[0], c.want[1], c.want[2])}
			}
			// Rounding to 8 bits adds up to half a level.
			tol := c.tol + 0.5/255 + 1e-6
			for i, v := range got {
				if w := want[i/16]; math.Abs(float64(v)-w) > tol {
					t.Fatalf("%s, %d channels: value %d = %g, want %g", c.name, channels, i, v, w)
				}
			}
		}
	}
	// CMYK and Adobe-RGB JPEGs (from Go's image/testdata) decode to the
	// colours of their PNG renderings.
	for _, name := range []string{"video-001.cmyk", "video-001.rgb"} {
		jp, err := ReadImage(filepath.Join("testdata", name+".jpeg"), 32, 3)
		if err != nil {
			t.Fatal(err)
		}
		ref, err := ReadImage(filepath.Join("testdata", name+".png"), 32, 3)
		if err != nil {
			t.Fatal(err)
		}
		var sum float64
		for i := range jp {
			sum += math.Abs(float64(jp[i] - ref[i]))
		}
		if mean := sum / float64(len(jp)); mean > 0.02 {
			t.Fatalf("%s.jpeg differs from its PNG by %g on average", name, mean)
		}
	}
	img, _, err := decodeImage(mustRead(t, "testdata/video-001.cmyk.jpeg"), "cmyk")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := img.(*image.CMYK); !ok {
		t.Fatalf("the CMYK fixture decodes to %T, not *image.CMYK", img)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The decoded bytes equal Render of the decoded image, and both equal
// ReadImage: one conversion, three entry points.
func TestRenderMatchesReadImage(t *testing.T) {
	p := filepath.Join("testdata", "video-001.cmyk.png")
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	a := Render(img, 24, 3)
	b, err := ReadImage(p, 24, 3)
	if err != nil {
		t.Fatal(err)
	}
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("value %d: Render %g, ReadImage %g", i, a[i], b[i])
		}
	}
}
