// Package lambdamain is the start-up every function's main shares: a JSON logger at the
// configured level, the function's configuration read from the environment (every problem
// reported at once by its LoadConfig) and the AWS configuration from the default chain. A
// function that cannot start logs why and exits 1, so Lambda reports an init error.
package lambdamain

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
)

// Setup loads the function's configuration with load and the AWS configuration; level picks
// the log level out of the configuration.
func Setup[C any](load func(getenv func(string) string) (C, error), level func(C) slog.Level) (C, aws.Config, *slog.Logger) {
	log := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	c, err := load(os.Getenv)
	if err != nil {
		Exit(log, "configuration", err)
	}
	log = slog.New(slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{Level: level(c)}))
	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		Exit(log, "AWS configuration", err)
	}
	return c, cfg, log
}

// Exit logs that the function could not start, and why, then exits 1.
func Exit(log *slog.Logger, what string, err error) {
	log.Error(what, "error", err)
	os.Exit(1)
}
