// Package evaluate judges generated digits with a small MNIST classifier
// trained by vqgen's own numeric core, in the spirit of the Inception score
// and FID but for 28x28 digits.
//
// # The judge
//
// A three-layer CNN with a 128-wide penultimate layer (see Classifier) is
// trained with Adam on 55,000 MNIST training digits, each shifted by up to
// two pixels at random, and reaches about 99% test accuracy in a few
// minutes on two cores. It is trained once per user and cached (Default).
//
// Its probabilities are made honest by temperature scaling (Guo et al.,
// 2017): one scalar T divides the logits, p = softmax(z/T), with T chosen to
// minimise the negative log-likelihood of the 5,000 held-out training
// digits (mnist:train[55000:]), never the test digits. Scaling the logits
// keeps every argmax, so accuracy is unchanged, while a network that is
// over- or under-confident gets T > 1 or T < 1. Calibration is reported as
// the expected calibration error over 15 equal-width confidence bins,
//
//	ECE = sum_b |B_b|/n * |accuracy(B_b) - mean confidence(B_b)|,
//
// on MNIST test digits 0..999 (CalibrationReport).
//
// # The figures
//
// For a set of images Report gives:
//
//   - share_conf_0_9: the share whose top probability is >= 0.9; with a
//     calibrated judge about that share of real digits are recognisable at
//     90%, blurry or chimeric samples are not.
//   - class_entropy_bits: H(h) = -sum_k h_k log2 h_k of the histogram h of
//     predicted classes; log2(10) = 3.32 bits when every digit is equally
//     common, lower when the generator drops modes.
//   - frechet: with mu, S the mean and covariance of the 128 features (after
//     the ReLU) of the images and mu_r, S_r those of the 10,000 MNIST test
//     digits, the Frechet (2-Wasserstein) distance between the two fitted
//     Gaussians, |mu - mu_r|^2 + Tr(S + S_r - 2 (S S_r)^{1/2}), in float64
//     via symmetric eigendecompositions (see FrechetDistance). It is biased
//     upward for small sets, so compare sets of equal size: the calibration
//     report's reference figures use 1,000 real training digits.
//   - cond_accuracy: for class-conditional samples, the share the judge
//     assigns to the requested class; null without labels.
package evaluate
