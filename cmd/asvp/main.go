// Command asvp selects which images to label next, cheaply, with a proxy on
// cached features of a pre-trained backbone, kept aligned with the
// fine-tuned model (ASVP). Run `asvp help` for the subcommands.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

// command is one subcommand: its name, a one-line summary and its runner.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

// plain adapts a runner that needs no context.
func plain(f func(args []string, stdout, stderr io.Writer) error) func(context.Context, []string, io.Writer, io.Writer) error {
	return func(_ context.Context, args []string, stdout, stderr io.Writer) error { return f(args, stdout, stderr) }
}

func commands() []command {
	return []command{
		{"doctor", "check the ONNX Runtime library, the backbones and the datasets", runDoctor},
		{"extract", "extract features of a dataset into the cache (incremental, resumable, sharded)", runExtract},
		{"cache", "inspect, verify, export and merge feature caches (ls, verify, export, errors, merge)", plain(runCache)},
		{"select", "pick the next samples to label with a proxy and a strategy (csv, jsonl, Label Studio tasks)", runSelect},
		{"labels", "import labels from a Label Studio export or a CSV into the labeled file (labels import)", runLabels},
		{"finetune", "train the built-in adapter and head on a labeled set; store aligned features as a new generation", runFinetune},
		{"align", "re-extract a feature set with a fine-tuned ONNX model (or a trainer command's) into a new generation", runAlign},
		{"export", "write one ONNX file: backbone + fine-tuned adapter and head, outputs probs and features", plain(runExport)},
		{"simulate", "simulate random, standard AL, SVPp and ASVP on cached features; write the total-cost report", runSimulate},
		{"probe", "linear-probe accuracy of each cached backbone output (which layer to select on)", runProbe},
		{"models", "list backbones, import TF.js models (ls, import-tfjs)", runModels},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes one asvp command line and returns the process exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range commands() {
		if c.name == args[0] {
			err := c.run(ctx, args[1:], stdout, stderr)
			switch {
			case err == nil:
				return 0
			case errors.Is(err, flag.ErrHelp):
				return 0
			case errors.Is(err, errUsage):
				// The marker says how to exit; its text adds nothing.
				msg := err.Error()
				for strings.HasSuffix(msg, ": "+errUsage.Error()) {
					msg = strings.TrimSuffix(msg, ": "+errUsage.Error())
				}
				fmt.Fprintf(stderr, "asvp %s: %s\n", c.name, msg)
				return 2
			default:
				fmt.Fprintf(stderr, "asvp %s: %v\n", c.name, err)
				return 1
			}
		}
	}
	fmt.Fprintf(stderr, "asvp: unknown command %q\n", args[0])
	usage(stderr)
	return 2
}

// errUsage marks errors in how a command was called (exit code 2).
var errUsage = errors.New("usage")

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: asvp COMMAND [flags]   (asvp COMMAND -h for its flags)")
	fmt.Fprintln(w, "\ncommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
}
