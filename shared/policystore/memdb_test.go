package policystore

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// memDB is an in-memory table for what the emulator cannot do on demand: fail with a
// temporary error, leave batch items unprocessed. It implements the calls the cache and the
// batches make; the others panic (through the nil DB), which also proves they were not made.
type memDB struct {
	DB
	mu    sync.Mutex
	items map[[2]string]map[string]types.AttributeValue
	// err, when set, is returned by every call.
	err error
	// unprocessed is how many requests of each batch call are left unprocessed; always says
	// whether that continues on retries (otherwise only the first call of a batch does it).
	unprocessed int
	always      bool
	retrying    bool
	gets        int // GetItem calls
	batches     int // BatchWriteItem and BatchGetItem calls
}

func newMemDB() *memDB { return &memDB{items: map[[2]string]map[string]types.AttributeValue{}} }

func keyOf(m map[string]types.AttributeValue) [2]string { return [2]string{str(m["pk"]), str(m["sk"])} }

func (m *memDB) GetItem(_ context.Context, in *dynamodb.GetItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.gets++
	if m.err != nil {
		return nil, m.err
	}
	return &dynamodb.GetItemOutput{Item: m.items[keyOf(in.Key)]}, nil
}

// TransactWriteItems applies puts and deletes; it checks the two conditions Put uses.
func (m *memDB) TransactWriteItems(_ context.Context, in *dynamodb.TransactWriteItemsInput, _ ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return nil, m.err
	}
	for i, ti := range in.TransactItems {
		if ti.Put == nil || ti.Put.ConditionExpression == nil {
			continue
		}
		cur, exists := m.items[keyOf(ti.Put.Item)]
		ok := !exists
		if v, has := ti.Put.ExpressionAttributeValues[":v"]; has {
			ok = exists && cur["version"].(*types.AttributeValueMemberN).Value == v.(*types.AttributeValueMemberN).Value
		}
		if !ok {
			reasons := make([]types.CancellationReason, len(in.TransactItems))
			reasons[i].Code = aws.String("ConditionalCheckFailed")
			return nil, &types.TransactionCanceledException{CancellationReasons: reasons}
		}
	}
	for _, ti := range in.TransactItems {
		switch {
		case ti.Put != nil:
			m.items[keyOf(ti.Put.Item)] = ti.Put.Item
		case ti.Delete != nil:
			delete(m.items, keyOf(ti.Delete.Key))
		}
	}
	return &dynamodb.TransactWriteItemsOutput{}, nil
}

// cut splits a batch into what is processed now and what is left.
func (m *memDB) cut(n int) int {
	if m.unprocessed == 0 || (m.retrying && !m.always) {
		m.retrying = false
		return n
	}
	m.retrying = true
	return max(0, n-m.unprocessed)
}

func (m *memDB) BatchWriteItem(_ context.Context, in *dynamodb.BatchWriteItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.batches++
	if m.err != nil {
		return nil, m.err
	}
	if len(in.RequestItems) != 1 {
		return nil, fmt.Errorf("%d tables in one batch", len(in.RequestItems))
	}
	out := &dynamodb.BatchWriteItemOutput{UnprocessedItems: map[string][]types.WriteRequest{}}
	for table, reqs := range in.RequestItems {
		if len(reqs) > writeBatch {
			return nil, errors.New("too many items in one batch")
		}
		n := m.cut(len(reqs))
		for _, r := range reqs[:n] {
			if r.PutRequest != nil {
				m.items[keyOf(r.PutRequest.Item)] = r.PutRequest.Item
			} else {
				delete(m.items, keyOf(r.DeleteRequest.Key))
			}
		}
		if n < len(reqs) {
			out.UnprocessedItems[table] = reqs[n:]
		}
	}
	return out, nil
}

func (m *memDB) BatchGetItem(_ context.Context, in *dynamodb.BatchGetItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.batches++
	if m.err != nil {
		return nil, m.err
	}
	out := &dynamodb.BatchGetItemOutput{
		Responses:       map[string][]map[string]types.AttributeValue{},
		UnprocessedKeys: map[string]types.KeysAndAttributes{},
	}
	for table, ka := range in.RequestItems {
		if len(ka.Keys) > getBatch {
			return nil, errors.New("too many keys in one batch")
		}
		seen := map[[2]string]bool{}
		for _, k := range ka.Keys {
			if seen[keyOf(k)] {
				return nil, errors.New("duplicate key in one batch")
			}
			seen[keyOf(k)] = true
		}
		n := m.cut(len(ka.Keys))
		for _, k := range ka.Keys[:n] {
			if it, ok := m.items[keyOf(k)]; ok {
				out.Responses[table] = append(out.Responses[table], it)
			}
		}
		if n < len(ka.Keys) {
			out.UnprocessedKeys[table] = types.KeysAndAttributes{Keys: ka.Keys[n:], ProjectionExpression: ka.ProjectionExpression}
		}
	}
	return out, nil
}

func (m *memDB) len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.items)
}

func (m *memDB) fail(err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.err = err
}

func (m *memDB) getCount() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.gets
}
