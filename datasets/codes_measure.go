package datasets

import "fmt"

// CodeLayoutSize is the compressed size of a set of code grids in one
// layout, as measured by MeasureCodeLayouts.
type CodeLayoutSize struct {
	Layout        CodeLayout
	Images        int
	RawBytes      int64   // uncompressed payload bytes, summed over chunks
	Bytes         int64   // zstd-compressed payload bytes, summed over chunks
	BytesPerImage float64 // Bytes / Images
	BitsPerCode   float64 // 8 * Bytes / (Images * h * w)
}

// MeasureCodeLayouts compresses grids (images' h*w grids back to back,
// values in [0, k)) in every layout, in chunks of chunkImages images (0 for
// the default) exactly as a CodeWriter would, and reports the compressed
// payload sizes. It excludes the fixed header, index and trailer (under 200
// bytes for MNIST) and labels, so it compares the layouts alone. Use it on
// real codes to revisit the default layout.
func MeasureCodeLayouts(grids []uint16, k, h, w, chunkImages int) ([]CodeLayoutSize, error) {
	if chunkImages == 0 {
		chunkImages = CodeDefaultChunkImages
	}
	if h < 1 || w < 1 || len(grids)%(h*w) != 0 {
		return nil, fmt.Errorf("measure code layouts: %d codes do not form %dx%d grids", len(grids), h, w)
	}
	n := len(grids) / (h * w)
	for j, v := range grids {
		if int(v) >= k {
			return nil, fmt.Errorf("measure code layouts: code %d at position %d >= K=%d", v, j, k)
		}
	}
	var out []CodeLayoutSize
	var payload, comp []byte
	for _, layout := range CodeLayouts {
		hdr := CodeHeader{Count: int64(n), GridH: h, GridW: w, K: k, ImageH: 1, ImageW: 1, Channels: 1, ChunkImages: chunkImages, Layout: layout}
		if err := hdr.validate(); err != nil {
			return nil, fmt.Errorf("measure code layouts: %w", err)
		}
		s := CodeLayoutSize{Layout: layout, Images: n}
		cells := h * w
		for first := 0; first < n; first += chunkImages {
			m := min(chunkImages, n-first)
			payload = encodeCodePayload(payload[:0], &hdr, grids[first*cells:], nil, m)
			comp = codeEncoder().EncodeAll(payload, comp[:0])
			s.RawBytes += int64(len(payload))
			s.Bytes += int64(len(comp))
		}
		if n > 0 {
			s.BytesPerImage = float64(s.Bytes) / float64(n)
			s.BitsPerCode = 8 * float64(s.Bytes) / float64(n*cells)
		}
		out = append(out, s)
	}
	return out, nil
}
