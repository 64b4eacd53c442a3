package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
)

func runModels(_ context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("models: want a subcommand: ls, import-tfjs: %w", errUsage)
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		fmt.Fprintf(stdout, "usage: asvp models ls|import-tfjs [flags]   (asvp models SUB -h for its flags)\n")
		return nil
	case "ls":
		fs := newFlagSet("models ls", stderr)
		asJSON := fs.Bool("json", false, "print the cards as JSON")
		if err := parseFlags(fs, args[1:]); err != nil {
			return err
		}
		cards := registry().Cards()
		if *asJSON {
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(cards)
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tINPUT\tDEFAULT OUTPUT\tOUTPUTS")
		for _, c := range cards {
			outs := ""
			for i, o := range c.Outputs {
				if i > 0 {
					outs += " "
				}
				outs += fmt.Sprintf("%s:%d", o.Name, o.Dim)
			}
			fmt.Fprintf(tw, "%s\t%dx%d %s\t%s\t%s\n", c.Name, c.Height, c.Width, c.Layout, c.DefaultOutput, outs)
		}
		return tw.Flush()
	case "import-tfjs":
		return runModelsImportTFJS(args[1:], stdout, stderr)
	}
	return fmt.Errorf("models: unknown subcommand %q (want ls, import-tfjs): %w", args[0], errUsage)
}
