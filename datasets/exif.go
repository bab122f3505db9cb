package datasets

import "encoding/binary"

// jpegOrientation returns the EXIF orientation tag (1-8) of a JPEG file, or
// 1 (as stored) when the file has none or it cannot be read. Cameras store
// the sensor's pixels and record in this tag how to turn them upright:
//
//	1 as stored          5 transposed (mirrored, then turned 90 degrees anticlockwise)
//	2 mirrored left-right 6 turned 90 degrees clockwise
//	3 turned 180 degrees 7 transversed (mirrored, then turned 90 degrees clockwise)
//	4 mirrored top-bottom 8 turned 90 degrees anticlockwise
//
// Only the markers before the first scan are read: the tag lives in an APP1
// "Exif" segment that cameras put right after the start-of-image marker. A
// damaged or truncated segment means "as stored", never an error: the image
// itself decodes fine without it.
func jpegOrientation(data []byte) int {
	if len(data) < 4 || data[0] != 0xff || data[1] != 0xd8 {
		return 1
	}
	p := 2
	for p+4 <= len(data) {
		if data[p] != 0xff {
			return 1
		}
		m := data[p+1]
		switch {
		case m == 0xff: // fill byte before a marker
			p++
			continue
		case m == 0x01 || (m >= 0xd0 && m <= 0xd8): // markers without a length
			p += 2
			continue
		case m == 0xda || m == 0xd9: // start of scan or end of image: no tag before the pixels
			return 1
		}
		l := int(binary.BigEndian.Uint16(data[p+2:]))
		if l < 2 || p+2+l > len(data) {
			return 1
		}
		seg := data[p+4 : p+2+l]
		if m == 0xe1 && len(seg) >= 6 && string(seg[:6]) == "Exif\x00\x00" {
			return tiffOrientation(seg[6:])
		}
		p += 2 + l
	}
	return 1
}

// tiffOrientation reads tag 0x0112 (Orientation, one SHORT) from the first
// image file directory of a TIFF structure, the body of an EXIF segment.
func tiffOrientation(t []byte) int {
	if len(t) < 8 {
		return 1
	}
	var bo binary.ByteOrder
	switch string(t[:2]) {
	case "II":
		bo = binary.LittleEndian
	case "MM":
		bo = binary.BigEndian
	default:
		return 1
	}
	if bo.Uint16(t[2:]) != 42 {
		return 1
	}
	ifd := uint64(bo.Uint32(t[4:]))
	if ifd < 8 || ifd+2 > uint64(len(t)) {
		return 1
	}
	n := int(bo.Uint16(t[ifd:]))
	for i := range n {
		e := int(ifd) + 2 + 12*i
		if e+12 > len(t) {
			return 1
		}
		if bo.Uint16(t[e:]) != 0x0112 {
			continue
		}
		// Type 3 is SHORT; with count 1 the value sits in the entry itself.
		if bo.Uint16(t[e+2:]) != 3 || bo.Uint32(t[e+4:]) != 1 {
			return 1
		}
		if v := int(bo.Uint16(t[e+8:])); v >= 1 && v <= 8 {
			return v
		}
		return 1
	}
	return 1
}

// orient maps pixel (x, y) of the upright image to the stored image of
// width w and height h, for EXIF orientation o (see jpegOrientation). The
// upright image is w x h for o <= 4 and h x w otherwise.
func orient(o, x, y, w, h int) (int, int) {
	switch o {
	case 2:
		return w - 1 - x, y
	case 3:
		return w - 1 - x, h - 1 - y
	case 4:
		return x, h - 1 - y
	case 5:
		return y, x
	case 6:
		return y, h - 1 - x
	case 7:
		return w - 1 - y, h - 1 - x
	case 8:
		return w - 1 - y, x
	}
	return x, y
}
