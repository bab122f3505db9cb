// Package datasets names, loads, batches and writes the images vqgen learns
// from: MNIST (embedded in the binary), any folder of IDX files, and folders
// of PNG/JPEG images.
//
// # Pixels
//
// Every dataset is a dense NCHW array that batches hand out as float32 in
// [0, 1]. 8-bit sources are stored as bytes (a quarter of float32's memory)
// and divided by 255 at batch time: IDX unsigned bytes as they are, and
// image files after decoding, which works in 16-bit channels (divided by
// 65535), resamples in float32 and rounds the result to 8 bits. IDX float
// files stay float32. The models centre the data themselves (they subtract
// 0.5), so the range is the one image files use and the one WriteGridPNG
// expects back.
//
// # Image files
//
// PNG and JPEG files of any colour model are accepted: grey, palette, 8- and
// 16-bit, grey+alpha, RGB(A), and YCbCr, CMYK or YCCK JPEGs. They become 1
// channel (ITU-R 601 luma, 0.299 R + 0.587 G + 0.114 B) or 3 (RGB);
// transparent pixels are composited over white. A JPEG's EXIF orientation
// (1-8) is applied first, so phone photos are upright. Image folders decode
// on all cores (GOMAXPROCS workers), reporting progress through
// Options.Progress; the package prints nothing. With Options.CacheDir the
// decoded bytes are kept in a cache file keyed by the file list, sizes,
// modification times, size and channels (pixcache.go documents it), so a
// second load of an unchanged folder reads one file instead of decoding.
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
// "images:DIR:train"; see ParseSpec), or a whole image folder ("images:DIR").
// An image folder's images are ordered by their keys, the slash-separated
// paths relative to the folder, in byte order. Image folders are split by a hash of
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
// with the same batches, bit for bit. Random horizontal flips (Flipped,
// FlipBatch: the config's data.flip) are a function of (seed, epoch, image)
// alone, so they resume bit for bit too.
package datasets
