// Command infra is Moat's CDK app: `cdk synth` / `cdk deploy` run it (see cdk.json and
// the README's "Deploying to AWS"). It reads the configuration from the CDK context, refuses an invalid one with
// a message naming each bad key, and synthesizes the stack Moat-<stage>, checked by cdk-nag.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"

	"github.com/moatmail/moat/infra/config"
	"github.com/moatmail/moat/infra/stack"
)

func main() {
	err := run()
	jsii.Close()
	if err != nil {
		fmt.Fprintln(os.Stderr, "\nmoat:", strings.ReplaceAll(err.Error(), "\n", "\n  - "))
		os.Exit(1)
	}
}

func run() error {
	app := awscdk.NewApp(nil)
	all, _ := app.Node().GetAllContext(nil).(map[string]interface{})
	cfg, err := config.Parse(all)
	if err != nil {
		return fmt.Errorf("invalid configuration (cdk.json context or -c):\n%w", err)
	}
	dir := os.Getenv("MOAT_FUNCTIONS_DIR")
	if dir == "" {
		dir = filepath.Join(".build", "functions")
	}
	if dir, err = filepath.Abs(dir); err != nil {
		return err
	}
	if _, err := stack.New(app, stack.Props{Config: cfg, FunctionsDir: dir}); err != nil {
		return err
	}
	stack.Check(app)
	app.Synth(nil)
	return nil
}
