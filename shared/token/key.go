package token

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
)

// SecretsAPI is the part of the Secrets Manager client LoadKey uses.
type SecretsAPI interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

// ParameterAPI is the part of the SSM client LoadKey uses.
type ParameterAPI interface {
	GetParameter(ctx context.Context, in *ssm.GetParameterInput, opts ...func(*ssm.Options)) (*ssm.GetParameterOutput, error)
}

// LoadKey reads the signing key by name, never from the environment: a name starting with
// "ssm:" is an SSM parameter (SecureString, decrypted), anything else (optionally "secret:")
// a Secrets Manager secret's string value. The key is the value's bytes, at least MinKeyBytes.
func LoadKey(ctx context.Context, sm SecretsAPI, ps ParameterAPI, name string) ([]byte, error) {
	var val string
	switch {
	case name == "":
		return nil, errors.New("no link key name")
	case strings.HasPrefix(name, "ssm:"):
		if ps == nil {
			return nil, errors.New("no SSM client")
		}
		out, err := ps.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(strings.TrimPrefix(name, "ssm:")), WithDecryption: aws.Bool(true)})
		if err != nil {
			return nil, fmt.Errorf("read link key parameter: %w", err)
		}
		if out.Parameter != nil {
			val = aws.ToString(out.Parameter.Value)
		}
	default:
		if sm == nil {
			return nil, errors.New("no Secrets Manager client")
		}
		out, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(strings.TrimPrefix(name, "secret:"))})
		if err != nil {
			return nil, fmt.Errorf("read link key secret: %w", err)
		}
		val = aws.ToString(out.SecretString)
	}
	if len(val) < MinKeyBytes {
		return nil, fmt.Errorf("link key %s is %d bytes: want at least %d", name, len(val), MinKeyBytes)
	}
	return []byte(val), nil
}

// Load reads the key named name (see LoadKey) and returns a Signer with it.
func Load(ctx context.Context, sm SecretsAPI, ps ParameterAPI, name string) (*Signer, error) {
	key, err := LoadKey(ctx, sm, ps, name)
	if err != nil {
		return nil, err
	}
	return New(key)
}
