// Package app is vqgen's application layer: the operations users run, each
// over a plain options struct, for any front end (the vqgen command line, a
// web server, tests) to call without knowing the stages beneath.
//
// # Operations
//
// Training and data:
//
//	TrainVQVAE(ctx, TrainVQVAEOptions, Progress)   stage one into a folder
//	Encode(ctx, EncodeOptions, Progress)           a dataset into a code file
//	TrainPrior(ctx, TrainPriorOptions, Progress)   stage two over a code file
//	Run(ctx, RunOptions, Progress)                 the whole resumable pipeline
//
// Prior coding (docs/prior-coding.md): EncodeOptions.Prior writes a code
// file coded with a prior's probabilities (about a third of the zstd
// size), and every operation that reads code files takes the prior that
// reads such a file (an option named prior, or codes_prior where the
// operation has a prior of its own):
//
//	Convert(ctx, ConvertOptions, Progress)         a code file in another layout
//	Compress(ctx, CompressOptions, Progress)       images to a .vqz file
//	Decompress(ctx, DecompressOptions, Progress)   a .vqz file to images
//	EvalCodec(ctx, EvalCodecOptions, Progress)     vqgen's codec beside PNG and JPEG
//
// Models loaded once and used many times (a server loads a pair at start
// and serves every request with it; calls are safe from several goroutines
// and run one at a time):
//
//	LoadVQVAE(path) *VQVAE          Encode, Decode, LoadData, KeepMask
//	LoadModels(vqvae, prior) *Models
//	  SampleDefaults, Sample, SaveSamples
//	  EditDefaults, Edit, EditImage
//	  Score, ScoreImages
//
// Inspection and evaluation: EvalVQVAE, EvalPrior, EvalSamples, Reconstruct,
// DecodeCodes, InspectCodes, MeasureLayouts; speed: Benchmarks, Machine.
//
// # Defaults
//
// Sampling and editing settings come from the [sample] and [edit] sections
// of the config stored in the prior's checkpoint (the config it was trained
// with; the built-in config fills any key it lacks). A front end starts from
// Models.SampleDefaults or Models.EditDefaults and changes only what its user
// gave: the command line copies the flags the user set, a JSON request
// decoded over the defaults does the same. `vqgen run` draws its pictures
// the same way, so `vqgen sample` with the run's --n and --seed redraws
// samples.png byte for byte; report.json records every set's options.
//
// # Progress and cancellation
//
// Long operations report through Progress (Begin a phase, Update its count,
// Note a line, End it); nil discards. Cancelling the context stops sampling
// and editing between grid cells and training after it has saved a
// checkpoint (the error then matches ErrInterrupted and context.Canceled).
//
// # Errors
//
// Errors never name command-line flags. A bad option is an *OptionError
// whose Option is the options struct's JSON name ("top_p"); refusals match
// the sentinels ErrExists, ErrFolderInUse, ErrNotRunFolder, ErrConfigChanged,
// ErrInterrupted, ErrNoTrainCodes, ErrNonFinite, ErrTooBig and
// ErrCodeNeedsPrior, to which a front end adds its own advice ("use --force
// to replace it").
//
// # Memory
//
// Run, TrainVQVAE, TrainPrior and Encode estimate the memory they will
// need from the config before loading data or building a model, and
// refuse with ErrTooBig, the estimate and the keys that drive it when it
// exceeds what is available (package internal/memguard).
//
// # Outputs
//
// Every file is written to a temporary file beside its path and renamed into
// place (package internal/atomicfile), so a crash never leaves a torn file;
// an existing file is replaced only when the options say Force.
package app
