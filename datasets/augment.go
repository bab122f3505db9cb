package datasets

import "github.com/vqgen/vqgen/nn"

// Flipped reports whether image i is mirrored left to right in epoch e of a
// run seeded with seed (the config's data.flip): bit 0 of a SplitMix64 hash
// of (seed, e, i). It depends on nothing else, so a run resumed from a
// batcher state draws exactly the flips the uninterrupted run would have,
// and each image is flipped in about half of the epochs, independently of
// its neighbours in the batch.
func Flipped(seed uint64, epoch, i int) bool {
	z := epochSeed(seed^0x666c6970, epoch) + 0x9e3779b97f4a7c15*uint64(i+1)
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return (z^(z>>31))&1 == 1
}

// FlipBatch mirrors left to right, in place, each image j of the NCHW batch
// x for which Flipped(seed, epoch, idx[j]) holds; idx are the dataset
// indices the batch was drawn from.
func FlipBatch(x *nn.Tensor, idx []int, seed uint64, epoch int) {
	c, h, w := x.Shape[1], x.Shape[2], x.Shape[3]
	for j, i := range idx {
		if !Flipped(seed, epoch, i) {
			continue
		}
		img := x.Data[j*c*h*w : (j+1)*c*h*w]
		for r := 0; r < c*h; r++ {
			row := img[r*w : (r+1)*w]
			for a, b := 0, w-1; a < b; a, b = a+1, b-1 {
				row[a], row[b] = row[b], row[a]
			}
		}
	}
}
