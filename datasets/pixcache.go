package datasets

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// The decoded cache keeps an image folder's decoded pixels so that the next
// load of the same files at the same size skips decoding. One file per
// (folder, split, size, channels), named after them:
//
//	offset 0       magic "VQGPIXC1"
//	8              key: SHA-256 of the render version, the folder's absolute
//	               path, split, size, channels and, per file in order, its
//	               relative path, byte size and modification time (ns)
//	40             count (uint64), channels (uint32), size (uint32)
//	56             count*channels*size*size pixel bytes, NCHW
//	end-12         CRC-32C of everything before it (uint32)
//	end-8          "VQGPXEND"
//
// (little-endian). A file whose length, magic, key, shape or CRC does not
// match is ignored and rewritten, so a stale or damaged cache costs one
// decode, never wrong pixels. Writes go to a temporary file renamed into
// place.
const (
	pixCacheMagic    = "VQGPIXC1"
	pixCacheEnd      = "VQGPXEND"
	pixCacheHeadSize = 56
	pixCacheTailSize = 12
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

type pixelCache struct {
	path string
	key  [32]byte
	n    int
	c, s int
}

func newPixelCache(cacheDir, dir, split string, files []imageFile, opt Options) *pixelCache {
	abs, err := filepath.Abs(dir)
	if err != nil {
		abs = dir
	}
	h := sha256.New()
	fmt.Fprintf(h, "vqgen decoded images, render %d\n%s\nsplit %q size %d channels %d\n", renderVersion, abs, split, opt.Size, opt.Channels)
	for _, f := range files {
		fmt.Fprintf(h, "%q %d %d\n", f.rel, f.size, f.mtime)
	}
	pc := &pixelCache{n: len(files), c: opt.Channels, s: opt.Size}
	copy(pc.key[:], h.Sum(nil))
	id := sha256.Sum256([]byte(abs + "\x00" + split))
	base := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, filepath.Base(abs))
	if split == "" {
		split = "all"
	}
	pc.path = filepath.Join(cacheDir, fmt.Sprintf("%s-%s-%dpx-%dch-%x.pixels", base, split, opt.Size, opt.Channels, id[:4]))
	return pc
}

func (pc *pixelCache) header() []byte {
	b := make([]byte, pixCacheHeadSize)
	copy(b, pixCacheMagic)
	copy(b[8:], pc.key[:])
	binary.LittleEndian.PutUint64(b[40:], uint64(pc.n))
	binary.LittleEndian.PutUint32(b[48:], uint32(pc.c))
	binary.LittleEndian.PutUint32(b[52:], uint32(pc.s))
	return b
}

// read returns the cached pixels, or false when there is no valid cache
// for exactly these files.
func (pc *pixelCache) read() ([]uint8, bool) {
	f, err := os.Open(pc.path)
	if err != nil {
		return nil, false
	}
	defer f.Close()
	want := pc.header()
	npix := int64(pc.n) * int64(pc.c*pc.s*pc.s)
	if st, err := f.Stat(); err != nil || st.Size() != int64(len(want))+npix+pixCacheTailSize {
		return nil, false
	}
	head := make([]byte, len(want))
	if _, err := io.ReadFull(f, head); err != nil || !bytes.Equal(head, want) {
		return nil, false
	}
	pix := make([]uint8, npix)
	if _, err := io.ReadFull(f, pix); err != nil {
		return nil, false
	}
	var tail [pixCacheTailSize]byte
	if _, err := io.ReadFull(f, tail[:]); err != nil || string(tail[4:]) != pixCacheEnd {
		return nil, false
	}
	crc := crc32.Update(crc32.Checksum(head, castagnoli), castagnoli, pix)
	if binary.LittleEndian.Uint32(tail[:]) != crc {
		return nil, false
	}
	return pix, true
}

// write stores pix atomically.
func (pc *pixelCache) write(pix []uint8) error {
	if err := os.MkdirAll(filepath.Dir(pc.path), 0o755); err != nil {
		return err
	}
	head := pc.header()
	crc := crc32.Update(crc32.Checksum(head, castagnoli), castagnoli, pix)
	return writeFileAtomic(pc.path, func(w io.Writer) error {
		var tail [pixCacheTailSize]byte
		binary.LittleEndian.PutUint32(tail[:], crc)
		copy(tail[4:], pixCacheEnd)
		for _, b := range [][]byte{head, pix, tail[:]} {
			if _, err := w.Write(b); err != nil {
				return err
			}
		}
		return nil
	})
}
