package stack

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/moatmail/moat/infra/config"
)

// Functions makes the stack's Go functions: each an arm64 `bootstrap` on provided.al2023, with
// its own role (no managed policies: every permission is a grant by the construct that owns the
// resource), its own log group with the configured retention, and an alarm on errors and
// throttles. scripts/build-functions.sh builds the bootstraps into Dir/<name>/bootstrap.
type Functions struct {
	Dir        string         // holds <name>/bootstrap
	LogDays    int            // log retention in days (a value CloudWatch Logs accepts)
	LogLevel   string         // LOG_LEVEL of every function
	Reserved   map[string]int // reserved concurrency by function name
	Monitoring *Monitoring    // watches every function; nil: no alarms
}

// FunctionProps describe one function.
type FunctionProps struct {
	Name        string // functions/<name> (or the bootstrap folder's name); also the Reserved key
	Description string
	MemoryMB    int
	Timeout     awscdk.Duration
	Env         map[string]string
}

// Function is a Go function with its role and log group.
type Function struct {
	Construct constructs.Construct // the scope of its resources
	Name      string
	Function  awslambda.Function
	Role      awsiam.Role
	Logs      awslogs.LogGroup
}

// Check reports the functions whose bootstrap has not been built.
func (f *Functions) Check(names ...string) error {
	var errs []error
	for _, n := range names {
		p := filepath.Join(f.Dir, n, "bootstrap")
		if st, err := os.Stat(p); err != nil || st.IsDir() {
			errs = append(errs, fmt.Errorf("function %s: no %s (run scripts/build-functions.sh, or cdk synth, which runs it)", n, p))
		}
	}
	return errors.Join(errs...)
}

// New adds a Go function under scope with the construct ID id. Call Check first: the asset
// directory must exist.
func (f *Functions) New(scope constructs.Construct, id string, p FunctionProps) *Function {
	c := constructs.NewConstruct(scope, jsii.String(id))
	role := awsiam.NewRole(c, jsii.String("Role"), &awsiam.RoleProps{
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
		Description: jsii.String("Moat " + p.Name + " function"),
	})
	logs := awslogs.NewLogGroup(c, jsii.String("Logs"), &awslogs.LogGroupProps{
		Retention:     retention(f.LogDays),
		RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})
	logs.GrantWrite(role)

	env := map[string]*string{"LOG_LEVEL": jsii.String(f.LogLevel)}
	keys := make([]string, 0, len(p.Env))
	for k := range p.Env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		env[k] = jsii.String(p.Env[k])
	}
	props := &awslambda.FunctionProps{
		Runtime:      awslambda.Runtime_PROVIDED_AL2023(),
		Architecture: awslambda.Architecture_ARM_64(),
		Handler:      jsii.String("bootstrap"),
		Code:         awslambda.Code_FromAsset(jsii.String(filepath.Join(f.Dir, p.Name)), nil),
		Role:         role,
		LogGroup:     logs,
		MemorySize:   jsii.Number(float64(p.MemoryMB)),
		Timeout:      p.Timeout,
		Description:  jsii.String(p.Description),
		Environment:  &env,
	}
	if n, ok := f.Reserved[p.Name]; ok {
		props.ReservedConcurrentExecutions = jsii.Number(float64(n))
	}
	fn := awslambda.NewFunction(c, jsii.String("Function"), props)
	// The role's policy must exist before the function runs (CDK orders the function after
	// the role, not after its default policy, when the role is passed in).
	fn.Node().AddDependency(role)

	out := &Function{Construct: c, Name: p.Name, Function: fn, Role: role, Logs: logs}
	if f.Monitoring != nil {
		f.Monitoring.WatchFunction(id, fn)
	}
	return out
}

// retention maps days (one of config.LogRetentionDays) to the CDK enum.
func retention(days int) awslogs.RetentionDays {
	enums := []awslogs.RetentionDays{
		awslogs.RetentionDays_ONE_DAY, awslogs.RetentionDays_THREE_DAYS, awslogs.RetentionDays_FIVE_DAYS,
		awslogs.RetentionDays_ONE_WEEK, awslogs.RetentionDays_TWO_WEEKS, awslogs.RetentionDays_ONE_MONTH,
		awslogs.RetentionDays_TWO_MONTHS, awslogs.RetentionDays_THREE_MONTHS, awslogs.RetentionDays_FOUR_MONTHS,
		awslogs.RetentionDays_FIVE_MONTHS, awslogs.RetentionDays_SIX_MONTHS, awslogs.RetentionDays_ONE_YEAR,
		awslogs.RetentionDays_THIRTEEN_MONTHS, awslogs.RetentionDays_EIGHTEEN_MONTHS, awslogs.RetentionDays_TWO_YEARS,
		awslogs.RetentionDays_THREE_YEARS, awslogs.RetentionDays_FIVE_YEARS, awslogs.RetentionDays_SIX_YEARS,
		awslogs.RetentionDays_SEVEN_YEARS, awslogs.RetentionDays_EIGHT_YEARS, awslogs.RetentionDays_NINE_YEARS,
		awslogs.RetentionDays_TEN_YEARS,
	}
	if i := slices.Index(config.LogRetentionDays, days); i >= 0 && i < len(enums) {
		return enums[i]
	}
	return awslogs.RetentionDays_THREE_MONTHS
}
