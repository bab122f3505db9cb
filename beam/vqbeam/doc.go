// Package vqbeam builds vqgen's embarrassingly parallel work as Apache Beam
// pipelines: encoding an image collection into code-file shards (Encode),
// drawing samples in independently seeded shards (Sample) and scoring every
// image of a collection under a prior (Score). Run executes a pipeline on
// Beam's prism runner in this process, or on any runner Beam's --runner
// flag names (Flink, Spark, Dataflow); the command vqgen-beam wraps it.
//
// # Ordering and shards
//
// Every image has a key: its slash-separated path relative to the image
// folder, the key vqgen's images:DIR gives it. Encode and Score plan in one
// place (a single group holding only the keys): they sort the keys
// byte-wise, take vqgen's class ids (sorted top-level folder names) and its
// hashed train/test split, number the images 0..n-1 in key order (rank), and
// deal consecutive rank ranges to the shards, shard i holding ranks
// [i*n/S, (i+1)*n/S). The work items are then reshuffled, so the runner
// spreads the decoding and encoding over its workers, and each shard's
// results meet its plan again in a CoGroupByKey, where the writer checks that
// exactly the planned ranks arrived and writes them in rank order, each
// image with its key. Read one after another, the shards are therefore
// exactly the single-machine output: `vqgen codes merge` of the code-file
// shards (which orders keyed images by key) is the file vqgen encode writes
// (indices, labels, keys and order), and the score shards are vqgen score's
// lines in key order.
//
// Sample shards consecutive sample indices. Sample i is grid i of the N
// grids vqgen sample draws for the seed (app.Models.SampleRange), which
// depends on the seed, the options, N and i only; so any number of shards on
// any number of machines gives vqgen sample's grids, classes and PNGs.
//
// # Workers
//
// A DoFn loads its checkpoints once per worker, in Setup, through package
// app as vqgen loads them, from any Beam file system (a remote checkpoint
// goes through a temporary local copy). Encoding and scoring collect a batch
// of images per bundle, decode them on all of the worker's cores and run the
// batch through the operations vqgen's verbs run (app.VQVAE.Encode,
// app.Models.Score), whose layers spread it over the cores too; a grid's
// codes and bits do not depend on the other images of its batch. Outputs are written through a
// temporary file renamed into place (locally) or a single object upload (on
// object stores), so a retried bundle simply writes its shard again; the
// pipeline refuses to start when an output exists, unless forced.
//
// # Matching
//
// Beam's file systems expand a glob one folder level per "*", so the images
// are matched with one glob per level, DIR/*, DIR/*/*, ..., Images.Depth
// levels deep (DefaultDepth), each listed by Beam's file system for the
// folder's scheme (names only: no request per file). Hidden files and
// folders are skipped and .png, .jpg and .jpeg files kept, as vqgen does. On local disks the
// folders directly in DIR are classes even when empty, which is an error as
// for vqgen; object stores have no empty folders.
package vqbeam
