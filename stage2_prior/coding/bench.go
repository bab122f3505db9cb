package coding

import (
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/vqgen/vqgen/configs"
	"github.com/vqgen/vqgen/datasets"
	"github.com/vqgen/vqgen/nn"
	prior "github.com/vqgen/vqgen/stage2_prior"
)

// BenchSetup is a prior codec and a set of chunks to code, for the
// encode/decode benchmarks.
type BenchSetup struct {
	Codec  *Codec
	Header datasets.CodeHeader
	Codes  []uint16
	Labels []int32
	Chunk  int // images per chunk
}

// NewBenchSetup builds the default MNIST Transformer prior (configs'
// defaults: 4 layers of width 128, K = 512, 7x7 grids, 10 classes) with
// random weights and images random grids in chunks of chunk images. Speed
// does not depend on the weights' values.
func NewBenchSetup(images, chunk int) (*BenchSetup, error) {
	cfg := configs.Default()
	tc := cfg.Prior.Transformer
	info := prior.Info{K: cfg.VQVAE.K, H: 7, W: 7, Classes: 10}
	m, err := prior.NewTransformer(tc, info, nn.NewRNG(1))
	if err != nil {
		return nil, err
	}
	c, err := New(m, "bench-prior.safetensors")
	if err != nil {
		return nil, err
	}
	rng := nn.NewRNG(2)
	s := &BenchSetup{Codec: c, Chunk: chunk,
		Header: datasets.CodeHeader{GridH: 7, GridW: 7, K: info.K, ImageH: 28, ImageW: 28, Channels: 1,
			Labels: true, NumClasses: 10, Layout: datasets.CodeLayoutPrior, ChunkImages: chunk, Count: int64(images)},
		Codes: make([]uint16, images*49), Labels: make([]int32, images)}
	for i := range s.Codes {
		s.Codes[i] = uint16(rng.Intn(info.K))
	}
	for i := range s.Labels {
		s.Labels[i] = int32(rng.Intn(10))
	}
	return s, nil
}

// Encode codes every chunk, workers at a time (0: GOMAXPROCS), and returns
// the chunks.
func (s *BenchSetup) Encode(workers int) ([][]byte, error) {
	n := len(s.Labels)
	chunks := make([][]byte, (n+s.Chunk-1)/s.Chunk)
	err := s.parallel(workers, len(chunks), func(i int) error {
		lo, hi := i*s.Chunk, min(n, (i+1)*s.Chunk)
		b, err := s.Codec.EncodeChunk(nil, &s.Header, s.Codes[lo*49:hi*49], s.Labels[lo:hi], hi-lo)
		chunks[i] = b
		return err
	})
	return chunks, err
}

// Decode decodes chunks (from Encode), workers at a time, and checks them.
func (s *BenchSetup) Decode(chunks [][]byte, workers int) error {
	n := len(s.Labels)
	return s.parallel(workers, len(chunks), func(i int) error {
		lo, hi := i*s.Chunk, min(n, (i+1)*s.Chunk)
		codes, labels := make([]uint16, (hi-lo)*49), make([]int32, hi-lo)
		if err := s.Codec.DecodeChunk(chunks[i], &s.Header, hi-lo, codes, labels); err != nil {
			return err
		}
		for j, v := range codes {
			if v != s.Codes[lo*49+j] {
				return fmt.Errorf("chunk %d decoded wrong", i)
			}
		}
		return nil
	})
}

func (s *BenchSetup) parallel(workers, jobs int, f func(i int) error) error {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	var (
		mu   sync.Mutex
		next int
		err  error
		wg   sync.WaitGroup
	)
	for range min(workers, jobs) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				i := next
				next++
				stop := err != nil
				mu.Unlock()
				if i >= jobs || stop {
					return
				}
				if e := f(i); e != nil {
					mu.Lock()
					err = e
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	return err
}

// BenchPriorEncode measures prior-coding throughput in images per second
// on the default MNIST Transformer (random weights, random grids, chunks
// of 512 images, one chunk per core at a time), repeating for at least
// minDur. It is `vqgen bench`'s prior_encode_img_s.
func BenchPriorEncode(minDur time.Duration) (float64, error) {
	s, err := NewBenchSetup(1024*runtime.GOMAXPROCS(0), datasets.CodeDefaultPriorChunkImages)
	if err != nil {
		return 0, err
	}
	return benchLoop(minDur, len(s.Labels), func() error { _, err := s.Encode(0); return err })
}

// BenchPriorDecode is BenchPriorEncode for decoding (prior_decode_img_s).
func BenchPriorDecode(minDur time.Duration) (float64, error) {
	s, err := NewBenchSetup(1024*runtime.GOMAXPROCS(0), datasets.CodeDefaultPriorChunkImages)
	if err != nil {
		return 0, err
	}
	chunks, err := s.Encode(0)
	if err != nil {
		return 0, err
	}
	return benchLoop(minDur, len(s.Labels), func() error { return s.Decode(chunks, 0) })
}

func benchLoop(minDur time.Duration, images int, f func() error) (float64, error) {
	if err := f(); err != nil { // warm-up: steppers, packed weights
		return 0, err
	}
	start := time.Now()
	done := 0
	for done == 0 || time.Since(start) < minDur {
		if err := f(); err != nil {
			return 0, err
		}
		done += images
	}
	return float64(done) / time.Since(start).Seconds(), nil
}
