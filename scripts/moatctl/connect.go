package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"

	"github.com/moatmail/moat/shared/provision"
)

// globals are the flags given before the command: moatctl [--local] [--stage S] COMMAND ...
type globals struct {
	Local  bool   // use the local stack (make local) instead of an AWS account
	Stage  string // the deployed stage; the stack is Moat-<stage>
	Region string // overrides the credential chain's region
	Dir    string // the local stack's state folder (default .local)
}

var global = globals{Stage: "prod", Dir: ".local"}

// LocalFile is where the local stack describes itself for moatctl: the moto endpoint and the
// resource names under the functions' environment variable names (shared/schema).
const LocalFile = "stack.json"

// localStack is the content of <Dir>/stack.json.
type localStack struct {
	Endpoint string            `json:"endpoint"`
	Region   string            `json:"region"`
	Env      map[string]string `json:"env"`
}

// target is what a command operating on a gateway needs: AWS configuration and the resource
// names, looked up under the functions' environment variable names (schema.BucketEnvVar, ...).
type target struct {
	AWS aws.Config
	env map[string]string
}

// Getenv returns the resource name for a schema environment variable name; "" if unknown.
func (t *target) Getenv(name string) string { return t.env[name] }

// Need returns the resource names for the variables, or an error naming the missing ones.
func (t *target) Need(names ...string) error {
	var missing []string
	for _, n := range names {
		if t.env[n] == "" {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("the stack does not provide %v: deploy the current version (cdk deploy) or restart make local", missing)
	}
	return nil
}

// connect finds the gateway the global flags name: the local stack's state file, or the
// outputs of the CloudFormation stack Moat-<stage> (each output's description is the
// environment variable name the functions use for it).
func connect(ctx context.Context) (*target, error) {
	if global.Local {
		return connectLocal(ctx)
	}
	var opts []func(*config.LoadOptions) error
	if global.Region != "" {
		opts = append(opts, config.WithRegion(global.Region))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("AWS configuration: %w (set AWS_PROFILE or AWS_REGION, or use --local)", err)
	}
	name := "Moat-" + global.Stage
	out, err := cloudformation.NewFromConfig(cfg).DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: &name})
	if err != nil {
		return nil, fmt.Errorf("find stack %s: %w (deployed in this region? pass --stage or --region; use --local for make local)", name, err)
	}
	t := &target{AWS: cfg, env: map[string]string{}}
	for _, st := range out.Stacks {
		for _, o := range st.Outputs {
			if o.Description != nil && o.OutputValue != nil {
				t.env[*o.Description] = *o.OutputValue
			}
		}
	}
	return t, nil
}

func connectLocal(ctx context.Context) (*target, error) {
	path := filepath.Join(global.Dir, LocalFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("no local stack: %s does not exist (start it with make local)", path)
	}
	if err != nil {
		return nil, err
	}
	var ls localStack
	if err := json.Unmarshal(b, &ls); err != nil {
		return nil, fmt.Errorf("%s: %w (restart make local)", path, err)
	}
	if ls.Endpoint == "" {
		return nil, fmt.Errorf("%s: endpoint is empty (restart make local)", path)
	}
	region := ls.Region
	if region == "" {
		region = "us-east-1"
	}
	cfg, err := provision.EmulatorConfig(ctx, ls.Endpoint, region)
	if err != nil {
		return nil, err
	}
	return &target{AWS: cfg, env: ls.Env}, nil
}

// parseGlobals takes the global flags off the front of args.
func parseGlobals(args []string) ([]string, error) {
	for len(args) > 0 {
		switch a := args[0]; a {
		case "--local":
			global.Local = true
			args = args[1:]
		case "--stage", "--region", "--local-dir":
			if len(args) < 2 || args[1] == "" {
				return nil, usagef("%s needs a value", a)
			}
			switch a {
			case "--stage":
				global.Stage = args[1]
			case "--region":
				global.Region = args[1]
			default:
				global.Dir = args[1]
			}
			args = args[2:]
		default:
			return args, nil
		}
	}
	return args, nil
}
