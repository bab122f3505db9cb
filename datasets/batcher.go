package datasets

import (
	"fmt"
	"strconv"

	"github.com/vqgen/vqgen/nn"
)

// BatcherState is everything needed to resume a Batcher: the epoch and the
// position of the next batch within that epoch's permutation.
type BatcherState struct {
	Epoch int
	Pos   int
}

// Batcher yields shuffled index batches over [0, N), epoch after epoch.
// Epoch e's order is a shuffle of 0..N-1 driven by nn.NewRNG(epochSeed(seed,
// e)), so it depends only on (seed, e) and a batcher restored to a State
// continues exactly where the saved one stood.
type Batcher struct {
	n, size  int
	seed     uint64
	dropLast bool
	epoch    int
	pos      int
	perm     []int
	permOf   int // epoch perm holds, -1 for none
}

// NewBatcher returns a batcher over n items in batches of size. With
// dropLast the final partial batch of each epoch is skipped, so every batch
// is full; otherwise it is yielded short.
func NewBatcher(n, size int, seed uint64, dropLast bool) (*Batcher, error) {
	if n < 1 || size < 1 {
		return nil, fmt.Errorf("batcher over %d items in batches of %d: want both positive", n, size)
	}
	if dropLast && size > n {
		return nil, fmt.Errorf("batch size %d exceeds the %d items and partial batches are dropped", size, n)
	}
	return &Batcher{n: n, size: size, seed: seed, dropLast: dropLast, perm: make([]int, n), permOf: -1}, nil
}

// epochSeed mixes the seed and epoch with SplitMix64's finaliser so nearby
// (seed, epoch) pairs give unrelated streams.
func epochSeed(seed uint64, epoch int) uint64 {
	z := seed + 0x9e3779b97f4a7c15*uint64(epoch+1)
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

func (b *Batcher) fill() {
	if b.permOf == b.epoch {
		return
	}
	for i := range b.perm {
		b.perm[i] = i
	}
	rng := nn.NewRNG(epochSeed(b.seed, b.epoch))
	rng.Shuffle(b.n, func(i, j int) { b.perm[i], b.perm[j] = b.perm[j], b.perm[i] })
	b.permOf = b.epoch
}

// BatchesPerEpoch is the number of batches Next yields per epoch.
func (b *Batcher) BatchesPerEpoch() int {
	if b.dropLast {
		return b.n / b.size
	}
	return (b.n + b.size - 1) / b.size
}

// Next returns the next batch of indices and the epoch it belongs to. The
// slice aliases the batcher's permutation: use it before the next call.
// After an epoch's last batch the following call starts the next epoch.
func (b *Batcher) Next() (idx []int, epoch int) {
	end := b.pos + b.size
	if end > b.n && (b.dropLast || b.pos >= b.n) {
		b.epoch++
		b.pos, end = 0, b.size
	}
	end = min(end, b.n)
	b.fill()
	idx = b.perm[b.pos:end:end]
	epoch = b.epoch
	b.pos = end
	return idx, epoch
}

// State returns the position to save with a checkpoint.
func (b *Batcher) State() BatcherState { return BatcherState{Epoch: b.epoch, Pos: b.pos} }

// Restore moves the batcher to a saved state.
func (b *Batcher) Restore(s BatcherState) error {
	if s.Epoch < 0 || s.Pos < 0 || s.Pos > b.n {
		return fmt.Errorf("batcher state epoch %d, position %d: want epoch >= 0 and position 0 to %d", s.Epoch, s.Pos, b.n)
	}
	b.epoch, b.pos = s.Epoch, s.Pos
	return nil
}

// Checkpoint metadata keys of a BatcherState.
const (
	metaBatchEpoch = "vqgen.batch_epoch"
	metaBatchPos   = "vqgen.batch_pos"
)

// PutMeta records s in a checkpoint's string metadata.
func (s BatcherState) PutMeta(meta map[string]string) {
	meta[metaBatchEpoch] = strconv.Itoa(s.Epoch)
	meta[metaBatchPos] = strconv.Itoa(s.Pos)
}

// BatcherStateFromMeta reads what PutMeta wrote; the error names the key.
func BatcherStateFromMeta(meta map[string]string) (BatcherState, error) {
	var s BatcherState
	for k, dst := range map[string]*int{metaBatchEpoch: &s.Epoch, metaBatchPos: &s.Pos} {
		v, err := strconv.Atoi(meta[k])
		if err != nil {
			return s, fmt.Errorf("metadata %s = %q is not an integer", k, meta[k])
		}
		*dst = v
	}
	return s, nil
}
