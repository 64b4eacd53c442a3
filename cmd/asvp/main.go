// Command asvp selects which images to label next, cheaply, with a proxy on
// cached features of a pre-trained backbone, kept aligned with the
// fine-tuned model (ASVP). Run `asvp help` for the commands.
//
// Each command is an options struct in its own file: it declares its flags
// (shared groups from flags.go), validates them before anything is written,
// and runs as one call into package loop (or cache, models). The
// dispatcher below serves top-level and nested commands (cache ls, models
// ls, labels import) the same way.
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

// cmd is one runnable command.
type cmd interface {
	// flags declares the command's flags on fs.
	flags(fs *flag.FlagSet)
	// validate checks the parsed flags (and positional arguments, fs.Args)
	// before any side effect; its errors are usage errors.
	validate(fs *flag.FlagSet) error
	// run does the work, writing results to out and progress to log.
	run(ctx context.Context, out, log io.Writer) error
}

// command is a node of the command tree: a runnable command (new), or a
// group of subcommands (sub).
type command struct {
	name, args, summary string
	new                 func() cmd
	sub                 []command
}

func commands() []command {
	return []command{
		{name: "doctor", args: "[--json]", summary: "check the ONNX Runtime library, the backbones and the datasets", new: func() cmd { return &doctorCmd{} }},
		{name: "extract", args: "--data SPEC --cache FILE", summary: "extract features of a dataset into the cache (incremental, resumable, sharded)", new: func() cmd { return &extractCmd{} }},
		{name: "cache", summary: "inspect, verify, export and merge feature caches", sub: cacheCommands()},
		{name: "select", args: "--cache FILE --budget N --out FILE", summary: "pick the next samples to label with a proxy and a strategy (csv, jsonl, Label Studio tasks)", new: func() cmd { return &selectCmd{} }},
		{name: "labels", summary: "import labels into the labeled file; print the Label Studio config", sub: []command{
			{name: "import", args: "--from EXPORT|LABELS.csv --labeled LABELED.csv --cache FILE", summary: "add labels from a Label Studio export (JSON, JSON-MIN, CSV) or a CSV id,label to the labeled file, checked against the pool", new: func() cmd { return &labelsImportCmd{} }},
			{name: "config", args: "--classes a,b,c | --cache FILE [--labeled FILE]", summary: "print the Label Studio labeling config for asvp's tasks", new: func() cmd { return &labelsConfigCmd{} }},
		}},
		{name: "finetune", args: "--cache FILE --labeled CSV", summary: "fine-tune the backbone's top blocks and a head on a labeled set (LP, FT, LP-FT) from cached activations; store the re-aligned features as a new generation", new: func() cmd { return &finetuneCmd{} }},
		{name: "align", args: "--cache FILE (--model FILE.onnx | --trainer-cmd TEMPLATE --labeled CSV [--trainer-timeout D])", summary: "re-extract a feature set with a fine-tuned ONNX model (or a trainer command's) into a new generation", new: func() cmd { return &alignCmd{} }},
		{name: "export", args: "--cache FILE --net NET --out FILE.onnx", summary: "write one ONNX file: the backbone with its fine-tuned top blocks and head, outputs probs and features", new: func() cmd { return &exportCmd{} }},
		{name: "simulate", args: "--cache FILE --pool SPEC --test SPEC --out DIR", summary: "simulate random, standard AL, SVPp and ASVP on cached features; write the total-cost report", new: func() cmd { return &simulateCmd{} }},
		{name: "report", args: "--out DIR PART.json...", summary: "join the results.json of a sharded simulate's parts (simulate --shard i/n) into the report of the whole simulation", new: func() cmd { return &reportCmd{} }},
		{name: "probe", args: "--cache FILE", summary: "linear-probe accuracy of each cached backbone output (which layer to select on)", new: func() cmd { return &probeCmd{} }},
		{name: "models", summary: "list backbones, import TF.js models", sub: []command{
			{name: "ls", args: "[--json]", summary: "list the backbones of the registry: name, input size and layout, default output, every output with its dimension", new: func() cmd { return &modelsLsCmd{} }},
			{name: "import-tfjs", args: "--dir DIR --out FILE.onnx", summary: "convert a TF.js layers model (model.json or nsfwjs model.min.js, with its weight shards) to one ONNX file with pooled outputs; prints its sha256", new: func() cmd { return &importTFJSCmd{} }},
		}},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// errUsage marks errors in how a command was called (exit code 2).
var errUsage = errors.New("usage")

// run executes one asvp command line and returns the process exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || isHelp(args[0]) {
		groupUsage(stdout, "", commands())
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	path, err := execute(ctx, args, stdout, stderr)
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return 0
	}
	code := 1
	if errors.Is(err, errUsage) {
		code = 2
	}
	fmt.Fprintf(stderr, "asvp %s: %s\n", path, err)
	return code
}

// cliError is an error as the command line says it: the message explain
// made, over the library's error and, for a usage error, errUsage.
type cliError struct {
	msg  string
	errs []error
}

func (e *cliError) Error() string   { return e.msg }
func (e *cliError) Unwrap() []error { return e.errs }

// execute runs one command line and returns the command's path ("cache
// ls") and its error as a *cliError (see explain).
func execute(ctx context.Context, args []string, stdout, stderr io.Writer) (string, error) {
	path, err := dispatch(ctx, "", commands(), args, stdout, stderr)
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return path, err
	}
	code, msg := explain(err)
	errs := []error{err}
	if code == 2 {
		errs = append(errs, errUsage)
	}
	return path, &cliError{msg: msg, errs: errs}
}

func isHelp(a string) bool { return a == "help" || a == "-h" || a == "-help" || a == "--help" }

// dispatch finds the command args[0] among cmds (under the command path
// prefix) and runs it, descending into groups. It returns the path of the
// command it ran, for messages.
func dispatch(ctx context.Context, prefix string, cmds []command, args []string, stdout, stderr io.Writer) (string, error) {
	for _, c := range cmds {
		if c.name != args[0] {
			continue
		}
		path := strings.TrimSpace(prefix + " " + c.name)
		if c.sub != nil {
			if len(args) < 2 {
				return path, fmt.Errorf("want a subcommand: %s: %w", names(c.sub), errUsage)
			}
			if isHelp(args[1]) {
				groupUsage(stdout, path, c.sub)
				return path, nil
			}
			sub, err := dispatch(ctx, path, c.sub, args[1:], stdout, stderr)
			if sub == "" {
				return path, fmt.Errorf("unknown subcommand %q (want %s): %w", args[1], names(c.sub), errUsage)
			}
			return sub, err
		}
		return path, runCommand(ctx, path, c, args[1:], stdout, stderr)
	}
	if prefix == "" {
		fmt.Fprintf(stderr, "asvp: unknown command %q\n", args[0])
		groupUsage(stderr, "", cmds)
		return args[0], fmt.Errorf("unknown command: %w", errUsage)
	}
	return "", nil
}

// runCommand parses c's flags, validates them and runs it.
func runCommand(ctx context.Context, path string, c command, args []string, stdout, stderr io.Writer) error {
	x := c.new()
	fs := flag.NewFlagSet(path, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: asvp %s %s\n\n%s\n\nflags:\n", path, c.args, c.summary)
		fs.PrintDefaults()
	}
	x.flags(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %w", err, errUsage)
	}
	if err := x.validate(fs); err != nil {
		return err
	}
	return x.run(ctx, stdout, stderr)
}

func names(cmds []command) string {
	var n []string
	for _, c := range cmds {
		n = append(n, c.name)
	}
	return strings.Join(n, ", ")
}

// groupUsage lists the commands of a group.
func groupUsage(w io.Writer, path string, cmds []command) {
	if path == "" {
		fmt.Fprintln(w, "usage: asvp COMMAND [flags]   (asvp COMMAND -h for its flags)")
		fmt.Fprintln(w, "\ncommands:")
	} else {
		fmt.Fprintf(w, "usage: asvp %s SUBCOMMAND [flags]   (asvp %s SUBCOMMAND -h for its flags)\n\nsubcommands:\n", path, path)
	}
	for _, c := range cmds {
		fmt.Fprintf(w, "  %-11s %s\n", c.name, c.summary)
	}
}
