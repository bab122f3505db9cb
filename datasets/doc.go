// Package datasets names, loads, batches and writes the images vqgen learns
// from: MNIST (embedded in the binary), any folder of IDX files, and folders
// of PNG/JPEG images.
//
// # Pixels
//
// Every dataset is a dense NCHW float32 array with values in [0, 1]: IDX
// unsigned bytes are divided by 255; image files are decoded to 16-bit
// channels, divided by 65535 and then resampled (results clamped to [0, 1]). The models centre the data
// themselves (they subtract 0.5), so the stored range is the one image files
// use and the one WriteGridPNG expects back.
//
// # Resampling
//
// Image files are resized so that their shorter side equals the configured
// size and are then centre-cropped to a square. The resize is a separable
// triangle (bilinear) filter whose support widens by the downscale factor,
// as in PIL's Image.resize(BILINEAR): output pixel x samples the source at
// u = (x+0.5)*s - 0.5 (s = source/destination size) with weights
// max(0, 1 - |t-u|/max(s,1)) over source pixels t, normalised to sum to one.
// Widening the support when shrinking (s > 1) makes it an area-like average,
// so downscaled images do not alias; when enlarging it is plain bilinear
// interpolation.
//
// # Splits
//
// A spec names a dataset and its split ("mnist:train", "idx:DIR:test",
// "images:DIR:train"; see ParseSpec). Image folders are split by a hash of
// each file's path relative to the folder: FNV-1a (64-bit) of the
// slash-separated path, modulo 1000, below 100 goes to test (10%). The hash
// depends on the file alone, so adding or removing files never moves other
// files between splits. A validation set is carved from the end of the
// training split (Split); the test split is for reporting only and must
// never be used to choose hyperparameters or checkpoints.
//
// # Batching
//
// A Batcher draws epoch-wise permutations: the order of epoch e is a
// Fisher-Yates shuffle driven by nn.NewRNG(mix(seed, e)), so the whole state
// of a batcher is the pair (epoch, position) and a resumed run continues
// with the same batches, bit for bit.
package datasets
