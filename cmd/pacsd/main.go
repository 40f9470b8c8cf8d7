// Command pacsd is the county imaging hub: a DIMSE SCP that stores what township modalities
// send, an SQLite index, a blob store and DICOMweb, in one process.
//
//	pacsd [serve] [flags]        run the hub (default)
//	pacsd send [flags] FILES...  send Part-10 files to a DICOM SCP (C-STORE)
//	pacsd echo [flags]           C-ECHO a DICOM SCP
//	pacsd check [flags]          check the index against the stored objects (--repair)
//	pacsd migrate --to s3 [flags] move a folder archive into an S3 bucket
//	pacsd restore [flags]        rebuild a lost server's databases from the bucket's replica
//	pacsd reindex [flags]        rebuild the index (and signed reports) from the objects alone
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "pacsd:", err)
		}
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cmd := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return runServe(ctx, args, stderr)
	case "send":
		return runSend(ctx, args, stdout, stderr)
	case "echo":
		return runEcho(ctx, args, stdout, stderr)
	case "check":
		return runCheck(ctx, args, stdout, stderr)
	case "migrate":
		return runMigrate(ctx, args, stdout, stderr)
	case "restore":
		return runRestore(ctx, args, stdout, stderr)
	case "reindex":
		return runReindex(ctx, args, stdout, stderr)
	case "help":
		fmt.Fprintln(stdout, "usage: pacsd [serve|send|echo|check|migrate|restore|reindex] [flags]; pacsd CMD -h for flags")
		return nil
	default:
		return fmt.Errorf("unknown command %q (serve, send, echo, check, migrate, restore, reindex)", cmd)
	}
}

// parseFlags parses args, then fills every flag not given on the command line from its
// environment variable PACSD_<NAME> (dashes to underscores), so containers and systemd
// units can configure pacsd without a command line, and then from the configuration file
// named by --config (PACSD_CONFIG), if any (config.go). Every command takes --config.
func parseFlags(fs *flag.FlagSet, args []string) error {
	var configPath string
	if fs.Lookup(configFlag) == nil {
		fs.StringVar(&configPath, configFlag, "", "configuration file of name = value lines, the flags' names (env PACSD_CONFIG); flags and environment win over it")
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] {
			return
		}
		env := "PACSD_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(env); ok {
			if err := f.Value.Set(v); err != nil {
				errs = append(errs, fmt.Errorf("%s=%q: %w", env, v, err))
			}
			set[f.Name] = true
		}
	})
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if path := fs.Lookup(configFlag).Value.String(); path != "" {
		return applyConfig(fs, path, set)
	}
	return nil
}

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log level %q: %w", level, err)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text", "":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	default:
		return nil, fmt.Errorf("log format %q: want text or json", format)
	}
}
