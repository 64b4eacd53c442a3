// Package finetune fine-tunes the top blocks of a backbone, in Go, from
// cached activations: the built-in fine-tuning of asvp (docs: METHOD.md,
// "Fine-tuning inside asvp").
//
// # Types
//
//   - Activations: the cached inputs of a tail for a set of samples (the
//     cut activation and the frozen inputs, row-major).
//   - Pretrained: the starting point of every fine-tune: the backbone's
//     tail (package models/tail) with a BatchNorm after every convolution,
//     calibrated on unlabelled activations so that it still computes the
//     backbone's features, and the standardisation (mean, std) of those
//     pretrained features that the head reads. Prepare makes one; it is
//     never modified.
//   - Recipe: how to train: method "lp" (a fresh linear head on frozen
//     features), "ft" (tail and a fresh head together) or "lpft" (LP, then
//     FT from the probed head with a smaller tail learning rate); SGD with
//     Nesterov momentum, separate tail and head learning rates, weight
//     decay, a cosine schedule per stage, epochs scaled to the number of
//     labels.
//   - Tuned: a trained tail and head. Features gives the tuned tail's
//     pooled features of any cached samples (the re-aligned features an
//     ASVP feature update stores), Predict class probabilities; Save and
//     Load keep it in a versioned, checksummed file.
//
// # Determinism
//
// Every random choice (the head's initial weights, the batch order) comes
// from PCG generators seeded by Recipe.Seed, and every sum in the tail and
// the head has a fixed order, so the same seed and data give the same
// weights bit for bit at any GOMAXPROCS or worker count. Every Train starts
// from the pretrained weights.
package finetune
