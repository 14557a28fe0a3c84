package policystore_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/moatmail/moat/shared/policy"
	"github.com/moatmail/moat/shared/policystore"
)

// An administrator's edit: read the document and its version, change it, save it against
// that version, and start over when someone else saved in between.
func ExampleStore_Put() {
	ctx := context.Background()
	s := policystore.New(&dynamodb.Client{}, "Policies")
	for {
		p, version, err := s.Get(ctx)
		if err != nil {
			fmt.Println(err)
			return
		}
		p.Senders = append(p.Senders, policy.SenderEntry{Pattern: "*@partner.example", List: policy.Approved})
		_, err = s.Put(ctx, p, version)
		if errors.Is(err, policystore.ErrConflict) {
			continue
		}
		if err != nil {
			fmt.Println(err)
		}
		return
	}
}

// A warm function reads the document through a cache built once, beside its SDK clients.
func ExampleCache() {
	cache := policystore.NewCache(policystore.New(&dynamodb.Client{}, "Policies"), time.Minute)
	handle := func(ctx context.Context) error {
		p, err := cache.Policy(ctx, time.Now())
		if err != nil {
			return err // no document yet, or a permanent error: let the event be retried
		}
		_, err = policy.Compile(p)
		return err
	}
	_ = handle
}
