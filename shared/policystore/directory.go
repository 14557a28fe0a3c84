package policystore

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

const dirPrefix = "DIR#"

// Page sizes of DirectoryList.
const (
	DefaultListLimit = 100
	MaxListLimit     = 1000
)

// maxProblems bounds how many invalid addresses one error lists.
const maxProblems = 50

func dirKey(domain, addr string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: dirPrefix + domain},
		"sk": &types.AttributeValueMemberS{Value: addr},
	}
}

// directoryAddrs validates a domain and addresses that must all be at it, and returns them
// normalised and without duplicates. Every invalid address is reported (up to maxProblems),
// by its index and value.
func directoryAddrs(domain string, addrs []string) (string, []string, error) {
	d, err := normDomain(domain)
	if err != nil {
		return "", nil, err
	}
	var errs []error
	bad := 0
	seen := make(map[string]bool, len(addrs))
	out := make([]string, 0, len(addrs))
	for i, a := range addrs {
		field := "addrs[" + strconv.Itoa(i) + "]"
		n, err := normAddress(field, a)
		if err == nil && domainOf(n) != d {
			err = fmt.Errorf("%s: %q is not an address at %s", field, a, d)
		}
		if err != nil {
			if bad++; bad <= maxProblems {
				errs = append(errs, err)
			}
			continue
		}
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	if bad > maxProblems {
		errs = append(errs, fmt.Errorf("and %d more invalid addresses", bad-maxProblems))
	}
	if len(errs) > 0 {
		return "", nil, errors.Join(errs...)
	}
	return d, out, nil
}

func puts(domain string, addrs []string) []types.WriteRequest {
	reqs := make([]types.WriteRequest, len(addrs))
	for i, a := range addrs {
		reqs[i] = types.WriteRequest{PutRequest: &types.PutRequest{Item: dirKey(domain, a)}}
	}
	return reqs
}

func deletes(domain string, addrs []string) []types.WriteRequest {
	reqs := make([]types.WriteRequest, len(addrs))
	for i, a := range addrs {
		reqs[i] = types.WriteRequest{DeleteRequest: &types.DeleteRequest{Key: dirKey(domain, a)}}
	}
	return reqs
}

// DirectoryAdd adds addresses to the directory of domain; addresses already there stay. Every
// address must be valid and at domain, or nothing is written.
func (s *Store) DirectoryAdd(ctx context.Context, domain string, addrs []string) error {
	d, list, err := directoryAddrs(domain, addrs)
	if err != nil {
		return fmt.Errorf("directory add: %w", err)
	}
	if err := s.writeAll(ctx, puts(d, list)); err != nil {
		return fmt.Errorf("directory add %s: %w", d, err)
	}
	return nil
}

// DirectoryRemove removes addresses from the directory of domain; addresses not there are
// ignored.
func (s *Store) DirectoryRemove(ctx context.Context, domain string, addrs []string) error {
	d, list, err := directoryAddrs(domain, addrs)
	if err != nil {
		return fmt.Errorf("directory remove: %w", err)
	}
	if err := s.writeAll(ctx, deletes(d, list)); err != nil {
		return fmt.Errorf("directory remove %s: %w", d, err)
	}
	return nil
}

// DirectoryReplace makes the directory of domain exactly addrs: it adds the new addresses and
// deletes the missing ones, leaving the rest untouched (a delta, not delete-all and
// re-insert). It is not atomic: a concurrent DirectoryAdd may be undone.
func (s *Store) DirectoryReplace(ctx context.Context, domain string, addrs []string) error {
	d, list, err := directoryAddrs(domain, addrs)
	if err != nil {
		return fmt.Errorf("directory replace: %w", err)
	}
	stored := map[string]bool{}
	err = s.queryAll(ctx, dirQuery(s.table, d, true), func(items []map[string]types.AttributeValue) error {
		for _, it := range items {
			stored[str(it["sk"])] = true
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("directory replace %s: %w", d, err)
	}
	var add []string
	for _, a := range list {
		if stored[a] {
			delete(stored, a)
		} else {
			add = append(add, a)
		}
	}
	remove := make([]string, 0, len(stored))
	for a := range stored {
		remove = append(remove, a)
	}
	if err := s.writeAll(ctx, append(puts(d, add), deletes(d, remove)...)); err != nil {
		return fmt.Errorf("directory replace %s: %w", d, err)
	}
	return nil
}

func dirQuery(table, domain string, keysOnly bool) *dynamodb.QueryInput {
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(table),
		KeyConditionExpression:    aws.String("pk = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: dirPrefix + domain}},
		ConsistentRead:            aws.Bool(true),
	}
	if keysOnly {
		in.ProjectionExpression = aws.String("sk")
	}
	return in
}

// DirectoryList returns up to limit addresses of the directory of domain in order (limit 0:
// DefaultListLimit), and a cursor for the next page; an empty cursor ends the list.
func (s *Store) DirectoryList(ctx context.Context, domain, cursor string, limit int) ([]string, string, error) {
	d, err := normDomain(domain)
	if err != nil {
		return nil, "", fmt.Errorf("directory list: %w", err)
	}
	switch {
	case limit == 0:
		limit = DefaultListLimit
	case limit < 0 || limit > MaxListLimit:
		return nil, "", fmt.Errorf("directory list: limit %d is out of range: 1 to %d", limit, MaxListLimit)
	}
	in := dirQuery(s.table, d, true)
	in.Limit = aws.Int32(int32(limit))
	if cursor != "" {
		after, err := base64.RawURLEncoding.DecodeString(cursor)
		if err != nil || len(after) == 0 {
			return nil, "", fmt.Errorf("directory list: cursor %q is not valid", cursor)
		}
		in.ExclusiveStartKey = dirKey(d, string(after))
	}
	out, err := s.db.Query(ctx, in)
	if err != nil {
		return nil, "", fmt.Errorf("directory list %s: %w", d, err)
	}
	addrs := make([]string, 0, len(out.Items))
	for _, it := range out.Items {
		addrs = append(addrs, str(it["sk"]))
	}
	next := ""
	if len(out.LastEvaluatedKey) > 0 {
		next = base64.RawURLEncoding.EncodeToString([]byte(str(out.LastEvaluatedKey["sk"])))
	}
	return addrs, next, nil
}

// DirectoryHas looks addresses up in their domains' directories and reports each one, by the
// string given, as found or not. Addresses that are not valid are not found.
func (s *Store) DirectoryHas(ctx context.Context, addrs []string) (map[string]bool, error) {
	has := make(map[string]bool, len(addrs))
	byKey := map[string][]string{} // normalised → as given
	var keys []map[string]types.AttributeValue
	for _, a := range addrs {
		has[a] = false
		n, ok := lookupAddress(a)
		if !ok {
			continue
		}
		if _, ok := byKey[n]; !ok {
			keys = append(keys, dirKey(domainOf(n), n))
		}
		byKey[n] = append(byKey[n], a)
	}
	err := s.getAll(ctx, keys, "sk", func(it map[string]types.AttributeValue) {
		for _, a := range byKey[str(it["sk"])] {
			has[a] = true
		}
	})
	if err != nil {
		return nil, fmt.Errorf("directory lookup: %w", err)
	}
	return has, nil
}

// DirectoryCount returns the number of addresses in the directory of domain.
func (s *Store) DirectoryCount(ctx context.Context, domain string) (int, error) {
	d, err := normDomain(domain)
	if err != nil {
		return 0, fmt.Errorf("directory count: %w", err)
	}
	in := dirQuery(s.table, d, false)
	in.Select = types.SelectCount
	n := 0
	for {
		out, err := s.db.Query(ctx, in)
		if err != nil {
			return 0, fmt.Errorf("directory count %s: %w", d, err)
		}
		n += int(out.Count)
		if len(out.LastEvaluatedKey) == 0 {
			return n, nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

func str(v types.AttributeValue) string {
	if s, ok := v.(*types.AttributeValueMemberS); ok {
		return s.Value
	}
	return ""
}
