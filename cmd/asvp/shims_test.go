package main

import (
	"context"
	"io"
)

// The tests below call commands in-process through execute, as run does,
// and look at the error itself (errors.Is(err, errUsage) for a usage error).

func runIn(ctx context.Context, cmd string, args []string, stdout, stderr io.Writer) error {
	_, err := execute(ctx, append([]string{cmd}, args...), stdout, stderr)
	return err
}

func runExport(args []string, stdout, stderr io.Writer) error {
	return runIn(context.Background(), "export", args, stdout, stderr)
}

func runCache(args []string, stdout, stderr io.Writer) error {
	return runIn(context.Background(), "cache", args, stdout, stderr)
}

func runAlign(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return runIn(ctx, "align", args, stdout, stderr)
}

func runFinetune(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return runIn(ctx, "finetune", args, stdout, stderr)
}

func runModelsImportTFJS(args []string, stdout, stderr io.Writer) error {
	return runIn(context.Background(), "models", append([]string{"import-tfjs"}, args...), stdout, stderr)
}

func runSimulate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return runIn(ctx, "simulate", args, stdout, stderr)
}
